"""Nominated pods count on their node for pods of lower or equal priority, on copies only."""

from __future__ import annotations

from typing import Any

import pytest

from servers.client.events import EventRecorder
from servers.scheduler.cache import SchedulerCache
from servers.scheduler.cycle import Scheduler
from servers.scheduler.framework.algorithm import FitError, schedule
from servers.scheduler.framework.podinfo import PodInfo
from servers.scheduler.framework.profile import default_profile
from servers.scheduler.metrics import Metrics
from servers.scheduler.queue import SchedulingQueue


def node(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {},
            "status": {"allocatable": {"cpu": "1", "memory": "8Gi", "pods": "110"}}}


def pod(name: str, priority: int, cpu: str = "800m") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"},
            "spec": {"priority": priority, "containers": [
                {"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}


@pytest.fixture
def scheduler() -> Scheduler:
    cache = SchedulerCache()
    cache.add_node(node("n1"))
    made = Scheduler(None, [default_profile()], SchedulingQueue(), cache,  # type: ignore[arg-type]
                     EventRecorder(None, component="default-scheduler"), Metrics())
    made.nominated["uid-preemptor"] = ("n1", PodInfo.of(pod("preemptor", 100)))
    return made


def place(scheduler: Scheduler, info: PodInfo) -> str:
    with scheduler._view(info) as snapshot:
        return schedule(default_profile(), info, snapshot).node_name


def test_a_lower_priority_pod_does_not_take_the_nominated_room(scheduler: Scheduler) -> None:
    with pytest.raises(FitError, match="Insufficient cpu"):
        place(scheduler, PodInfo.of(pod("low", 0)))


def test_a_higher_priority_pod_ignores_the_nomination(scheduler: Scheduler) -> None:
    assert place(scheduler, PodInfo.of(pod("higher", 1000))) == "n1"


def test_the_nominated_pod_itself_fits(scheduler: Scheduler) -> None:
    assert place(scheduler, PodInfo.of(pod("preemptor", 100))) == "n1"


def test_the_cache_is_untouched_by_the_view(scheduler: Scheduler) -> None:
    with pytest.raises(FitError):
        place(scheduler, PodInfo.of(pod("low", 0)))
    info = scheduler.cache.node("n1")
    assert info is not None and info.cpu == 0 and info.pod_count == 0
    snapshot = scheduler._snapshot_now()
    assert snapshot.get("n1") is info
