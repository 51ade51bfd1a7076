"""Pod addresses from a CIDR, one file per address (CNI's ``host-local`` IPAM, by hand).

An address is taken by creating ``<dir>/<address>`` exclusively, holding the owner's id, so
two sandboxes never get one address and a restarted runtime knows what is taken. The first
address is the gateway (the bridge); the last is the broadcast address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os

from servers.kubelet.runtime.errors import RuntimeFailure


def allocate(directory: str, cidr: str, owner: str) -> str:
    """Take a free address of ``cidr`` for ``owner``; return it as ``address/prefixlen``."""
    os.makedirs(directory, exist_ok=True)
    net = ipaddress.ip_network(cidr, strict=False)
    held = owned(directory, owner)
    if held:
        return f"{held[0]}/{net.prefixlen}"
    for index, host in enumerate(net.hosts()):
        if index == 0:
            continue  # the gateway
        try:
            fd = os.open(os.path.join(directory, str(host)), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as f:
            f.write(owner)
        return f"{host}/{net.prefixlen}"
    msg = f"no free address left in {cidr}"
    raise RuntimeFailure(msg)


def owned(directory: str, owner: str) -> list[str]:
    """The addresses ``owner`` holds."""
    found = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    for name in names:
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                if f.read() == owner:
                    found.append(name)
        except FileNotFoundError:
            continue
    return found


def release(directory: str, owner: str) -> None:
    """Give back every address ``owner`` holds (idempotent)."""
    for name in owned(directory, owner):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, name))
