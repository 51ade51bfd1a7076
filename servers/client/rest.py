"""``Client``: the apiserver's REST API over one aiohttp session.

    async with Client(config) as client:
        pod = await client.create(PODS, {"metadata": {"name": "web"}, "spec": ...}, "default")
        pods = await client.list(PODS, "default", label_selector="app=web")
        async for kind, obj in client.watch(PODS, "default",
                                            resource_version=pods["metadata"]["resourceVersion"]):
            ...

Objects are plain JSON dicts (``Obj``); requests are addressed by a ``ResourceRef`` and built
with Kubernetes' paths and query parameters (``labelSelector``, ``fieldSelector``, ``limit``,
``continue``, ``resourceVersion``, ``watch``, ``allowWatchBookmarks``, ``timeoutSeconds``).

Errors: a non-2xx answer raises the ``StatusError`` rebuilt from its ``Status`` body
(``NotFound``, ``Conflict``, ``Gone``, ...; a body that is no ``Status`` gives the class of the
HTTP code with a message quoting the body); an unreachable or vanished apiserver raises
``ApiUnavailable``; an undecodable 2xx body raises ``BadResponse``. Nothing here retries: the
informer owns retry policy. The bearer token is sent as a header and never logged.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import aiohttp

from servers.apimachinery.errors import Gone, from_status
from servers.client import _wire
from servers.client._wire import (
    JSON,
    PATCH_TYPES,
    EventDecoder,
    as_object,
    name_of,
    namespace_for,
    query,
    status_error,
    typed,
)
from servers.client.errors import ApiUnavailable, ClientError
from servers.client.kubeconfig import Config
from servers.client.resources import PODS

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

    from servers.apimachinery.meta import Obj
    from servers.client.resources import ResourceRef

__all__ = ["PATCH_TYPES", "USER_AGENT", "Client", "Watch"]

log = logging.getLogger(__name__)

USER_AGENT = "km-client/0.1"
# Transport failures: refused, reset, TLS, truncated bodies, timeouts (ServerTimeoutError is
# an asyncio.TimeoutError; on 3.10 that is not the builtin TimeoutError).
_TRANSPORT_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError,
                     asyncio.TimeoutError)
# A watch whose server-side timeout passed this long ago without the stream ending is stalled.
_WATCH_READ_GRACE = 30.0


class Client:
    """An async apiserver client owning one ``aiohttp.ClientSession``; use ``async with``.

    ``config`` is a ``Config`` or a server URL. Requests time out after ``request_timeout``
    seconds (connecting after ``connect_timeout``); watches have no total timeout, only a
    read timeout derived from their ``timeout_seconds``. At most ``connection_limit``
    connections are open at once (every open watch holds one).
    """

    def __init__(self, config: Config | str, *, connection_limit: int = 64,
                 connect_timeout: float = 5.0, request_timeout: float = 60.0,
                 user_agent: str = USER_AGENT) -> None:
        self.config = config if isinstance(config, Config) else Config.for_server(config)
        self.connection_limit = connection_limit
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._watches: set[Watch] = set()

    async def __aenter__(self) -> Client:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def open(self) -> None:
        """Create the session (idempotent). Raises ``ConfigError`` for unusable TLS settings."""
        if self._session is not None:
            return
        ssl_context = self.config.ssl_context()
        headers = {"Accept": JSON, "User-Agent": self.user_agent}
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        connector = aiohttp.TCPConnector(limit=self.connection_limit,
                                         ssl=ssl_context if ssl_context is not None else True)
        timeout = aiohttp.ClientTimeout(total=self.request_timeout, connect=self.connect_timeout)
        self._session = aiohttp.ClientSession(connector=connector, headers=headers,
                                              timeout=timeout)

    async def close(self) -> None:
        """Close open watches and the session (idempotent)."""
        for watch in builtins.list(self._watches):
            await watch.aclose()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            msg = "the client is not open (use 'async with Client(...)')"
            raise ClientError(msg)
        return self._session

    async def _send(self, method: str, path: str, params: Mapping[str, str] | None,
                    data: bytes | None, content_type: str, accept: str | None = None) -> bytes:
        session = self._require_session()
        headers = {"Content-Type": content_type} if data is not None else {}
        if accept is not None:  # e.g. metadata only: application/json;as=PartialObjectMetadata
            headers["Accept"] = accept
        try:
            async with session.request(method, self.config.server + path, params=params,
                                       data=data, headers=headers) as response:
                body = await response.read()
                status = response.status
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(method, path, exc) from exc
        log.debug("%s %s %s => %d", method, path, params or "", status)
        if status >= 300:
            raise status_error(status, body)
        return body

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: Any = None, content_type: str = JSON, accept: str | None = None
                      ) -> Any:
        """Send one request to ``path`` and return the decoded JSON answer (``None`` if empty).

        ``body`` is JSON-encoded; ``accept`` replaces the session's Accept header. Raises
        ``StatusError`` (non-2xx), ``ApiUnavailable``, ``BadResponse``.
        """
        data = None if body is None else _wire.encode(body)
        raw = await self._send(method, path, params, data, content_type, accept)
        return _wire.decode(raw, f"{method} {path}")

    async def get(self, resource: ResourceRef, name: str, namespace: str | None = None, *,
                  subresource: str | None = None) -> Obj:
        """Read one object (or its subresource, such as ``status`` or ``scale``)."""
        result = await self.request("GET", resource.path(namespace, name, subresource))
        return as_object(result, resource)

    async def list(self, resource: ResourceRef, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None) -> Obj:
        """One page of the collection (every namespace when ``namespace`` is None): the List.

        ``metadata.resourceVersion`` is the list's revision (watch from it);
        ``metadata.continue`` is set when more pages follow. An expired token raises ``Gone``.
        """
        params = query(labelSelector=label_selector, fieldSelector=field_selector,
                         limit=limit, resourceVersion=resource_version)
        if continue_:
            params["continue"] = continue_
        result = await self.request("GET", resource.path(namespace), params=params)
        return as_object(result, resource)

    async def list_all(self, resource: ResourceRef, namespace: str | None = None, *,
                       label_selector: str | None = None, field_selector: str | None = None,
                       page_size: int = 500) -> Obj:
        """The whole collection, read in pages of ``page_size`` from one snapshot.

        Returns one List whose ``items`` hold every page and whose ``metadata`` is the first
        page's (its ``resourceVersion`` is the snapshot's). When a continue token expires
        midway (410), the list is read again in one request, as client-go's pager does.
        """
        read = functools.partial(self.list, resource, namespace, label_selector=label_selector,
                                 field_selector=field_selector)
        first = await read(limit=page_size)
        items: builtins.list[Obj] = builtins.list(first.get("items") or ())
        token = (first.get("metadata") or {}).get("continue")
        try:
            while token:
                page = await read(limit=page_size, continue_=token)
                items.extend(page.get("items") or ())
                token = (page.get("metadata") or {}).get("continue")
        except Gone:
            return await read()
        metadata = {k: v for k, v in (first.get("metadata") or {}).items()
                    if k not in ("continue", "remainingItemCount")}
        return {**first, "metadata": metadata, "items": items}

    async def create(self, resource: ResourceRef, obj: Obj, namespace: str | None = None, *,
                     subresource: str | None = None, field_manager: str | None = None) -> Obj:
        """POST ``obj`` to the collection, or to ``{name}/{subresource}`` (e.g. a Binding).

        The namespace defaults to ``obj``'s ``metadata.namespace``. Raises ``AlreadyExists``,
        ``Invalid``, ...
        """
        ns = namespace_for(resource, obj, namespace)
        if subresource:
            path = resource.path(ns, name_of(obj), subresource)
        else:
            path, obj = resource.path(ns), typed(resource, obj)
        result = await self.request("POST", path, body=obj,
                                         params=query(fieldManager=field_manager))
        return as_object(result, resource)

    async def update(self, resource: ResourceRef, obj: Obj, subresource: str | None = None, *,
                     namespace: str | None = None, field_manager: str | None = None) -> Obj:
        """PUT ``obj`` (or its ``status``/``scale`` subresource) in place.

        A ``metadata.resourceVersion`` in ``obj`` is a precondition: a stale one raises
        ``Conflict`` (409). Without one the update is unconditional.
        """
        ns = namespace_for(resource, obj, namespace)
        path = resource.path(ns, name_of(obj), subresource)
        body = obj if subresource else typed(resource, obj)
        result = await self.request("PUT", path, body=body,
                                         params=query(fieldManager=field_manager))
        return as_object(result, resource)

    async def patch(self, resource: ResourceRef, name: str, patch: Any, *,
                    patch_type: str = "merge", namespace: str | None = None,
                    subresource: str | None = None, field_manager: str | None = None,
                    force: bool | None = None) -> Obj:
        """PATCH one object with a ``merge``, ``json``, ``strategic`` or ``apply`` patch.

        ``apply`` (server-side apply) needs a ``field_manager``. Raises ``ValueError`` for an
        unknown patch type, ``NotFound``, ``Conflict`` (a resourceVersion in the patch is a
        precondition), ``Invalid``/``PatchError`` ...
        """
        content_type = PATCH_TYPES.get(patch_type)
        if content_type is None:
            msg = f"unknown patch type {patch_type!r} (one of: {', '.join(PATCH_TYPES)})"
            raise ValueError(msg)
        if patch_type == "apply" and not field_manager:
            msg = "an apply patch needs a field_manager"
            raise ValueError(msg)
        params = query(fieldManager=field_manager, force=force)
        result = await self.request("PATCH", resource.path(namespace, name, subresource),
                                         params=params, body=patch, content_type=content_type)
        return as_object(result, resource)

    async def delete(self, resource: ResourceRef, name: str, namespace: str | None = None, *,
                     grace_period_seconds: int | None = None,
                     resource_version: str | None = None, uid: str | None = None,
                     propagation_policy: str | None = None) -> Obj:
        """DELETE one object; returns what the server answers (the object, or a Status).

        ``resource_version``/``uid`` are preconditions (``Conflict`` when they do not hold).
        A graceful delete returns the object with ``deletionTimestamp`` set.
        """
        options: Obj = {}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        preconditions = {k: v for k, v in (("resourceVersion", resource_version), ("uid", uid))
                         if v is not None}
        if preconditions:
            options["preconditions"] = preconditions
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        body = {"kind": "DeleteOptions", "apiVersion": "v1", **options} if options else None
        result = await self.request("DELETE", resource.path(namespace, name), body=body)
        return as_object(result, resource)

    async def logs(self, name: str, namespace: str, *, container: str | None = None,
                   tail_lines: int | None = None, previous: bool | None = None) -> str:
        """The text of a pod's log (``pods/{name}/log``), not followed."""
        params = query(container=container, tailLines=tail_lines, previous=previous)
        raw = await self._send("GET", PODS.path(namespace, name, "log"), params, None, JSON)
        return raw.decode("utf-8", "replace")

    def watch(self, resource: ResourceRef, namespace: str | None = None, *,
              resource_version: str | None = None, label_selector: str | None = None,
              field_selector: str | None = None, timeout_seconds: int | None = None,
              allow_bookmarks: bool = True) -> Watch:
        """Watch the collection: an async iterator of ``(type, object)`` events.

        Types are ``ADDED``, ``MODIFIED``, ``DELETED``, ``BOOKMARK``. The stream opens on the
        first iteration; an ``ERROR`` event raises its ``StatusError`` (``Gone`` for 410),
        and a stream the server closes ends the iteration. Close it early with ``aclose()``
        or ``async with``.
        """
        params = query(watch=True, resourceVersion=resource_version,
                         labelSelector=label_selector, fieldSelector=field_selector,
                         timeoutSeconds=timeout_seconds, allowWatchBookmarks=allow_bookmarks)
        read_timeout = None if timeout_seconds is None else timeout_seconds + _WATCH_READ_GRACE
        return Watch(self, resource.path(namespace), params, read_timeout)

    async def _open_stream(self, path: str, params: Mapping[str, str],
                           read_timeout: float | None) -> aiohttp.ClientResponse:
        session = self._require_session()
        timeout = aiohttp.ClientTimeout(total=None, connect=self.connect_timeout,
                                        sock_read=read_timeout)
        try:
            response = await session.get(self.config.server + path, params=params,
                                         timeout=timeout)
            if response.status >= 300:
                async with response:
                    raise status_error(response.status, await response.read())
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable("WATCH", path, exc) from exc
        log.debug("WATCH %s %s => %d", path, params, response.status)
        return response


