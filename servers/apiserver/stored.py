"""How objects are stored: JSON with apiVersion, kind and metadata first, no resourceVersion.

The resourceVersion of an object is the storage revision of its last write; it is set on
every object read back (`decode`), or spliced into the stored bytes without decoding them
(`raw`), which keeps get, list and watch cheap.
"""

from __future__ import annotations

from servers.apimachinery import jsonio
from servers.apimachinery.meta import Obj
from servers.apiserver.storage import interface as st

HEAD_KEYS = ("apiVersion", "kind", "metadata")
_META = b'"metadata":{'


def encode(obj: Obj) -> bytes:
    """Objects are stored with apiVersion, kind and metadata first (see `raw`).

    The bytes are copied once: orjson's result keeps the buffer it grew (16 KiB or more for
    a 2 KiB object), and a stored value lives on in the watch cache's window, where that
    slack multiplied the server's memory by eight.
    """
    head = {k: obj[k] for k in HEAD_KEYS if k in obj}
    body = head | {k: v for k, v in obj.items() if k not in head}
    return bytes(memoryview(jsonio.dumps(body)))


def raw(kv: st.KeyValue) -> bytes:
    """The stored object as JSON with its resourceVersion, without decoding it.

    `encode` puts apiVersion and kind (plain strings) and then metadata first, so the first
    `"metadata":{` is the object's own: the resourceVersion is spliced in right there. This
    is what keeps get, list and watch fan-out cheap.
    """
    value = kv.value
    at = value.find(_META)
    if not value.startswith(b'{"apiVersion":') or at < 0:
        return encode(decode(kv))
    at += len(_META)
    rv = b'"resourceVersion":"%d"' % kv.mod_revision
    return value[:at] + (rv if value[at:at + 1] == b"}" else rv + b",") + value[at:]


def decode(kv: st.KeyValue) -> Obj:
    """The stored object, with resourceVersion set to the revision of its last write."""
    obj: Obj = jsonio.loads(kv.value)
    obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
    return obj
