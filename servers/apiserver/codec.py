"""Bodies in and out: content types, query parameters, and the Table negotiation.

Requests carry JSON (YAML is accepted too); patches carry one of the patch media types.
A few kinds kubectl's typed clients send as protobuf are read too (see `protowire`).
Responses are JSON; `Accept: application/json;as=Table;g=meta.k8s.io;v=v1` asks for a
server-printed Table, which kubectl 1.32 needs to print anything but NAME and AGE, and
`as=PartialObjectMetadata` / `as=PartialObjectMetadataList` for metadata only (client-go's
metadata client: the garbage collector, `kubectl get` of many kinds). An Accept that allows
no JSON at all (protobuf only), or only an `as=` km cannot give, is 406.

A body may nest at most MAX_DEPTH levels, and a YAML body must be JSON once its aliases are
expanded: within the body size limit (no "billion laughs"), string or integer map keys, no
binary or non-finite values. Anything else is refused here, before it reaches storage.
"""

from __future__ import annotations

import datetime
import math
from typing import TYPE_CHECKING, Any

from servers.apimachinery import errors, jsonio
from servers.apimachinery.meta import Obj
from servers.apiserver import protowire

if TYPE_CHECKING:
    from collections.abc import Mapping

JSON = "application/json"
YAML = "application/yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)
BODY_TYPES = (JSON, YAML)
MAX_BODY_BYTES = 3 * 1024 * 1024
INT64_MAX = 2**63 - 1  # Kubernetes parses numbers in queries and tokens as int64
INCLUDE_OBJECT = ("None", "Metadata", "Object")
# Objects need a dozen levels; orjson encodes no more than 254, and responses wrap an object
# a few levels deeper (List, watch event, Table): a deeper body would be stored, then fail.
MAX_DEPTH = 100


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode_body(raw: bytes, content_type: str | None, allowed: tuple[str, ...]) -> Any:
    """The request body as JSON data; 415 for a type not in `allowed`, 400 if malformed."""
    kind = media_type(content_type) or JSON
    if kind == protowire.MEDIA_TYPE and JSON in allowed:  # kubectl's typed clients
        return protowire.decode(raw)
    if kind not in allowed:
        raise errors.UnsupportedMediaType(allowed)
    if kind in (YAML, APPLY_PATCH):
        return _decode_yaml(raw)
    try:
        value = jsonio.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise errors.BadRequest(f"the body of the request was in an unknown format - "
                                f"accepted media types include: {', '.join(allowed)}: {exc}"
                                ) from None
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:  # else it cannot nest that deep
        check_depth(value)
    return value


def check_depth(value: Any) -> Any:
    """`value`, or 400 if it nests deeper than MAX_DEPTH (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise _too_deep()
            members = item.values() if isinstance(item, dict) else item
            stack.extend((member, depth + 1) for member in members)
    return value


def _too_deep() -> errors.BadRequest:
    return errors.BadRequest(f"the object is nested more than {MAX_DEPTH} levels deep")


def _decode_yaml(raw: bytes) -> Any:
    import yaml

    try:
        value = yaml.safe_load(raw)
    except (yaml.YAMLError, RecursionError, UnicodeDecodeError) as exc:
        raise errors.BadRequest(f"error decoding YAML: {exc}".splitlines()[0]) from None
    return _YAMLToJSON().value(value, 1)


class _YAMLToJSON:
    """A copy of a loaded YAML value that is JSON: aliases expanded within MAX_BODY_BYTES,
    bool and int map keys as strings (as sigs.k8s.io/yaml), dates as ISO 8601 text."""

    def __init__(self) -> None:
        self.left = MAX_BODY_BYTES

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise errors.RequestEntityTooLarge(
                f"limit is {MAX_BODY_BYTES} bytes, with the YAML aliases expanded")

    def value(self, item: Any, depth: int) -> Any:
        self.spend(1)
        if isinstance(item, (dict, list)) and depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(item, dict):
            return {self.key(key): self.value(member, depth + 1) for key, member in item.items()}
        if isinstance(item, list):
            return [self.value(member, depth + 1) for member in item]
        return self.scalar(item)

    def key(self, key: Any) -> str:
        if isinstance(key, bool):
            key = "true" if key else "false"
        elif isinstance(key, int):
            key = str(key)
        if not isinstance(key, str):
            raise errors.BadRequest(f"error decoding YAML: unsupported map key {key!r:.60}")
        return self.text(key)

    def text(self, item: str) -> str:
        self.spend(len(item))
        if not item.isascii():
            try:
                item.encode()
            except UnicodeEncodeError:  # "\ud800" escapes load as lone surrogates
                raise errors.BadRequest("error decoding YAML: a string is not valid UTF-8"
                                        ) from None
        return item

    def scalar(self, item: Any) -> Any:
        if isinstance(item, str):
            return self.text(item)
        if item is None or isinstance(item, bool):
            return item
        if isinstance(item, int) and -(2**63) <= item < 2**64:
            return item
        if isinstance(item, float) and math.isfinite(item):
            return item
        if isinstance(item, datetime.date):  # and datetime.datetime
            return item.isoformat()
        raise errors.BadRequest(f"error decoding YAML: a {type(item).__name__} value "
                                f"({item!r:.60}) is not JSON")


def encode(obj: Obj) -> bytes:
    """A response body: JSON ending in a newline, as kube-apiserver's encoder writes it."""
    return jsonio.dumps(obj) + b"\n"


