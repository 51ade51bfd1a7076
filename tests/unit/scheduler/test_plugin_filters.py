"""Each filter against small tables of nodes and pods, with kube's reason strings."""

from __future__ import annotations

import random

import pytest

from servers.scheduler.framework import (
    FitError,
    NodeInfo,
    PodInfo,
    Profile,
    Snapshot,
    default_profile,
    schedule,
)
from servers.scheduler.framework.cycle import Cycle
from servers.scheduler.framework.status import UNRESOLVABLE, UNSCHEDULABLE
from tests.unit.scheduler.algo_builders import node, pod, snapshot, taint

Obj = dict


def reasons(p: Obj, *nodes: Obj, placed: dict | None = None,
            profile: Profile | None = None) -> dict[str, tuple[str, ...]]:
    """Each node's rejection reasons for ``p`` (an empty tuple: it fits)."""
    snap = snapshot(*nodes, placed=placed)
    cycle = Cycle(profile or default_profile(), PodInfo.of(p), snap)
    out = {}
    for info in snap.node_list:
        status = cycle.run_filters(info)
        out[info.name] = () if status is None else status.reasons
    return out


def fits(p: Obj, *nodes: Obj, **kw: object) -> list[str]:
    return [name for name, why in reasons(p, *nodes, **kw).items() if not why]  # type: ignore[arg-type]


# -- NodeUnschedulable, NodeName ------------------------------------------------------------

def test_cordoned_node_is_unschedulable_unless_tolerated() -> None:
    nodes = (node("a", unschedulable=True), node("b"))
    assert reasons(pod("p"), *nodes)["a"] == ("node(s) were unschedulable",)
    tolerant = pod("p", tolerations=[{"key": "node.kubernetes.io/unschedulable",
                                      "operator": "Exists", "effect": "NoSchedule"}])
    assert fits(tolerant, *nodes) == ["a", "b"]


def test_node_name_pins_the_pod() -> None:
    got = reasons(pod("p", nodeName="b"), node("a"), node("b"))
    assert got == {"a": ("node(s) didn't match the requested node name",), "b": ()}


# -- TaintToleration ------------------------------------------------------------------------

@pytest.mark.parametrize(("taints", "tolerations", "ok"), [
    ([taint("k", "v")], [], False),
    ([taint("k", "v", "NoExecute")], [], False),
    ([taint("k", "v", "PreferNoSchedule")], [], True),
    ([taint("k", "v")], [{"key": "k", "operator": "Equal", "value": "v"}], True),
    ([taint("k", "v")], [{"key": "k", "value": "v"}], True),  # "" operator means Equal
    ([taint("k", "v")], [{"key": "k", "operator": "Equal", "value": "w"}], False),
    ([taint("k", "v")], [{"key": "k", "operator": "Exists"}], True),
    ([taint("k", "v")], [{"operator": "Exists"}], True),  # empty key + Exists: everything
    ([taint("k", "v")], [{"key": "k", "operator": "Exists", "effect": "NoExecute"}], False),
    ([taint("k", "v", "NoExecute")], [{"key": "k", "operator": "Exists",
                                       "effect": "NoExecute"}], True),
    ([taint("k", "v")], [{"key": "k", "operator": "Gt", "value": "v"}], False),
])
def test_taint_toleration(taints: list, tolerations: list, ok: bool) -> None:
    got = reasons(pod("p", tolerations=tolerations), node("a", taints=taints))["a"]
    assert (got == ()) is ok


def test_taint_reason_names_the_first_untolerated_taint() -> None:
    n = node("a", taints=[taint("x", "1"), taint("node.kubernetes.io/unreachable", "",
                                                  "NoExecute")])
    tolerate_x = [{"key": "x", "operator": "Exists"}]
    assert reasons(pod("p"), n)["a"] == ("node(s) had untolerated taint {x: 1}",)
    assert reasons(pod("p", tolerations=tolerate_x), n)["a"] == (
        "node(s) had untolerated taint {node.kubernetes.io/unreachable: }",)


