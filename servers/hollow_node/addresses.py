"""Fake addresses for hollow nodes and their pods, all inside 100.64.0.0/10.

Why 100.64.0.0/10: it is RFC 6598's shared address space (carrier-grade NAT), so it is neither
a private range a test machine or a real cluster uses (10/8, 172.16/12, 192.168/16; km's
cluster CIDR 10.244.0.0/16 and service range) nor a public one, and it is never routed on the
internet. These addresses are only written into Node and Pod status; nothing ever sends a
packet to them. (kubemark gives every pod 192.168.192.168 and KWOK draws from 10.0.0.0/24,
both private ranges a real network may use; one unique address per pod also lets users test
endpoint controllers against hollow pods.)

Layout, fixed so that a restarted hollow-node gives node i the same addresses again:

    100.64.0.0/16                   node i's InternalIP is 100.64.0.0 + i + 1
    100.65.0.0 - 100.127.255.255    node i's pods come from block i, BLOCK addresses from
                                    100.65.0.0 + i * BLOCK (a /24 unless --max-pods > 254)

Within a block, the first and last addresses are left out (a pod CIDR's network address and
the one kube-style IPAM keeps for broadcast) and a pod gets the lowest free address;
addresses come back when their pod goes away.
"""

from __future__ import annotations

import heapq
from ipaddress import IPv4Address

__all__ = ["AddressesExhausted", "PodAddresses", "check_capacity", "node_ip", "pod_block_size"]

_NODES_FIRST = int(IPv4Address("100.64.0.1"))
MAX_NODES = 65534  # 100.64.0.1 - 100.64.255.254
_PODS_FIRST = int(IPv4Address("100.65.0.0"))
_PODS_END = int(IPv4Address("100.128.0.0"))  # one past 100.127.255.255
_MIN_BLOCK = 256


class AddressesExhausted(ValueError):
    """The fake ranges cannot hold this many nodes (or pods per node)."""


def node_ip(index: int) -> str:
    """The InternalIP of node ``index`` (0-based)."""
    if not 0 <= index < MAX_NODES:
        msg = f"node index {index} is outside 0..{MAX_NODES - 1}"
        raise AddressesExhausted(msg)
    return str(IPv4Address(_NODES_FIRST + index))


def pod_block_size(max_pods: int) -> int:
    """Addresses per node block: a power of two holding max_pods plus the two left out."""
    size = _MIN_BLOCK
    while size - 2 < max_pods:
        size *= 2
    return size


def check_capacity(nodes: int, max_pods: int) -> None:
    """Raise ``AddressesExhausted`` (one line) when ``nodes`` blocks do not fit the range."""
    block = pod_block_size(max_pods)
    fit = min(MAX_NODES, (_PODS_END - _PODS_FIRST) // block)
    if nodes > fit:
        msg = (f"{nodes} nodes with --max-pods {max_pods} need more fake addresses than "
               f"100.64.0.0/10 holds (at most {fit} nodes)")
        raise AddressesExhausted(msg)


class PodAddresses:
    """The pod addresses of one node: lowest free first, recycled on ``release``."""

    __slots__ = ("_first", "_free", "_next", "_size", "_used")

    def __init__(self, index: int, block: int) -> None:
        self._first = _PODS_FIRST + index * block
        self._size = block
        self._next = 1          # offsets below this were handed out at least once
        self._free: list[int] = []  # released offsets below _next (a heap)
        self._used: set[int] = set()

    def __len__(self) -> int:
        return len(self._used)

    def allocate(self) -> str | None:
        """The lowest free address, or ``None`` when the block is full."""
        while self._free:
            offset = heapq.heappop(self._free)
            if offset not in self._used:
                self._used.add(offset)
                return self._text(offset)
        while self._next < self._size - 1:
            offset, self._next = self._next, self._next + 1
            if offset not in self._used:  # reserved out of order by an adopted pod
                self._used.add(offset)
                return self._text(offset)
        return None

    def reserve(self, ip: str) -> bool:
        """Mark ``ip`` used (a pod found running after a restart); False if not ours/taken."""
        offset = self._offset(ip)
        if offset is None or offset in self._used:
            return False
        self._used.add(offset)
        return True

    def release(self, ip: str) -> None:
        """Give ``ip`` back (unknown addresses are ignored)."""
        offset = self._offset(ip)
        if offset is not None and offset in self._used:
            self._used.discard(offset)
            if offset < self._next:
                heapq.heappush(self._free, offset)

    def _offset(self, ip: str) -> int | None:
        try:
            offset = int(IPv4Address(ip)) - self._first
        except ValueError:
            return None
        return offset if 1 <= offset < self._size - 1 else None

    def _text(self, offset: int) -> str:
        return str(IPv4Address(self._first + offset))
