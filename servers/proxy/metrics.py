"""kube-proxy's metrics (``pkg/proxy/metrics/metrics.go``), on its own registry.

- ``kubeproxy_sync_proxy_rules_duration_seconds``: how long each sync took (its count is the
  number of syncs);
- ``kubeproxy_sync_proxy_rules_last_timestamp_seconds``: when the last sync succeeded;
- ``kubeproxy_network_programming_duration_seconds``: from an EndpointSlice's
  ``endpoints.kubernetes.io/last-change-trigger-time`` to the end of the sync that programmed
  it;
- ``kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds`` and a failure counter.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ProxyMetrics"]

# kube's buckets: exponential from 1 ms for syncs; for programming latency, finer below 1 s
# than kube's (0.25 s steps) so a p99 near a second can be read off.
SYNC_BUCKETS = tuple(0.001 * 2 ** i for i in range(15))
LATENCY_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5,
                   2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


class ProxyMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.sync_duration = Histogram(
            "kubeproxy_sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds", buckets=SYNC_BUCKETS, registry=self.registry)
        self.last_sync = Gauge(
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
            "The last time proxy rules were successfully synced", registry=self.registry)
        self.last_queued = Gauge(
            "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
            "The last time a sync of proxy rules was queued", registry=self.registry)
        self.programming = Histogram(
            "kubeproxy_network_programming_duration_seconds",
            "In Cluster Network Programming Latency in seconds", buckets=LATENCY_BUCKETS,
            registry=self.registry)
        self.failures = Counter(
            "kubeproxy_sync_proxy_rules_failures",
            "Syncs of proxy rules that failed", registry=self.registry)
