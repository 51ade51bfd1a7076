"""Continue tokens of paged lists, shaped like Kubernetes' (base64 JSON of rv and start key).

A token names the revision the first page was read at and where the next page starts
(relative to the list's prefix); every page of one list is read at that revision.
"""

from __future__ import annotations

import base64
import binascii
import json

from servers.apimachinery import errors
from servers.apiserver import codec
from servers.apiserver.storage import interface as st


def make_continue(rev: int, next_key: str, prefix: str) -> str:
    token = {"v": "meta.k8s.io/v1", "rv": rev, "start": next_key[len(prefix):]}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def parse_continue(token: str, prefix: str) -> tuple[str, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        rev, start = int(data["rv"]), str(data["start"])
        start.encode()  # a key is UTF-8: no lone surrogates
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError):
        raise errors.BadRequest(f"invalid continue token {token!r}") from None
    if not 0 < rev <= codec.INT64_MAX or start.startswith("/") or ".." in start.split("/"):
        raise errors.BadRequest(f"invalid continue token {token!r}")
    return prefix + start, rev


def after(key: str) -> str:
    """The smallest key greater than `key` (start of the next page)."""
    return key + "\x00"


def rest(page: st.ListResult, kv: st.KeyValue) -> int:
    """How many items of `page` come after `kv` (they count as remaining too)."""
    return len(page.items) - page.items.index(kv) - 1
