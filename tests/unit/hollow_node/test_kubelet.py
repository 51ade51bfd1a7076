"""The hollow kubelet's sync against a filled informer cache and a recording fake client."""

from __future__ import annotations

from typing import Any

from servers.apimachinery.errors import NotFound
from servers.hollow_node.fleet import Fleet
from servers.hollow_node.kubelet import HollowKubelet
from servers.hollow_node.nodes import NodeShape


class FakeClient:
    """Records status patches and deletes; ``missing`` names answer 404."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.deletes: list[tuple[str, dict[str, Any]]] = []
        self.missing: set[str] = set()

    async def patch(self, resource: Any, name: str, patch: Any, **kw: Any) -> dict[str, Any]:
        assert kw["subresource"] == "status" and kw["patch_type"] == "strategic"
        if name in self.missing:
            raise NotFound("pods", name)
        self.patches.append((name, patch))
        return {}

    async def delete(self, resource: Any, name: str, namespace: str,
                     **kw: Any) -> dict[str, Any]:
        self.deletes.append((name, kw))
        return {}


def make(max_pods: int = 110) -> tuple[HollowKubelet, FakeClient]:
    client = FakeClient()
    fleet = Fleet("hollow", 3, NodeShape(max_pods=max_pods))
    return HollowKubelet(client, fleet), client  # type: ignore[arg-type]


def pod(name: str, node: str = "hollow-0", uid: str | None = None, **status: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-{name}",
                         "resourceVersion": "1"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": "Pending", **status}}


async def event(kubelet: HollowKubelet, kind: str, obj: dict) -> None:
    await kubelet.informer._handle(kind, obj)   # as the watch delivers it


async def sync_all(kubelet: HollowKubelet) -> None:
    while len(kubelet.queue):
        key = await kubelet.queue.get()
        await kubelet.sync(key)
        kubelet.queue.done(key)


def ip_of(patch: dict) -> str:
    return str(patch["status"]["podIP"])


async def test_a_pending_pod_of_ours_goes_running_once() -> None:
    kubelet, client = make()
    await event(kubelet, "ADDED", pod("a", "hollow-2"))
    await sync_all(kubelet)
    [(name, patch)] = client.patches
    assert name == "a" and patch["metadata"]["uid"] == "uid-a"
    assert (ip_of(patch), patch["status"]["hostIP"]) == ("100.65.2.1", "100.64.0.3")
    await event(kubelet, "MODIFIED", {**pod("a", "hollow-2"), "metadata": {
        **pod("a")["metadata"], "labels": {"x": "y"}}})     # an older view, before our write
    await sync_all(kubelet)
    assert len(client.patches) == 1


async def test_pods_of_other_nodes_are_left_alone() -> None:
    kubelet, client = make()
    await event(kubelet, "ADDED", pod("a", "real-node"))
    await event(kubelet, "ADDED", pod("b", "hollow-3"))     # beyond --nodes 3
    await sync_all(kubelet)
    assert client.patches == [] and len(kubelet.queue) == 0


async def test_addresses_are_recycled_when_pods_go_away() -> None:
    kubelet, client = make()
    for name in ("a", "b"):
        await event(kubelet, "ADDED", pod(name))
    await sync_all(kubelet)
    assert [ip_of(p) for _, p in client.patches] == ["100.65.0.1", "100.65.0.2"]
    await event(kubelet, "DELETED", pod("a", phase="Running", podIP="100.65.0.1"))
    await sync_all(kubelet)
    assert kubelet.pods_on("hollow-0") == 1
    await event(kubelet, "ADDED", pod("c"))
    await sync_all(kubelet)
    assert ip_of(client.patches[-1][1]) == "100.65.0.1"


async def test_finished_pods_give_their_address_back() -> None:
    kubelet, client = make()
    await event(kubelet, "ADDED", pod("job"))
    await sync_all(kubelet)
    await event(kubelet, "MODIFIED", pod("job", phase="Succeeded", podIP="100.65.0.1"))
    await sync_all(kubelet)
    assert kubelet.pods_on("hollow-0") == 0
    await event(kubelet, "ADDED", pod("next"))
    await sync_all(kubelet)
    assert ip_of(client.patches[-1][1]) == "100.65.0.1"


async def test_a_graceful_delete_gets_one_final_delete_with_the_uid() -> None:
    kubelet, client = make()
    dying = pod("a", phase="Running", podIP="100.65.0.1")
    dying["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:30Z"
    await event(kubelet, "ADDED", dying)
    await sync_all(kubelet)
    await event(kubelet, "MODIFIED", dying)
    await sync_all(kubelet)
    assert client.deletes == [("a", {"grace_period_seconds": 0, "uid": "uid-a"})]
    assert client.patches == []


async def test_after_a_restart_running_pods_keep_their_addresses() -> None:
    kubelet, client = make()
    # the first list: a Pending pod listed before a Running one
    await event(kubelet, "ADDED", pod("new"))
    await event(kubelet, "ADDED", pod("old", phase="Running", podIP="100.65.0.1",
                                      conditions=[{"type": "Ready", "status": "True"}]))
    await sync_all(kubelet)
    [(name, patch)] = client.patches
    assert (name, ip_of(patch)) == ("new", "100.65.0.2")


async def test_after_a_restart_pods_made_unready_meanwhile_are_ready_again() -> None:
    # The node lifecycle controller set Ready=False while this node was silent.
    kubelet, client = make()
    await event(kubelet, "ADDED", pod("old", phase="Running", podIP="100.65.0.1",
                                      conditions=[{"type": "Ready", "status": "False"}]))
    await sync_all(kubelet)
    [(name, patch)] = client.patches
    assert (name, ip_of(patch)) == ("old", "100.65.0.1")  # same address, Ready again
    ready = {c["type"]: c["status"] for c in patch["status"]["conditions"]}
    assert ready["Ready"] == "True"


async def test_host_network_pods_take_the_node_address() -> None:
    kubelet, client = make()
    host = pod("h", "hollow-1")
    host["spec"]["hostNetwork"] = True
    await event(kubelet, "ADDED", host)
    await sync_all(kubelet)
    assert ip_of(client.patches[0][1]) == "100.64.0.2"


async def test_a_full_node_rejects_the_pod_out_of_pods() -> None:
    kubelet, client = make(max_pods=1)
    await event(kubelet, "ADDED", pod("a"))
    await event(kubelet, "ADDED", pod("b"))
    await sync_all(kubelet)
    assert client.patches[0][1]["status"]["phase"] == "Running"
    assert client.patches[1][1]["status"]["reason"] == "OutOfpods"


async def test_a_new_pod_of_the_same_name_starts_over() -> None:
    kubelet, client = make()
    await event(kubelet, "ADDED", pod("a", uid="one"))
    await sync_all(kubelet)
    await event(kubelet, "MODIFIED", pod("a", uid="two"))
    await sync_all(kubelet)
    assert [p["metadata"]["uid"] for _, p in client.patches] == ["one", "two"]
    assert [ip_of(p) for _, p in client.patches] == ["100.65.0.1", "100.65.0.1"]


async def test_a_pod_gone_before_its_patch_frees_its_address() -> None:
    kubelet, client = make()
    client.missing.add("a")
    await event(kubelet, "ADDED", pod("a"))
    await sync_all(kubelet)
    assert kubelet.pods_on("hollow-0") == 0


async def test_a_pod_deleted_before_it_ran_leaves_no_books_behind() -> None:
    kubelet, client = make()
    dying = pod("a")
    dying["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:30Z"
    await event(kubelet, "ADDED", dying)
    await sync_all(kubelet)
    await event(kubelet, "DELETED", dying)
    await sync_all(kubelet)
    assert [name for name, _ in client.deletes] == ["a"]
    assert (kubelet._placed, kubelet._started, kubelet._deleting) == ({}, {}, {})
