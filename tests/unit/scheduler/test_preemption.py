"""DefaultPreemption: victims, the node chosen, PDBs and the "preemption: ..." messages."""

from __future__ import annotations

import random

import pytest

from servers.scheduler.framework import (
    FitError,
    PodInfo,
    Preemption,
    Profile,
    Snapshot,
    default_profile,
    preempt,
    schedule,
)
from tests.unit.scheduler.algo_builders import node, pod, snapshot, taint


def attempt(p: dict, snap: Snapshot, pdbs: tuple = (), profile: Profile | None = None
            ) -> tuple[Preemption | None, str]:
    """Schedule ``p`` (it must not fit), then preempt: (result, full message)."""
    profile = profile or default_profile()
    info = PodInfo.of(p)
    with pytest.raises(FitError) as caught:
        schedule(profile, info, snap)
    result = preempt(profile, info, snap, caught.value, pdbs, rng=random.Random(0))
    return result, caught.value.message


def names(result: Preemption | None) -> list[str]:
    assert result is not None
    return [v.name for v in result.victims]


def test_lowest_priority_pods_go_and_the_rest_are_reprieved() -> None:
    snap = snapshot(node("a", cpu="1"), placed={"a": [
        pod("low", cpu="400m", priority=1), pod("mid", cpu="400m", priority=5)]})
    result, message = attempt(pod("p", cpu="500m", priority=10), snap)
    assert result is not None and result.node_name == "a"
    assert names(result) == ["low"]
    assert message == "0/1 nodes are available: 1 Insufficient cpu."


def test_victims_are_listed_lowest_priority_first() -> None:
    snap = snapshot(node("a", cpu="1"), placed={"a": [
        pod("mid", cpu="400m", priority=5), pod("low", cpu="400m", priority=1)]})
    result, _ = attempt(pod("p", cpu="1", priority=10), snap)
    assert names(result) == ["low", "mid"]


def test_node_with_the_lowest_highest_victim_priority_is_chosen() -> None:
    snap = snapshot(node("a", cpu="1"), node("b", cpu="1"), placed={
        "a": [pod("a5", cpu="1", priority=5)], "b": [pod("b1", cpu="1", priority=1)]})
    result, _ = attempt(pod("p", cpu="1", priority=10), snap)
    assert result is not None and (result.node_name, names(result)) == ("b", ["b1"])


def test_fewer_victims_win_when_priorities_tie() -> None:
    snap = snapshot(node("a", cpu="1"), node("b", cpu="1"), placed={
        "a": [pod("a1", cpu="500m", priority=1), pod("a2", cpu="500m", priority=1)],
        "b": [pod("b1", cpu="1", priority=1)]})
    result, _ = attempt(pod("p", cpu="1", priority=10), snap)
    assert result is not None and result.node_name == "b"


def test_pdb_violations_weigh_more_than_priorities() -> None:
    guarded = {"app": "db"}
    snap = snapshot(node("a", cpu="1"), node("b", cpu="1"), placed={
        "a": [pod("db", cpu="1", priority=1, labels=guarded)],
        "b": [pod("web", cpu="1", priority=5)]})
    pdb = {"metadata": {"name": "db", "namespace": "default"},
           "spec": {"selector": {"matchLabels": guarded}},
           "status": {"disruptionsAllowed": 0}}
    result, _ = attempt(pod("p", cpu="1", priority=10), snap, pdbs=(pdb,))
    assert result is not None and (result.node_name, result.pdb_violations) == ("b", 0)
    allowed = dict(pdb, status={"disruptionsAllowed": 1})
    result, _ = attempt(pod("p", cpu="1", priority=10), snap, pdbs=(allowed,))
    assert result is not None and result.node_name == "a"


def test_only_violating_node_is_still_used() -> None:
    guarded = {"app": "db"}
    snap = snapshot(node("a", cpu="1"), placed={"a": [pod("db", cpu="1", priority=1,
                                                          labels=guarded)]})
    pdb = {"metadata": {"namespace": "default"}, "spec": {"selector": {"matchLabels": guarded}},
           "status": {"disruptionsAllowed": 0}}
    result, _ = attempt(pod("p", cpu="1", priority=10), snap, pdbs=(pdb,))
    assert result is not None and result.pdb_violations == 1


