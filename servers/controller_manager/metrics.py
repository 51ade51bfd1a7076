"""The controller-manager's work queue metrics, in client-go's names (``workqueue_*``).

client-go's ``component-base/metrics/prometheus/workqueue`` provider labels every series with
the queue's ``name`` (``replicationmanager``, ``endpoint``, ``garbage_collector_attempt_to_
delete``, ...). One ``CollectorRegistry`` per controller-manager instance, served on /metrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class _QueueMetrics:
    def __init__(self, owner: WorkQueueMetrics, name: str) -> None:
        self._adds = owner.adds.labels(name)
        self._depth = owner.depth_gauge.labels(name)
        self._retries = owner.retries.labels(name)

    def added(self) -> None:
        self._adds.inc()

    def depth(self, value: int) -> None:
        self._depth.set(value)

    def retried(self) -> None:
        self._retries.inc()


class WorkQueueMetrics:
    """``workqueue_depth``, ``workqueue_adds_total``, ``workqueue_retries_total`` by name."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.depth_gauge = Gauge("workqueue_depth", "Current depth of workqueue", ("name",),
                                 registry=registry)
        self.adds = Counter("workqueue_adds", "Total number of adds handled by workqueue",
                            ("name",), registry=registry)
        self.retries = Counter("workqueue_retries", "Total number of retries handled by "
                               "workqueue", ("name",), registry=registry)

    def queue(self, name: str) -> _QueueMetrics:
        return _QueueMetrics(self, name)
