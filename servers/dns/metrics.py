"""``km dns``'s Prometheus metrics, in CoreDNS's names (plugin/metrics/vars/vars.go).

* ``coredns_dns_requests_total{server, zone, view, proto, family, type}``
* ``coredns_dns_responses_total{server, zone, view, rcode, plugin}``
* ``coredns_dns_request_duration_seconds{server, zone, view, type}`` (CoreDNS's buckets,
  ExponentialBuckets(0.00025, 2, 16))

One registry per server instance; the labelled children are resolved once per label set and
kept, since ``labels()`` on every query would cost more than the answer.
"""

from __future__ import annotations

from typing import Any

import dns.rcode
from prometheus_client import CollectorRegistry, Counter, Histogram

from servers.dns.wire import type_label

_BUCKETS = tuple(0.00025 * 2**i for i in range(16))
ZONE = "."  # km dns has one server block, for the root, as kubeadm's Corefile


class Metrics:
    """Count and time queries (``observe``) into ``registry``."""

    def __init__(self, registry: CollectorRegistry, *, server: str) -> None:
        self.registry = registry
        self.server = server
        self._requests = Counter(
            "coredns_dns_requests_total", "Counter of DNS requests made per zone, protocol "
            "and family.", ["server", "zone", "view", "proto", "family", "type"],
            registry=registry)
        self._responses = Counter(
            "coredns_dns_responses_total", "Counter of response status codes.",
            ["server", "zone", "view", "rcode", "plugin"], registry=registry)
        self._duration = Histogram(
            "coredns_dns_request_duration_seconds", "Histogram of the time (in seconds) each "
            "request took per zone.", ["server", "zone", "view", "type"], buckets=_BUCKETS,
            registry=registry)
        self._children: dict[tuple[Any, ...], tuple[Any, Any, Any]] = {}

    def observe(self, proto: str, family: int, qtype: int, rcode: int, plugin: str,
                seconds: float) -> None:
        """One answered query."""
        key = (proto, family, qtype, rcode, plugin)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._resolve(*key)
        requests, responses, duration = children
        requests.inc()
        responses.inc()
        duration.observe(seconds)

    def _resolve(self, proto: str, family: int, qtype: int, rcode: int,
                 plugin: str) -> tuple[Any, Any, Any]:
        kind = type_label(qtype)
        code = dns.rcode.to_text(dns.rcode.Rcode(rcode))
        return (self._requests.labels(self.server, ZONE, "", proto, str(family), kind),
                self._responses.labels(self.server, ZONE, "", code, plugin),
                self._duration.labels(self.server, ZONE, "", kind))
