"""PodInfo's requests as kube's PodRequests computes them, and NodeInfo's running totals."""

from __future__ import annotations

import pytest

from servers.apimachinery.quantity import milli, parse_quantity, value
from servers.scheduler.framework import NodeInfo, PodInfo
from tests.unit.scheduler.algo_builders import node, pod

MI = 1024 * 1024


def container(cpu: str | None = None, memory: str | None = None, **extra: object) -> dict:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"name": "c", "resources": {"requests": requests}, **extra}


@pytest.mark.parametrize(("text", "m", "v"), [
    ("100m", 100, 1), ("1", 1000, 1), ("0.5m", 1, 1), ("500Mi", 500 * MI * 1000, 500 * MI),
    ("1e3", 10**6, 1000), ("2k", 2 * 10**6, 2000), ("1.5", 1500, 2), (2, 2000, 2),
])
def test_quantities_round_up_as_kube(text: str, m: int, v: int) -> None:
    assert milli(text) == m
    assert value(text) == v


@pytest.mark.parametrize("bad", ["", "abc", "1Zi", ".", "1..2", "--1"])
def test_malformed_quantity_raises_kube_message(bad: str) -> None:
    with pytest.raises(ValueError, match="quantities must match the regular expression"):
        parse_quantity(bad)


def test_requests_sum_containers_and_take_max_of_init() -> None:
    # The example in noderesources/fit.go's computePodResourceRequest comment.
    spec = {"initContainers": [container("2", "1G"), container("2", "3G")],
            "containers": [container("2", "1G"), container("1", "1G")]}
    info = PodInfo.of({"metadata": {"name": "p"}, "spec": spec})
    assert (info.cpu, info.memory) == (3000, 3 * 10**9)


def test_sidecars_add_to_the_sum_and_to_later_init_containers() -> None:
    spec = {"initContainers": [container("1", restartPolicy="Always"), container("3")],
            "containers": [container("1")]}
    info = PodInfo.of({"metadata": {"name": "p"}, "spec": spec})
    # app 1 + sidecar 1 = 2; the init container runs beside the sidecar: 3 + 1 = 4.
    assert info.cpu == 4000


def test_overhead_is_added_on_top() -> None:
    spec = {"containers": [container("100m", "1Mi")], "overhead": {"cpu": "250m"}}
    info = PodInfo.of({"metadata": {"name": "p"}, "spec": spec})
    assert info.cpu == 350
    assert info.nz_cpu == 350


def test_missing_requests_count_as_100m_and_200Mi_for_scoring_only() -> None:
    info = PodInfo.of(pod("p", cpu=None, memory=None))
    assert (info.cpu, info.memory) == (0, 0)
    assert (info.nz_cpu, info.nz_memory) == (100, 200 * MI)
    explicit_zero = PodInfo.of(pod("q", cpu="0", memory=None))
    assert (explicit_zero.nz_cpu, explicit_zero.nz_memory) == (0, 200 * MI)


def test_extended_resources_are_scalar() -> None:
    spec = {"containers": [{"name": "c", "resources": {"requests": {
        "example.com/gpu": "2", "hugepages-2Mi": "4Mi", "cpu": "1"}}}]}
    info = PodInfo.of({"metadata": {"name": "p"}, "spec": spec})
    assert info.scalar == {"example.com/gpu": 2, "hugepages-2Mi": 4 * MI}


def test_uid_falls_back_to_namespace_and_name() -> None:
    info = PodInfo.of({"metadata": {"name": "p", "namespace": "ns"}, "spec": {}})
    assert info.uid == "ns/p"


def test_node_info_totals_follow_adds_and_removes() -> None:
    info = NodeInfo(node("n1"))
    a, b = PodInfo.of(pod("a")), PodInfo.of(pod("b", cpu=None, memory=None))
    generation = info.generation
    info.add_pod(a)
    info.add_pod(b)
    assert info.requested["cpu"] == 100
    assert info.non_zero_requested == {"cpu": 200, "memory": 700 * MI}
    assert info.pod_count == 2
    assert info.generation > generation
    info.remove_pod(a)
    info.remove_pod(a)  # twice: nothing more happens
    assert info.requested["cpu"] == 0
    assert info.pods == [b]
    assert info.allocatable["pods"] == 110


def test_node_info_replaces_a_pod_with_the_same_uid() -> None:
    info = NodeInfo(node("n1"))
    info.add_pod(PodInfo.of(pod("a", cpu="1")))
    info.add_pod(PodInfo.of(pod("a", cpu="2")))
    assert info.pod_count == 1
    assert info.requested["cpu"] == 2000


def test_node_less_slot_has_nothing_allocatable() -> None:
    info = NodeInfo(None)
    info.add_pod(PodInfo.of(pod("a")))
    assert info.allocatable["cpu"] == 0
    assert info.pod_count == 1


def test_host_ports_are_tracked_per_ip_and_protocol() -> None:
    spec_ports = [{"containerPort": 80, "hostPort": 8080},
                  {"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"}]
    p = pod("a")
    p["spec"]["containers"][0]["ports"] = spec_ports
    info = NodeInfo(node("n1"))
    info.add_pod(PodInfo.of(p))
    assert info.used_ports == {("0.0.0.0", "TCP", 8080), ("10.0.0.1", "UDP", 53)}
    info.remove_pod(PodInfo.of(p))
    assert info.used_ports == set()


def test_snapshot_follows_nodes_and_counts_affinity_pods() -> None:
    from servers.scheduler.framework import Snapshot
    a, b = NodeInfo(node("a")), NodeInfo(node("b"))
    snap = Snapshot({"a": a, "b": b, "slot": NodeInfo(None)})
    assert [n.name for n in snap.node_list] == ["a", "b"]
    anti = pod("x", affinity={"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {}, "topologyKey": "kubernetes.io/hostname"}]}})
    assert not snap.has_pods_with_required_anti_affinity
    b.add_pod(PodInfo.of(anti))
    assert snap.with_required_anti_affinity() == [b]
    assert snap.with_affinity() == [b]
    copy = b.clone()
    snap.set_node(copy)
    assert snap.get("b") is copy and snap.with_affinity() == [copy]
    copy.remove_pod(PodInfo.of(anti))
    assert not snap.has_pods_with_affinity
    assert b.pod_count == 1  # the original is untouched
    snap.set_node(b)
    assert snap.has_pods_with_affinity
    snap.remove_node("b")
    assert [n.name for n in snap.node_list] == ["a"]
    assert not snap.has_pods_with_affinity
    snap.set_node(NodeInfo(node("c")))
    assert [n.name for n in snap.node_list] == ["a", "c"] and len(snap) == 2


def test_snapshot_interleaves_zones_as_the_node_tree() -> None:
    from servers.scheduler.framework import Snapshot
    zone = "topology.kubernetes.io/zone"
    names = [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c"), ("c2", "c")]
    snap = Snapshot([NodeInfo(node(n, labels={zone: z})) for n, z in names])
    assert [n.name for n in snap.node_list] == ["a1", "b1", "c1", "a2", "c2", "a3"]
    assert snap.get("c2") is snap.node_list[4]
