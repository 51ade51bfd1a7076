"""The scheduler's Prometheus metrics, in kube-scheduler's names (``pkg/scheduler/metrics``).

One ``CollectorRegistry`` per scheduler instance (never the global one), served on
/metrics by ``servers.component.serving``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from collections.abc import Callable

    from servers.scheduler.queue import SchedulingQueue

SCHEDULED, UNSCHEDULABLE, ERROR = "scheduled", "unschedulable", "error"
# metrics.go: attempt duration buckets ExponentialBuckets(0.001, 2, 15); SLI (0.01, 2, 20).
_ATTEMPT_BUCKETS = tuple(0.001 * 2**i for i in range(15))
_SLI_BUCKETS = tuple(0.01 * 2**i for i in range(20))
_VICTIM_BUCKETS = tuple(2**i for i in range(7))


class Metrics:
    """The scheduler's metrics in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.attempts = Counter(
            "scheduler_schedule_attempts", "Number of attempts to schedule pods, by the "
            "result. 'unschedulable' means a pod could not be scheduled, while 'error' means "
            "an internal scheduler problem.", ("result", "profile"), registry=r)
        self.attempt_duration = Histogram(
            "scheduler_scheduling_attempt_duration_seconds", "Scheduling attempt latency in "
            "seconds (scheduling algorithm + binding)", ("result", "profile"),
            buckets=_ATTEMPT_BUCKETS, registry=r)
        self.sli_duration = Histogram(
            "scheduler_pod_scheduling_sli_duration_seconds", "E2e latency for a pod being "
            "scheduled, from the time the pod enters the scheduling queue and might involve "
            "multiple scheduling attempts.", ("attempts",), buckets=_SLI_BUCKETS, registry=r)
        self.pending = Gauge(
            "scheduler_pending_pods", "Number of pending pods, by the queue type. 'active' "
            "means number of pods in activeQ; 'backoff' means number of pods in backoffQ; "
            "'unschedulable' means number of pods in unschedulablePods; 'gated' means number "
            "of gated pods.", ("queue",), registry=r)
        self.preemption_attempts = Counter(
            "scheduler_preemption_attempts", "Total preemption attempts in the cluster till "
            "now", registry=r)
        self.preemption_victims = Histogram(
            "scheduler_preemption_victims", "Number of selected preemption victims",
            buckets=_VICTIM_BUCKETS, registry=r)

        # Children by label values: ``labels()`` costs more than the observation itself.
        self._attempt_children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._sli_children: dict[int, Any] = {}

    def attempt(self, result: str, profile: str) -> tuple[Any, Any]:
        """The ``attempts`` counter and ``attempt_duration`` histogram of one result and
        profile."""
        children = self._attempt_children.get((result, profile))
        if children is None:
            children = self._attempt_children[(result, profile)] = (
                self.attempts.labels(result=result, profile=profile),
                self.attempt_duration.labels(result=result, profile=profile))
        return children

    def sli(self, attempts: int) -> Any:
        """The ``sli_duration`` histogram of pods scheduled after ``attempts`` attempts."""
        child = self._sli_children.get(attempts)
        if child is None:
            child = self._sli_children[attempts] = self.sli_duration.labels(
                attempts=str(attempts))
        return child

    def watch_queue(self, queue: SchedulingQueue) -> None:
        """Report ``scheduler_pending_pods`` from ``queue`` at every scrape."""
        def reader(name: str) -> Callable[[], float]:
            return lambda: float(queue.counts()[name])

        for name in queue.counts():
            self.pending.labels(queue=name).set_function(reader(name))
