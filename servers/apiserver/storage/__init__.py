"""The apiserver's storage: one interface (``interface.py``), two backends, chosen by name.

Backends are listed in ``BACKENDS`` as "module:function" strings and imported only when opened
(like kine's driver table, without its import-time self-registration), so importing this
package costs nothing beyond the standard library.

    store = await open_storage("sqlite", data_dir="/var/lib/km", etcd_servers=[])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .interface import Storage

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "open_storage"]

BACKENDS = {
    "sqlite": "servers.apiserver.storage.sqlite:open",
    "etcd": "servers.apiserver.storage.etcd:open",
}
DEFAULT_BACKEND = "sqlite"


async def open_storage(backend: str, *, data_dir: str, etcd_servers: list[str]) -> Storage:
    """Open the named backend: sqlite in data_dir, or etcd at etcd_servers.

    Raises ValueError for an unknown backend name, and the backend's ``Unavailable`` when it
    cannot be opened.
    """
    try:
        target = BACKENDS[backend]
    except KeyError:
        msg = f'unknown storage backend "{backend}" (choose from {", ".join(BACKENDS)})'
        raise ValueError(msg) from None
    module_name, _, func_name = target.partition(":")
    opener = getattr(importlib.import_module(module_name), func_name)
    if backend == "etcd":
        store: Storage = await opener(etcd_servers)
    else:
        store = await opener(data_dir)
    return store
