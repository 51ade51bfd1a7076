"""HTTP to etcd's v3 JSON gateway: unary POSTs with fail-over, and watch streams.

A request goes to the current endpoint; if it cannot connect, the next endpoint becomes
current and the request is tried there, once per endpoint. Other transport failures (a reset
or timeout after the request was sent) are not retried, because a write may have been applied;
they raise ``Unavailable``. Messages name the endpoint without its credentials.

Watches use their own session without a total timeout or connection limit: one streaming POST
per watcher, read only as fast as its consumer asks, so a slow consumer holds etcd back
through TCP flow control instead of buffering here.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import aiohttp

from . import _etcd_wire as wire
from .interface import Unavailable

if TYPE_CHECKING:
    from .interface import Event

REQUEST_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0


class StreamLost(Exception):
    """A watch stream ended or broke (etcd restarted, connection reset)."""


class Gateway:
    """The JSON gateway of one etcd cluster, reached through any of its endpoints."""

    def __init__(self, endpoints: list[str]) -> None:
        self.endpoints = [wire.normalize_endpoint(e) for e in endpoints]
        self._current = 0
        self._unary = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT, sock_connect=CONNECT_TIMEOUT),
            connector=aiohttp.TCPConnector(limit=256),
        )
        self._streams = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT),
            connector=aiohttp.TCPConnector(limit=0),
        )

    async def close(self) -> None:
        await self._unary.close()
        await self._streams.close()

    async def call(self, path: str, body: wire.Msg) -> wire.Msg:
        """POST body to /v3/<path>; the decoded answer, or GatewayError / Unavailable."""
        resp, endpoint = await self._post(self._unary, path, body)
        try:
            raw = await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            msg = f"etcd at {endpoint}: {_describe(exc)}"
            raise Unavailable(msg) from None
        finally:
            resp.release()
        return _decode(resp.status, raw, endpoint)

    async def stream(self, path: str, body: wire.Msg) -> WatchStream:
        """Open a streaming POST (a watch)."""
        resp, _ = await self._post(self._streams, path, body)
        return WatchStream(resp)

    async def _post(
        self, session: aiohttp.ClientSession, path: str, body: wire.Msg
    ) -> tuple[aiohttp.ClientResponse, str]:
        """The response from the first endpoint that connects, and its safe name."""
        data = json.dumps(body)
        headers = {"Content-Type": "application/json"}
        failure = ""
        first = self._current
        for offset in range(len(self.endpoints)):
            index = (first + offset) % len(self.endpoints)
            endpoint = self.endpoints[index]
            safe = wire.safe_endpoint(endpoint)
            try:
                resp = await session.post(f"{endpoint}/v3/{path}", data=data, headers=headers)
            except aiohttp.ClientConnectorError as exc:
                failure = f"etcd at {safe}: {_describe(exc)}"
                continue
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                msg = f"etcd at {safe}: {_describe(exc)}"
                raise Unavailable(msg) from None
            self._current = index  # stay on the endpoint that answered
            return resp, safe
        raise Unavailable(failure)


class WatchStream:
    """One watch: newline-delimited JSON results, read on demand."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self._buffer = b""

    def close(self) -> None:
        self._resp.close()

    async def next_result(self) -> wire.Msg:
        """The next ``result`` object; StreamLost when the stream ends or breaks."""
        while b"\n" not in self._buffer:
            try:
                chunk = await self._resp.content.readany()
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise StreamLost(_describe(exc)) from None
            if not chunk:
                raise StreamLost("stream ended")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        msg = json.loads(line)
        if "error" in msg:  # the gateway reports a broken stream as a last line
            raise StreamLost(str(msg["error"].get("message", msg["error"])))
        result: wire.Msg = msg.get("result", {})
        return result

    async def next_events(self) -> list[Event]:
        """The events of the next result that has any (skips created/progress results).

        Raises Canceled if etcd canceled the watch, StreamLost if the stream broke.
        """
        while True:
            result = await self.next_result()
            if result.get("canceled"):
                raise Canceled(result)
            if "events" in result:
                return [wire.event(ev) for ev in result["events"]]


class Canceled(Exception):
    """etcd canceled the watch; ``compact_revision`` set when history was compacted."""

    def __init__(self, result: wire.Msg) -> None:
        self.compact_revision = int(result.get("compact_revision", 0))
        self.reason = str(result.get("cancel_reason", "canceled by etcd"))
        super().__init__(self.reason)


def _decode(status: int, raw: bytes, endpoint: str) -> wire.Msg:
    try:
        msg: wire.Msg = json.loads(raw)
    except ValueError:
        msg = {}
    if status == 200 and "error" not in msg:
        return msg
    if "code" in msg:
        code = int(msg["code"])
        text = str(msg.get("message") or msg.get("error"))
        if code == wire.UNAVAILABLE:
            raise Unavailable(f"etcd at {endpoint}: {text}")
        raise wire.GatewayError(code, text)
    raise Unavailable(f"etcd at {endpoint}: unexpected HTTP {status} answer")


def _describe(exc: BaseException) -> str:
    """A credential-free description of a transport failure."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return type(exc).__name__
