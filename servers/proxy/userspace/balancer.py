"""Which endpoint a new connection tries first: round-robin, ClientIP affinity, next on refusal.

The choice of kube-proxy's userspace ``LoadBalancerRR`` (``pkg/proxy/userspace/roundrobin.go``):
endpoints are taken in turn; a client with sessionAffinity ClientIP goes back to the endpoint
it used last, unless the affinity is older than its timeout or the endpoint is gone; when the
chosen endpoint refuses, the relay tries the others in round-robin order.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from servers.proxy.model import Endpoint

__all__ = ["LoadBalancer"]


class LoadBalancer:
    """The endpoints of one service port and the order a new connection tries them in."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.endpoints: tuple[Endpoint, ...] = ()
        self.affinity_seconds = 0
        self._next = 0
        self._affinity: dict[str, tuple[Endpoint, float]] = {}  # client ip -> (endpoint, when)
        self._clock = clock

    def update(self, endpoints: tuple[Endpoint, ...], affinity_seconds: int = 0) -> None:
        """New endpoints (and affinity timeout); affinities to gone endpoints are dropped."""
        if endpoints != self.endpoints:
            self._next = self._next % len(endpoints) if endpoints else 0
        self.endpoints = endpoints
        self.affinity_seconds = affinity_seconds
        if not affinity_seconds:
            self._affinity.clear()
        else:
            present = set(endpoints)
            self._affinity = {ip: held for ip, held in self._affinity.items()
                              if held[0] in present}

    def candidates(self, client_ip: str) -> list[Endpoint]:
        """Every endpoint, in the order this new connection should try them."""
        if not self.endpoints:
            return []
        first = self._sticky(client_ip)
        start = self._next
        self._next = (start + 1) % len(self.endpoints)
        ordered = [self.endpoints[(start + i) % len(self.endpoints)]
                   for i in range(len(self.endpoints))]
        if first is not None:
            ordered.remove(first)
            ordered.insert(0, first)
            self._next = start  # a sticky client does not use up another client's turn
        return ordered

    def connected(self, client_ip: str, endpoint: Endpoint) -> None:
        """``endpoint`` took the connection: remember it for the client's affinity."""
        if self.affinity_seconds:
            self._affinity[client_ip] = (endpoint, self._clock())

    def _sticky(self, client_ip: str) -> Endpoint | None:
        held = self._affinity.get(client_ip)
        if held is None:
            return None
        endpoint, when = held
        if self._clock() - when > self.affinity_seconds:
            del self._affinity[client_ip]
            return None
        return endpoint
