"""Each score plugin against small tables, with kube's integer arithmetic and weights."""

from __future__ import annotations

import random

from servers.scheduler.framework import PodInfo, Profile, default_profile, schedule
from servers.scheduler.framework.algorithm import prioritize
from servers.scheduler.framework.cycle import Cycle
from servers.scheduler.framework.scores import (
    ResourceScorer,
    node_affinity_scores,
    normalize,
    taint_scores,
)
from tests.unit.scheduler.algo_builders import node, pod, snapshot, taint

CPU_MEM = (("cpu", 1), ("memory", 1))


def two_containers() -> dict:
    # least_allocated_test.go: 1000m/2000 + 2000m/3000 = 3000m cpu, 5000 bytes.
    p = pod("p", cpu="1000m", memory="2000")
    p["spec"]["containers"].append({"name": "d", "resources": {"requests": {
        "cpu": "2000m", "memory": "3000"}}})
    return p


def scores_of(scorer: ResourceScorer, p: dict, *nodes: dict) -> list[int]:
    snap = snapshot(*nodes)
    return scorer.scores(snap.node_list, PodInfo.of(p))


def test_least_allocated_differently_sized_nodes() -> None:
    scorer = ResourceScorer("LeastAllocated", CPU_MEM, 1, (), 0)
    got = scores_of(scorer, two_containers(), node("a", cpu="4", memory="10000"),
                    node("b", cpu="6", memory="10000"))
    assert got == [37, 50]


def test_most_allocated_and_weights() -> None:
    scorer = ResourceScorer("MostAllocated", CPU_MEM, 1, (), 0)
    got = scores_of(scorer, two_containers(), node("a", cpu="4", memory="10000"),
                    node("b", cpu="6", memory="10000"))
    assert got == [62, 50]  # (75 + 50) // 2, (50 + 50) // 2
    weighted = ResourceScorer("MostAllocated", (("cpu", 3), ("memory", 1)), 1, (), 0)
    assert scores_of(weighted, two_containers(), node("a", cpu="4", memory="10000")) == [68]


def test_requested_to_capacity_ratio_shape() -> None:
    scorer = ResourceScorer("RequestedToCapacityRatio", CPU_MEM, 1, (), 0,
                            ((0, 0), (100, 10)))
    # cpu 75% -> 75, memory 50% -> 50: rounded mean 62.5 -> 63.
    assert scores_of(scorer, two_containers(), node("a", cpu="4", memory="10000")) == [63]


def test_balanced_allocation() -> None:
    scorer = ResourceScorer("LeastAllocated", CPU_MEM, 0, CPU_MEM, 1)
    got = scores_of(scorer, two_containers(), node("a", cpu="4", memory="10000"),
                    node("b", cpu="6", memory="10000"))
    assert got == [87, 100]


def test_pods_without_requests_score_as_100m_and_200Mi() -> None:
    scorer = ResourceScorer("LeastAllocated", CPU_MEM, 1, (), 0)
    # cpu (1000-100)*100/1000 = 90; memory (1Gi-200Mi)*100/1Gi = 80 -> 85.
    assert scores_of(scorer, pod("p", cpu=None, memory=None),
                     node("a", cpu="1", memory="1Gi")) == [85]


def test_resource_scores_are_cached_until_the_node_changes() -> None:
    scorer = ResourceScorer("LeastAllocated", CPU_MEM, 1, CPU_MEM, 1)
    snap = snapshot(node("a", cpu="1", memory="1Gi"))
    incoming = PodInfo.of(pod("p", cpu="100m", memory="100Mi"))
    first = scorer.scores(snap.node_list, incoming)
    assert scorer.scores(snap.node_list, incoming) == first
    snap.node_list[0].add_pod(PodInfo.of(pod("e", cpu="500m", memory="100Mi")))
    assert scorer.scores(snap.node_list, incoming) != first