def _unavailable(method: str, path: str, exc: BaseException) -> ApiUnavailable:
    why = str(exc) or type(exc).__name__
    return ApiUnavailable(f"{method} {path}: apiserver unavailable: {why}")


class Watch:
    """The events of one watch request, as ``(type, object)`` pairs; see ``Client.watch``."""

    def __init__(self, client: Client, path: str, params: Mapping[str, str],
                 read_timeout: float | None) -> None:
        self._client = client
        self._path = path
        self._params = params
        self._read_timeout = read_timeout
        self._response: aiohttp.ClientResponse | None = None
        self._events: deque[tuple[str, Obj]] = deque()
        self._decoder = EventDecoder(f"WATCH {path}")
        self._done = False

    def __aiter__(self) -> Watch:
        return self

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def __anext__(self) -> tuple[str, Obj]:
        while not self._events:
            if self._done:
                raise StopAsyncIteration
            try:
                await self._fill()
            except BaseException:  # an error, a bad line or a cancellation: drop the stream
                await self.aclose()
                raise
        kind, obj = self._events.popleft()
        if kind == "ERROR":
            await self.aclose()
            raise from_status(obj)
        return kind, obj

    async def aclose(self) -> None:
        """Stop watching and drop the connection (idempotent)."""
        self._done = True
        self._events.clear()
        self._client._watches.discard(self)
        if self._response is not None:
            response, self._response = self._response, None
            response.close()

    async def _fill(self) -> None:
        if self._response is None:
            self._client._watches.add(self)
            self._response = await self._client._open_stream(
                self._path, self._params, self._read_timeout)
            return
        try:
            chunk = await self._response.content.readany()
        except asyncio.TimeoutError as exc:
            raise _unavailable("WATCH", self._path, exc) from exc
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
            chunk = b""  # the server went away mid-stream: the stream is closed
        if self._done:  # closed (aclose, Client.close) while reading
            return
        if chunk:
            self._events.extend(self._decoder.feed(chunk))
            return
        self._events.extend(self._decoder.close())
        response, self._response = self._response, None
        self._done = True
        self._client._watches.discard(self)
        response.release()