def test_messages_when_preemption_cannot_help() -> None:
    snap = snapshot(node("a", cpu="1"), node("b", taints=[taint("k")]),
                    node("c", taints=[taint("k")]),
                    placed={"a": [pod("same", cpu="1", priority=10)]})
    result, message = attempt(pod("p", cpu="1", priority=10), snap)
    assert result is None
    assert message == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
        "{k: }. preemption: 0/3 nodes are available: 1 No preemption victims found for "
        "incoming pod, 2 Preemption is not helpful for scheduling.")


def test_still_too_big_after_removing_every_lower_pod() -> None:
    snap = snapshot(node("a", cpu="1"), placed={"a": [pod("low", cpu="500m", priority=1)]})
    result, message = attempt(pod("p", cpu="2", priority=10), snap)
    assert result is None
    assert message.endswith(" preemption: 0/1 nodes are available: 1 Insufficient cpu.")


def test_preemption_policy_never() -> None:
    snap = snapshot(node("a", cpu="1"), placed={"a": [pod("low", cpu="1", priority=1)]})
    result, message = attempt(pod("p", cpu="1", priority=10, preemptionPolicy="Never"), snap)
    assert result is None
    assert message == ("0/1 nodes are available: 1 Insufficient cpu. "
                       "preemption: not eligible due to preemptionPolicy=Never.")


def test_disabled_preemption_adds_nothing() -> None:
    snap = snapshot(node("a", cpu="1"), placed={"a": [pod("low", cpu="1", priority=1)]})
    profile = Profile(post_filters=())
    result, message = attempt(pod("p", cpu="1", priority=10), snap, profile=profile)
    assert result is None
    assert message == "0/1 nodes are available: 1 Insufficient cpu."


def test_host_port_conflicts_can_be_preempted() -> None:
    def with_port(name: str, priority: int) -> dict:
        p = pod(name, priority=priority)
        p["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 80}]
        return p
    snap = snapshot(node("a"), placed={"a": [with_port("old", 1)]})
    result, _ = attempt(with_port("new", 10), snap)
    assert names(result) == ["old"]


def test_anti_affinity_to_a_lower_priority_pod_is_resolved_by_evicting_it() -> None:
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": {"app": "x"}},
        "topologyKey": "kubernetes.io/hostname"}]}}
    snap = snapshot(node("a"), placed={"a": [pod("x1", priority=1, labels={"app": "x"}),
                                             pod("other", priority=1)]})
    result, message = attempt(pod("p", priority=10, affinity=anti), snap)
    assert message == "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules."
    assert names(result) == ["x1"]


def test_terminating_victim_on_the_nominated_node_blocks_more_preemption() -> None:
    leaving = pod("leaving", cpu="1", priority=1)
    leaving["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    leaving["status"] = {"conditions": [{"type": "DisruptionTarget", "status": "True",
                                         "reason": "PreemptionByScheduler"}]}
    snap = snapshot(node("a", cpu="1"), placed={"a": [leaving]})
    p = pod("p", cpu="1", priority=10)
    p["status"] = {"nominatedNodeName": "a"}
    result, message = attempt(p, snap)
    assert result is None
    assert message.endswith(
        "preemption: not eligible due to a terminating pod on the nominated node.")


def test_preemption_leaves_the_cluster_untouched() -> None:
    snap = snapshot(node("a", cpu="1"), placed={"a": [pod("low", cpu="1", priority=1)]})
    attempt(pod("p", cpu="1", priority=10), snap)
    assert [p.name for p in snap.get("a").pods] == ["low"]
    assert snap.get("a").requested["cpu"] == 1000


def test_spread_constraints_hold_during_preemption() -> None:
    web = {"app": "web"}
    spread = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": web}}]
    snap = snapshot(node("a1", cpu="1", labels={"zone": "a"}),
                    node("b1", cpu="1", labels={"zone": "b"}),
                    placed={"a1": [pod("w1", cpu="100m", labels=web, priority=100),
                                   pod("w2", cpu="100m", labels=web, priority=100)],
                            "b1": [pod("filler", cpu="1", priority=1)]})
    result, message = attempt(pod("p", cpu="500m", labels=web, priority=10,
                                  topologySpreadConstraints=spread), snap)
    assert message == ("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match "
                       "pod topology spread constraints.")
    assert result is not None and (result.node_name, names(result)) == ("b1", ["filler"])