def test_taint_toleration_prefers_fewer_untolerated_prefer_no_schedule_taints() -> None:
    snap = snapshot(node("a"), node("b", taints=[taint("x", "1", "PreferNoSchedule")]),
                    node("c", taints=[taint("x", "1", "PreferNoSchedule"),
                                      taint("y", "2", "PreferNoSchedule")]))
    assert taint_scores(PodInfo.of(pod("p")), snap.node_list) == [100, 50, 0]
    tolerant = pod("p", tolerations=[{"key": "y", "operator": "Exists",
                                      "effect": "PreferNoSchedule"}])
    assert taint_scores(PodInfo.of(tolerant), snap.node_list) == [100, 0, 0]
    plain = snapshot(node("a"), node("b"))
    assert taint_scores(PodInfo.of(pod("p")), plain.node_list) is None  # all equal


def test_node_affinity_preferred_terms_normalized() -> None:
    prefs = [{"weight": 2, "preference": {"matchExpressions": [
                 {"key": "zone", "operator": "In", "values": ["a"]}]}},
             {"weight": 6, "preference": {"matchExpressions": [
                 {"key": "disk", "operator": "Exists"}]}}]
    p = PodInfo.of(pod("p", affinity={"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": prefs}}))
    snap = snapshot(node("a", labels={"zone": "a"}), node("b", labels={"disk": "ssd"}),
                    node("c", labels={"zone": "a", "disk": "ssd"}), node("d"))
    assert node_affinity_scores(p, snap.node_list) == [25, 75, 100, 0]
    assert node_affinity_scores(PodInfo.of(pod("q")), snap.node_list) is None


def test_default_normalize_score() -> None:
    assert normalize([0, 0], reverse=True) == [100, 100]
    assert normalize([1, 3], reverse=False) == [33, 100]


def spread_pod(name: str, when: str = "ScheduleAnyway") -> dict:
    return pod(name, labels={"app": "web"}, topologySpreadConstraints=[{
        "maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": when,
        "labelSelector": {"matchLabels": {"app": "web"}}}])


def test_spread_score_prefers_the_emptier_zone() -> None:
    web = {"labels": {"app": "web"}}
    snap = snapshot(node("a1", labels={"zone": "a"}), node("b1", labels={"zone": "b"}),
                    placed={"a1": [pod("w1", **web), pod("w2", **web)]})
    profile = Profile(scores={"PodTopologySpread": 1})
    cycle = Cycle(profile, PodInfo.of(spread_pod("p")), snap)
    # raw: a = 2*log(4) = 2.77 -> 3, b = 0; normalized 100*(3+0-s)/3.
    assert prioritize(cycle, snap.node_list) == [0, 100]


def test_system_default_spread_applies_to_pods_a_service_selects() -> None:
    from servers.scheduler.framework import Objects
    web = {"labels": {"app": "web"}}
    snap = snapshot(node("a"), node("b"), placed={"a": [pod("w1", **web)]})
    profile = Profile(scores={"PodTopologySpread": 1})
    service = {"metadata": {"name": "s", "namespace": "default"},
               "spec": {"selector": {"app": "web"}}}
    cycle = Cycle(profile, PodInfo.of(pod("p", **web)), snap, Objects(services=[service]))
    # hostname (maxSkew 3): a = 1*log(1+1+2) + 2 = 3.39 -> 3, b = 2; 100*(3+2-s)/3.
    # zone (maxSkew 5): no node has the label, so it adds nothing.
    assert prioritize(cycle, snap.node_list) == [66, 100]
    alone = Cycle(profile, PodInfo.of(pod("p", **web)), snap)
    assert prioritize(alone, snap.node_list) == [0, 0]


