"""The scheduler's cache: assume, forget, confirm; nodes coming and going; pods before nodes."""

from __future__ import annotations

from typing import Any

import pytest

from servers.scheduler.cache import SchedulerCache
from servers.scheduler.framework.podinfo import PodInfo


def node(name: str, cpu: str = "4") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}}


def pod(name: str, node_name: str = "", cpu: str = "500m") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {
        "requests": {"cpu": cpu}}}]}
    if node_name:
        spec["nodeName"] = node_name
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"}, "spec": spec}


@pytest.fixture
def cache() -> SchedulerCache:
    made = SchedulerCache()
    made.add_node(node("n1"))
    made.add_node(node("n2"))
    return made


def cpu_on(cache: SchedulerCache, name: str) -> int:
    info = cache.node(name)
    assert info is not None
    return info.cpu


def test_an_assumed_pod_counts_at_once(cache: SchedulerCache) -> None:
    info = PodInfo.of(pod("a"))
    cache.assume(info, "n1")
    assert cpu_on(cache, "n1") == 500
    assert cache.is_assumed(pod("a"))


def test_forget_takes_the_assumption_back(cache: SchedulerCache) -> None:
    info = PodInfo.of(pod("a"))
    cache.assume(info, "n1")
    cache.forget(info)
    assert cpu_on(cache, "n1") == 0
    assert not cache.is_assumed(pod("a"))
    assert cache.pod_count() == 0


def test_the_informer_confirms_an_assumption(cache: SchedulerCache) -> None:
    info = PodInfo.of(pod("a"))
    cache.assume(info, "n1")
    cache.add_pod(pod("a", "n1"))
    assert not cache.is_assumed(pod("a"))
    assert cpu_on(cache, "n1") == 500
    cache.forget(info)  # a late failure of the same binding changes nothing now
    assert cpu_on(cache, "n1") == 500


def test_a_pod_bound_elsewhere_moves(cache: SchedulerCache) -> None:
    cache.assume(PodInfo.of(pod("a")), "n1")
    cache.add_pod(pod("a", "n2"))
    assert (cpu_on(cache, "n1"), cpu_on(cache, "n2")) == (0, 500)


def test_assuming_twice_is_refused(cache: SchedulerCache) -> None:
    cache.assume(PodInfo.of(pod("a")), "n1")
    with pytest.raises(ValueError, match="already in the cache"):
        cache.assume(PodInfo.of(pod("a")), "n2")


def test_a_deleted_pod_leaves_its_node(cache: SchedulerCache) -> None:
    cache.add_pod(pod("a", "n1"))
    cache.assume(PodInfo.of(pod("b")), "n1")
    cache.remove_pod(pod("a", "n1"))
    cache.remove_pod(pod("b"))
    assert cpu_on(cache, "n1") == 0
    assert cache.pod_count() == 0


def test_update_counts_the_newer_object(cache: SchedulerCache) -> None:
    cache.add_pod(pod("a", "n1"))
    cache.update_pod(pod("a", "n1", cpu="2"))
    assert cpu_on(cache, "n1") == 2000


def test_pods_before_their_node_count_once_it_joins() -> None:
    cache = SchedulerCache()
    cache.add_pod(pod("a", "late"))
    assert cache.node_names() == []
    assert "late" not in cache.nodes()
    generation = cache.node_generation
    cache.add_node(node("late"))
    assert cache.node_generation > generation
    assert cpu_on(cache, "late") == 500


def test_a_removed_node_waits_for_its_pods(cache: SchedulerCache) -> None:
    cache.add_pod(pod("a", "n1"))
    cache.remove_node(node("n1"))
    assert cache.node_names() == ["n2"]
    assert cache.node("n1") is None
    cache.remove_pod(pod("a", "n1"))
    cache.add_node(node("n1"))
    assert cpu_on(cache, "n1") == 0


def test_node_updates_keep_the_record(cache: SchedulerCache) -> None:
    before = cache.node("n1")
    generation = cache.node_generation
    cache.update_node(node("n1", cpu="8"))
    assert cache.node("n1") is before
    assert before is not None and before.alloc_cpu == 8000
    assert cache.node_generation == generation  # the snapshot shares the record