# -- NodeAffinity ---------------------------------------------------------------------------

def affinity(*terms: Obj) -> Obj:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}


def expr(key: str, op: str, *values: str) -> Obj:
    return {"matchExpressions": [{"key": key, "operator": op, "values": list(values)}]}


ZONED = (node("a", labels={"zone": "z1", "cores": "8"}), node("b", labels={"zone": "z2"}),
         node("c", labels={"cores": "2"}))


@pytest.mark.parametrize(("term", "expected"), [
    (expr("zone", "In", "z1", "z3"), ["a"]),
    (expr("zone", "NotIn", "z1"), ["b", "c"]),
    (expr("zone", "Exists"), ["a", "b"]),
    (expr("zone", "DoesNotExist"), ["c"]),
    (expr("cores", "Gt", "4"), ["a"]),
    (expr("cores", "Lt", "4"), ["c"]),
    (expr("cores", "Gt", "four"), []),  # does not parse: matches nothing
    (expr("zone", "In"), []),  # In without values does not parse
    ({}, []),  # an empty term matches nothing
    ({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}, ["b"]),
    ({"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["b"]}]},
     ["a", "c"]),
])
def test_required_node_affinity_operators(term: Obj, expected: list[str]) -> None:
    assert fits(pod("p", affinity=affinity(term)), *ZONED) == expected


def test_terms_are_ored_and_expressions_anded() -> None:
    both = {"matchExpressions": [{"key": "zone", "operator": "Exists"},
                                 {"key": "cores", "operator": "Exists"}]}
    assert fits(pod("p", affinity=affinity(both)), *ZONED) == ["a"]
    either = affinity(expr("zone", "In", "z2"), expr("cores", "In", "2"))
    assert fits(pod("p", affinity=either), *ZONED) == ["b", "c"]


def test_node_selector_and_affinity_both_apply() -> None:
    p = pod("p", nodeSelector={"zone": "z1"}, affinity=affinity(expr("cores", "Exists")))
    got = reasons(p, *ZONED)
    assert got["a"] == ()
    assert got["b"] == ("node(s) didn't match Pod's node affinity/selector",)


# -- NodePorts ------------------------------------------------------------------------------

def with_port(name: str, host_port: int, protocol: str = "TCP", ip: str = "") -> Obj:
    p = pod(name)
    port = {"containerPort": 80, "hostPort": host_port, "protocol": protocol}
    if ip:
        port["hostIP"] = ip
    p["spec"]["containers"][0]["ports"] = [port]
    return p


@pytest.mark.parametrize(("existing", "incoming", "conflict"), [
    (with_port("e", 80), with_port("p", 80), True),
    (with_port("e", 80), with_port("p", 81), False),
    (with_port("e", 80, "UDP"), with_port("p", 80), False),
    (with_port("e", 80, ip="127.0.0.1"), with_port("p", 80, ip="127.0.0.2"), False),
    (with_port("e", 80, ip="127.0.0.1"), with_port("p", 80), True),  # 0.0.0.0 vs any IP
    (with_port("e", 80), with_port("p", 80, ip="127.0.0.2"), True),
    (pod("e"), with_port("p", 80), False),
])
def test_host_port_conflicts(existing: Obj, incoming: Obj, conflict: bool) -> None:
    got = reasons(incoming, node("a"), placed={"a": [existing]})["a"]
    assert got == (("node(s) didn't have free ports for the requested pod ports",)
                   if conflict else ())


# -- NodeResourcesFit -----------------------------------------------------------------------

def test_insufficient_resources_list_every_reason() -> None:
    got = reasons(pod("p", cpu="3", memory="2Gi"), node("a", cpu="4", memory="3Gi"),
                  placed={"a": [pod("e", cpu="2", memory="2Gi")]})
    assert got["a"] == ("Insufficient cpu", "Insufficient memory")


def test_zero_request_pods_still_count_against_the_pod_limit() -> None:
    empty = pod("p", cpu=None, memory=None)
    full = {"a": [pod("e1", cpu=None, memory=None), pod("e2", cpu=None, memory=None)]}
    assert reasons(empty, node("a", pods="2"), placed=full)["a"] == ("Too many pods",)
    assert reasons(empty, node("a", pods="3"), placed=full)["a"] == ()


def test_init_containers_count_as_kube_computes_them() -> None:
    p = pod("p", cpu="500m")
    p["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"cpu": "2"}}}]
    assert reasons(p, node("a", cpu="1"))["a"] == ("Insufficient cpu",)
    assert reasons(p, node("a", cpu="2"))["a"] == ()


def test_extended_and_ephemeral_resources() -> None:
    p = pod("p")
    p["spec"]["containers"][0]["resources"]["requests"].update(
        {"example.com/gpu": "1", "ephemeral-storage": "1Gi"})
    got = reasons(p, node("a", **{"ephemeral-storage": "10Gi"}),
                  node("b", **{"example.com/gpu": "2", "ephemeral-storage": "512Mi"}))
    assert got == {"a": ("Insufficient example.com/gpu",),
                   "b": ("Insufficient ephemeral-storage",)}


def test_first_failing_filter_wins() -> None:
    # NodeUnschedulable runs before NodeResourcesFit: only its reason is reported.
    got = reasons(pod("p", cpu="8"), node("a", unschedulable=True))
    assert got["a"] == ("node(s) were unschedulable",)


def test_statuses_say_whether_preemption_could_help() -> None:
    snap = snapshot(node("a", taints=[taint("k")]), node("b", cpu="1"))
    cycle = Cycle(default_profile(), PodInfo.of(pod("p", cpu="2")), snap)
    assert cycle.run_filters(snap.node_list[0]).code == UNRESOLVABLE
    assert cycle.run_filters(snap.node_list[1]).code == UNSCHEDULABLE


# -- PodTopologySpread ----------------------------------------------------------------------

def spread(key: str, skew: int = 1, when: str = "DoNotSchedule", **extra: object) -> Obj:
    return {"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}}, **extra}


def web(name: str, **kw: object) -> Obj:
    return pod(name, labels={"app": "web"}, **kw)


ZONES = (node("a1", labels={"zone": "a"}), node("a2", labels={"zone": "a"}),
         node("b1", labels={"zone": "b"}), node("x"))


def test_spread_rejects_the_crowded_domain_and_nodes_without_the_key() -> None:
    placed = {"a1": [web("w1")], "a2": [web("w2")], "b1": [web("w3")]}
    got = reasons(web("p", topologySpreadConstraints=[spread("zone")]), *ZONES, placed=placed)
    assert got == {"a1": ("node(s) didn't match pod topology spread constraints",),
                   "a2": ("node(s) didn't match pod topology spread constraints",),
                   "b1": (),
                   "x": ("node(s) didn't match pod topology spread constraints "
                         "(missing required label)",)}


def test_spread_counts_only_matching_pods_of_the_namespace() -> None:
    placed = {"a1": [web("w1"), web("o", namespace="other"), pod("plain")]}
    got = fits(web("p", topologySpreadConstraints=[spread("zone")]), *ZONES[:3],
               placed=placed)
    assert got == ["b1"]
    more_skew = web("p", topologySpreadConstraints=[spread("zone", skew=2)])
    assert fits(more_skew, *ZONES[:3], placed=placed) == ["a1", "a2", "b1"]


def test_spread_schedule_anyway_never_filters() -> None:
    placed = {"a1": [web("w1"), web("w2")]}
    soft = web("p", topologySpreadConstraints=[spread("zone", when="ScheduleAnyway")])
    assert fits(soft, *ZONES, placed=placed) == ["a1", "a2", "b1", "x"]


def test_spread_min_domains_makes_the_global_minimum_zero() -> None:
    placed = {"a1": [web("w1")], "b1": [web("w2")]}
    plain = web("p", topologySpreadConstraints=[spread("zone")])
    assert fits(plain, *ZONES[:3], placed=placed) == ["a1", "a2", "b1"]
    three = web("p", topologySpreadConstraints=[spread("zone", minDomains=3)])
    assert fits(three, *ZONES[:3], placed=placed) == []


def test_spread_honors_node_affinity_when_counting() -> None:
    # Zone b is outside the pod's node affinity, so its empty domain is not the minimum.
    placed = {"a1": [web("w1")]}
    p = web("p", topologySpreadConstraints=[spread("zone")], nodeSelector={"zone": "a"})
    assert fits(p, *ZONES[:3], placed=placed) == ["a1", "a2"]


# -- InterPodAffinity -----------------------------------------------------------------------

def pod_affinity(kind: str, key: str, labels: dict[str, str], **term: object) -> Obj:
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": labels}, "topologyKey": key, **term}]}}


def test_required_affinity_follows_matching_pods_in_the_domain() -> None:
    p = pod("p", affinity=pod_affinity("podAffinity", "zone", {"app": "db"}))
    placed = {"a1": [pod("db", labels={"app": "db"})]}
    got = reasons(p, *ZONES, placed=placed)
    assert got == {"a1": (), "a2": (), "b1": ("node(s) didn't match pod affinity rules",),
                   "x": ("node(s) didn't match pod affinity rules",)}


def test_first_pod_of_a_self_affine_group_may_go_anywhere_with_the_key() -> None:
    p = web("p", affinity=pod_affinity("podAffinity", "zone", {"app": "web"}))
    assert fits(p, *ZONES) == ["a1", "a2", "b1"]
    stranger = pod("q", affinity=pod_affinity("podAffinity", "zone", {"app": "web"}))
    assert fits(stranger, *ZONES) == []


def test_affinity_namespaces_default_to_the_pods_own() -> None:
    p = pod("p", affinity=pod_affinity("podAffinity", "zone", {"app": "db"}))
    placed = {"a1": [pod("db", labels={"app": "db"}, namespace="other")]}
    assert fits(p, *ZONES, placed=placed) == []
    listed = pod("p", affinity=pod_affinity("podAffinity", "zone", {"app": "db"},
                                            namespaces=["other"]))
    assert fits(listed, *ZONES, placed=placed) == ["a1", "a2"]
    anywhere = pod("p", affinity=pod_affinity("podAffinity", "zone", {"app": "db"},
                                              namespaceSelector={}))
    assert fits(anywhere, *ZONES, placed=placed) == ["a1", "a2"]


def test_required_anti_affinity_avoids_the_domain() -> None:
    p = web("p", affinity=pod_affinity("podAntiAffinity", "zone", {"app": "web"}))
    placed = {"a1": [web("w1")]}
    got = reasons(p, *ZONES, placed=placed)
    assert got == {"a1": ("node(s) didn't match pod anti-affinity rules",),
                   "a2": ("node(s) didn't match pod anti-affinity rules",),
                   "b1": (), "x": ()}


def test_existing_pods_anti_affinity_keeps_matching_pods_away() -> None:
    guard = pod("g", affinity=pod_affinity("podAntiAffinity", "kubernetes.io/hostname",
                                           {"app": "web"}))
    got = reasons(web("p"), *ZONES, placed={"a1": [guard]})
    assert got["a1"] == ("node(s) didn't satisfy existing pods anti-affinity rules",)
    assert got["a2"] == ()
    assert reasons(pod("other"), *ZONES, placed={"a1": [guard]})["a1"] == ()


def test_no_nodes_and_pinned_nodes_messages() -> None:
    with pytest.raises(FitError) as caught:
        schedule(default_profile(), PodInfo.of(pod("p")), Snapshot({}))
    assert caught.value.message == "no nodes available to schedule pods"
    pinned = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}
    p = PodInfo.of(pod("p", cpu="8", affinity=affinity(pinned)))
    with pytest.raises(FitError) as caught:
        schedule(default_profile(), p, snapshot(node("a"), node("b"), node("c")))
    assert caught.value.message == ("0/3 nodes are available: 1 Insufficient cpu, "
                                    "2 node(s) didn't satisfy plugin(s) [NodeAffinity].")
    clash = affinity({"matchFields": [{"key": "metadata.name", "operator": "In",
                                       "values": ["a"]},
                                      {"key": "metadata.name", "operator": "In",
                                       "values": ["b"]}]})
    with pytest.raises(FitError) as caught:
        schedule(default_profile(), PodInfo.of(pod("p", affinity=clash)),
                 snapshot(node("a"), node("b")), rng=random.Random(0))
    assert caught.value.message == "0/2 nodes are available: pod affinity terms conflict."


def test_a_cordoned_node_info_can_change_in_place() -> None:
    info = NodeInfo(node("a"))
    snap = Snapshot([info])
    assert schedule(default_profile(), PodInfo.of(pod("p")), snap).node_name == "a"
    info.set_node(node("a", unschedulable=True))
    with pytest.raises(FitError, match="1 node\\(s\\) were unschedulable"):
        schedule(default_profile(), PodInfo.of(pod("p")), snap)


def test_spread_taints_policy_honor_leaves_tainted_nodes_out_of_the_count() -> None:
    nodes = (node("a1", labels={"zone": "a"}),
             node("b1", labels={"zone": "b"}, taints=[taint("k")]))
    placed = {"a1": [web("w1")]}
    ignore = web("p", topologySpreadConstraints=[spread("zone")])
    # Ignore (default): zone b counts with 0 pods, so zone a (1 + 1 - 0 > 1) is rejected.
    assert reasons(ignore, *nodes, placed=placed)["a1"] == (
        "node(s) didn't match pod topology spread constraints",)
    honor = web("p", topologySpreadConstraints=[spread("zone", nodeTaintsPolicy="Honor")])
    assert reasons(honor, *nodes, placed=placed)["a1"] == ()


def test_spread_match_label_keys_narrow_the_selector() -> None:
    placed = {"a1": [pod("w1", labels={"app": "web", "rev": "1"})]}
    keyed = pod("p", labels={"app": "web", "rev": "2"}, topologySpreadConstraints=[
        spread("zone", matchLabelKeys=["rev"])])
    # Only pods of revision 2 count, and there are none: every zone is at 0.
    assert fits(keyed, *ZONES[:3], placed=placed) == ["a1", "a2", "b1"]
    plain = pod("p", labels={"app": "web", "rev": "2"},
                topologySpreadConstraints=[spread("zone")])
    assert fits(plain, *ZONES[:3], placed=placed) == ["b1"]


def test_affinity_namespace_selector_resolves_through_the_lister() -> None:
    from servers.scheduler.framework import Objects
    namespaces = Objects(namespaces=[
        {"metadata": {"name": "other", "labels": {"team": "db"}}},
        {"metadata": {"name": "default", "labels": {}}}])
    p = pod("p", affinity=pod_affinity("podAffinity", "zone", {"app": "db"},
                                       namespaceSelector={"matchLabels": {"team": "db"}}))
    placed = {"a1": [pod("db", labels={"app": "db"}, namespace="other")]}
    snap = snapshot(*ZONES, placed=placed)
    cycle = Cycle(default_profile(), PodInfo.of(p), snap, namespaces)
    assert [n.name for n in snap.node_list if cycle.run_filters(n) is None] == ["a1", "a2"]


def test_filters_run_in_the_profiles_order() -> None:
    tainted_and_small = node("a", cpu="1", taints=[taint("k")])
    assert reasons(pod("p", cpu="2"), tainted_and_small)["a"] == (
        "node(s) had untolerated taint {k: }",)
    fit_first = Profile(filters=("NodeResourcesFit", "TaintToleration"))
    assert reasons(pod("p", cpu="2"), tainted_and_small, profile=fit_first)["a"] == (
        "Insufficient cpu",)
