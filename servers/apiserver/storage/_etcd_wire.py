"""etcd v3 JSON gateway encoding: base64 keys and values, int64 as strings, defaults omitted.

Shapes verified against etcd 3.4.23 (see the reference notes, section 4.2): a failed txn has no
``succeeded``, a PUT event has no ``type``, a DELETE event's ``kv`` has only ``key`` and
``mod_revision`` (the last value is in ``prev_kv``), empty ``kvs``/``count``/``more`` are left
out, errors come back as ``{"error": ..., "code": <grpc code>, "message": ...}``.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .interface import Event, KeyValue, StorageError

Msg = dict[str, Any]

#: gRPC status codes the gateway puts in ``code``.
OUT_OF_RANGE = 11
UNAVAILABLE = 14
COMPACTED_MSG = "required revision has been compacted"
FUTURE_MSG = "required revision is a future revision"


class GatewayError(StorageError):
    """An error answer from etcd (code = gRPC status code); mapped by the verbs."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"etcd: {message}")
        self.code = code
        self.message = message


def b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def range_end(prefix: str) -> bytes:
    """The etcd range end of a prefix: its bytes with the last byte incremented.

    Like ``clientv3.GetPrefixRangeEnd``; b"\\0" (every key) for the empty or all-0xff prefix.
    """
    raw = bytearray(prefix.encode())
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        return b"\0"
    raw[-1] += 1
    return bytes(raw)


def prefix_range(prefix: str, start_key: str | None = None) -> Msg:
    """``key``/``range_end`` for the keys under prefix (from start_key on, when later)."""
    first = max(prefix, start_key or "") or "\0"
    return {"key": b64(first), "range_end": b64(range_end(prefix))}


def kv(msg: Msg) -> KeyValue:
    return KeyValue(
        key=unb64(msg.get("key")).decode(),
        value=unb64(msg.get("value")),
        create_revision=int(msg.get("create_revision", 0)),
        mod_revision=int(msg.get("mod_revision", 0)),
    )


def event(msg: Msg) -> Event:
    prev = kv(msg["prev_kv"]) if "prev_kv" in msg else None
    if msg.get("type") != "DELETE":
        return Event("PUT", kv(msg["kv"]), prev)
    gone = kv(msg["kv"])
    if prev is not None:
        gone = KeyValue(gone.key, prev.value, prev.create_revision, gone.mod_revision)
    return Event("DELETE", gone, prev)


def revision(msg: Msg) -> int:
    return int(msg.get("header", {}).get("revision", 0))


def compare_mod(key: str, rev: int) -> Msg:
    return {"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(rev)}


def txn(key: str, rev: int, success: Msg) -> Msg:
    """If key's mod_revision is rev, do success; otherwise read the key (its current kv)."""
    return {
        "compare": [compare_mod(key, rev)],
        "success": [success],
        "failure": [{"request_range": {"key": b64(key)}}],
    }


def failed_kv(resp: Msg) -> KeyValue | None:
    """The current kv a failed txn read (None if the key does not exist)."""
    ranged = resp.get("responses", [{}])[0].get("response_range", {})
    kvs = ranged.get("kvs", [])
    return kv(kvs[0]) if kvs else None


def safe_endpoint(endpoint: str) -> str:
    """The endpoint without user or password, for messages and logs."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def normalize_endpoint(endpoint: str) -> str:
    """``host:port`` becomes ``http://host:port``; a trailing slash is dropped."""
    endpoint = endpoint.strip().rstrip("/")
    return endpoint if "://" in endpoint else f"http://{endpoint}"