def test_preferred_pod_affinity_and_anti_affinity() -> None:
    def term(weight: int) -> dict:
        return {"weight": weight, "podAffinityTerm": {
            "labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}}
    snap = snapshot(node("a1", labels={"zone": "a"}), node("b1", labels={"zone": "b"}),
                    node("c1", labels={"zone": "c"}),
                    placed={"a1": [pod("db", labels={"app": "db"})]})
    profile = Profile(scores={"InterPodAffinity": 1})
    near = pod("p", affinity={"podAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [term(10)]}})
    assert prioritize(Cycle(profile, PodInfo.of(near), snap), snap.node_list) == [100, 0, 0]
    far = pod("p", affinity={"podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [term(10)]}})
    assert prioritize(Cycle(profile, PodInfo.of(far), snap), snap.node_list) == [0, 100, 100]


def test_existing_pods_required_affinity_attracts_matching_pods() -> None:
    follower = pod("f", affinity={"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}]}})
    snap = snapshot(node("a1", labels={"zone": "a"}), node("b1", labels={"zone": "b"}),
                    placed={"b1": [follower]})
    profile = Profile(scores={"InterPodAffinity": 1})
    web = PodInfo.of(pod("p", labels={"app": "web"}))
    assert prioritize(Cycle(profile, web, snap), snap.node_list) == [0, 100]


def test_weighted_sum_picks_the_best_node() -> None:
    # Same resources; the PreferNoSchedule taint (weight 3) decides.
    snap = snapshot(node("a", taints=[taint("x", "1", "PreferNoSchedule")]), node("b"))
    got = {schedule(default_profile(), PodInfo.of(pod(f"p{i}")), snap,
                    rng=random.Random(i)).node_name for i in range(10)}
    assert got == {"b"}


def test_system_default_spread_over_hostnames_and_zones() -> None:
    from servers.scheduler.framework import Objects
    web = {"labels": {"app": "web"}}
    snap = snapshot(node("a1", labels={"topology.kubernetes.io/zone": "a"}),
                    node("a2", labels={"topology.kubernetes.io/zone": "a"}),
                    node("b1", labels={"topology.kubernetes.io/zone": "b"}),
                    placed={"a1": [pod("w1", **web)]})
    service = {"metadata": {"name": "s", "namespace": "default"},
               "spec": {"selector": {"app": "web"}}}
    cycle = Cycle(Profile(scores={"PodTopologySpread": 1}), PodInfo.of(pod("p", **web)), snap,
                  Objects(services=[service]))
    # hostname: cnt*log(3+2) + 2; zone: cnt*log(2+2) + 4.
    # a1 = 3.61 + 5.39 -> 9, a2 = 2 + 5.39 -> 7, b1 = 2 + 4 = 6; 100*(9+6-s)//9.
    scores = prioritize(cycle, snap.node_list)
    assert dict(zip([n.name for n in snap.node_list], scores, strict=True)) == {
        "a1": 66, "a2": 88, "b1": 100}


def test_image_locality_prefers_nodes_that_have_the_images() -> None:
    from servers.scheduler.framework.scores import image_locality_scores
    with_image = node("a")
    with_image["status"]["images"] = [{"names": ["docker.io/library/nginx:1.25", "nginx:1.25"],
                                       "sizeBytes": 500 * 1024 * 1024},
                                      {"names": ["busybox:latest"], "sizeBytes": 5 * 1024}]
    snap = snapshot(with_image, node("b"), node("c"))
    p = PodInfo.of(pod("p"))
    p_nginx = PodInfo.of({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "nginx:1.25"}]}})
    # 500 MiB seen on 1 of 3 nodes -> 166.7 MiB; (166.7 - 23) * 100 // (1000 - 23) = 14.
    assert image_locality_scores(p_nginx, snap.node_list, snap) == [14, 0, 0]
    small = PodInfo.of({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "busybox"}]}})  # busybox:latest, below the 23 MiB floor
    assert image_locality_scores(small, snap.node_list, snap) == [0, 0, 0]
    assert image_locality_scores(p, snapshot(node("a")).node_list, snapshot(node("a"))) is None
