"""schedule(): the scan, percentageOfNodesToScore, the FitError message, tie-breaking."""

from __future__ import annotations

import random

import pytest

from servers.scheduler.framework import (
    FitError,
    PodInfo,
    Profile,
    default_profile,
    num_feasible_nodes_to_find,
    schedule,
)
from tests.unit.scheduler.algo_builders import node, pod, snapshot, taint


@pytest.mark.parametrize(("nodes", "percentage", "expected"), [
    (50, 0, 50), (99, 0, 99), (100, 0, 100), (500, 0, 230), (1000, 0, 420),
    (5000, 0, 500), (5625, 0, 281), (6000, 0, 300), (10000, 0, 500), (15000, 0, 750),
    (500, 10, 100), (5000, 50, 2500), (5000, 100, 5000), (80, 10, 80),
])
def test_adaptive_percentage_of_nodes_to_score(nodes: int, percentage: int,
                                               expected: int) -> None:
    assert num_feasible_nodes_to_find(percentage, nodes) == expected


def many(count: int, **kw: str) -> list[dict]:
    return [node(f"n{i:04d}", **kw) for i in range(count)]


def test_scan_stops_at_enough_feasible_nodes_and_rotates() -> None:
    snap = snapshot(*many(500))
    profile = default_profile()
    first = schedule(profile, PodInfo.of(pod("a")), snap, rng=random.Random(0))
    assert (first.evaluated_nodes, first.feasible_nodes, first.next_start_index) == (230, 230, 230)
    second = schedule(profile, PodInfo.of(pod("b")), snap, start_index=first.next_start_index,
                      rng=random.Random(0))
    assert second.next_start_index == 460
    third = schedule(profile, PodInfo.of(pod("c")), snap, start_index=460, rng=random.Random(0))
    assert third.next_start_index == 190  # wraps around
    assert int(third.node_name[1:]) >= 460 or int(third.node_name[1:]) < 190


def test_rejected_nodes_count_as_evaluated() -> None:
    snap = snapshot(*[node(f"small{i:03d}", cpu="100m") for i in range(50)], *many(100))
    result = schedule(default_profile(), PodInfo.of(pod("p", cpu="500m")), snap,
                      rng=random.Random(0))
    # 150 nodes: all must be looked at (100 feasible wanted, 100 exist).
    assert (result.evaluated_nodes, result.feasible_nodes) == (150, 100)
    assert not result.node_name.startswith("small")


def test_profile_percentage_is_used() -> None:
    snap = snapshot(*many(1000))
    profile = Profile(percentage_of_nodes_to_score=20)
    result = schedule(profile, PodInfo.of(pod("p")), snap, rng=random.Random(0))
    assert result.feasible_nodes == 200


def test_without_score_plugins_the_first_feasible_node_wins() -> None:
    snap = snapshot(node("a", cpu="100m"), node("b"), node("c"))
    result = schedule(Profile(scores={}), PodInfo.of(pod("p", cpu="1")), snap)
    assert (result.node_name, result.evaluated_nodes, result.next_start_index) == ("b", 2, 2)


def test_ties_are_broken_at_random_and_seedable() -> None:
    snap = snapshot(*many(10))
    chosen = [schedule(default_profile(), PodInfo.of(pod("p")), snap,
                       rng=random.Random(seed)).node_name for seed in range(40)]
    assert len(set(chosen)) > 3
    again = [schedule(default_profile(), PodInfo.of(pod("p")), snap,
                      rng=random.Random(seed)).node_name for seed in range(40)]
    assert chosen == again


def test_least_allocated_spreads_pods() -> None:
    snap = snapshot(*many(4))
    for i in range(8):
        info = PodInfo.of(pod(f"p{i}", cpu="1", memory="1Gi"))
        result = schedule(default_profile(), info, snap, rng=random.Random(i))
        snap.get(result.node_name).add_pod(info)
    assert sorted(n.pod_count for n in snap.node_list) == [2, 2, 2, 2]


def fit_message(p: dict, *nodes: dict, placed: dict | None = None) -> str:
    with pytest.raises(FitError) as caught:
        schedule(default_profile(), PodInfo.of(p), snapshot(*nodes, placed=placed))
    return caught.value.message


def test_fit_error_message_is_kubes() -> None:
    got = fit_message(pod("p", cpu="2"), node("a", cpu="1"),
                      node("b", taints=[taint("node-role.kubernetes.io/control-plane")]),
                      node("c", taints=[taint("node-role.kubernetes.io/control-plane")]))
    assert got == ("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated "
                   "taint {node-role.kubernetes.io/control-plane: }.")


def test_fit_error_items_sort_as_whole_strings() -> None:
    nodes = [node(f"t{i}", taints=[taint("k", "v")]) for i in range(10)]
    nodes += [node("c0", cpu="1"), node("c1", cpu="1")]
    got = fit_message(pod("p", cpu="2", memory="64Gi"), *nodes)
    assert got == ("0/12 nodes are available: 10 node(s) had untolerated taint {k: v}, "
                   "2 Insufficient cpu, 2 Insufficient memory.")


def test_fit_error_carries_the_diagnosis() -> None:
    with pytest.raises(FitError) as caught:
        schedule(default_profile(), PodInfo.of(pod("p", cpu="2")),
                 snapshot(node("a", cpu="1"), node("b", unschedulable=True)))
    error = caught.value
    assert error.diagnosis["a"].reasons == ("Insufficient cpu",)
    assert error.diagnosis["b"].unresolvable
    assert str(error) == error.message


def test_nominated_node_is_tried_first() -> None:
    snap = snapshot(*many(200))
    p = pod("p")
    p["status"] = {"nominatedNodeName": "n0150"}
    result = schedule(default_profile(), PodInfo.of(p), snap, rng=random.Random(0))
    assert (result.node_name, result.evaluated_nodes) == ("n0150", 1)


def test_a_prefer_no_schedule_taint_added_later_is_seen() -> None:
    snap = snapshot(node("a"), node("b"))
    snap.get("a").set_node(node("a", taints=[taint("x", "1", "PreferNoSchedule")]))
    got = {schedule(default_profile(), PodInfo.of(pod(f"p{i}")), snap,
                    rng=random.Random(i)).node_name for i in range(10)}
    assert got == {"b"}