TABLE = "Table"
PARTIAL = "PartialObjectMetadata"
PARTIAL_LIST = "PartialObjectMetadataList"
#: The ``as=`` transforms km answers (group meta.k8s.io, versions v1 and v1beta1).
TRANSFORMS = (TABLE, PARTIAL, PARTIAL_LIST)
META_API_VERSION = "meta.k8s.io/v1"
_SENDABLE = (JSON, YAML, "*/*", "application/*", "")


def output_as(accept: str | None) -> str:
    """What the client asks for, in the order it lists: ``""`` for the object as JSON, or
    one of ``TRANSFORMS``. An entry whose ``as=`` km cannot give is skipped, as
    kube-apiserver's negotiation skips it; 406 when no entry is left (no JSON fallback)."""
    if not accept:
        return ""
    for part in accept.split(","):
        kind, params = media_type(part), _params(part)
        if kind not in _SENDABLE and "json" not in kind:
            continue
        wanted = params.get("as")
        if wanted is None:
            return ""
        if wanted in TRANSFORMS and params.get("g", "meta.k8s.io") == "meta.k8s.io" and \
                params.get("v", "v1") in ("v1", "v1beta1"):
            return wanted
    raise errors.NotAcceptable([JSON])


def wants_table(accept: str | None) -> bool:
    """True when the client asks for a meta.k8s.io Table before plain JSON."""
    try:
        return output_as(accept) == TABLE
    except errors.NotAcceptable:
        return False


def check_acceptable(accept: str | None) -> None:
    """406 when the Accept header allows nothing we can send (see ``output_as``)."""
    output_as(accept)


def partial_metadata(obj: Obj) -> Obj:
    """``PartialObjectMetadata``: the object's metadata only (``as=PartialObjectMetadata``)."""
    return {"kind": PARTIAL, "apiVersion": META_API_VERSION, "metadata": obj.get("metadata")}


def partial_metadata_list(listed: Obj) -> Obj:
    """``PartialObjectMetadataList`` of a List: its list metadata, each item's metadata."""
    return {"kind": PARTIAL_LIST, "apiVersion": META_API_VERSION,
            "metadata": listed.get("metadata", {}),
            "items": [partial_metadata(item) for item in listed.get("items", [])]}


def not_acceptable_shape(wanted: str, is_list: bool) -> errors.NotAcceptable:
    """406 for a transform that does not fit the answer (kube's ``asPartialObjectMetadata``
    refuses a list, ``...List`` a single object)."""
    err = errors.NotAcceptable([JSON])
    err.message = (f"you requested {wanted}, but the requested object is a list" if is_list
                   else f"you requested {wanted}, but the requested object is not a list")
    return err


def _params(part: str) -> dict[str, str]:
    params = {}
    for item in part.split(";")[1:]:
        key, _, value = item.partition("=")
        params[key.strip()] = value.strip()
    return params


def int_param(query: Mapping[str, str], name: str, *, minimum: int = 0) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise errors.BadRequest(f'invalid value for {name}: "{value}" is not an integer'
                                ) from None
    if number < minimum:
        raise errors.BadRequest(f"invalid value for {name}: must be at least {minimum}")
    if number > INT64_MAX:
        raise errors.BadRequest(f'invalid value for {name}: "{value}" is out of range')
    return number


def bool_param(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name, "").lower()
    if value in ("", "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise errors.BadRequest(f'invalid value for {name}: "{value}" is not a boolean')


def dry_run(query: Mapping[str, str]) -> bool:
    values = query.getall("dryRun", []) if hasattr(query, "getall") else [query.get("dryRun")]
    for value in values:
        if value not in (None, "All"):
            raise errors.BadRequest(f'unsupported dryRun value "{value}" (only "All")')
    return "All" in values
