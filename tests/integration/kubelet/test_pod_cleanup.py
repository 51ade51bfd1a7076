"""A pod's sandbox leaves the node with the pod: before the final DELETE, and by housekeeping
for a sandbox whose pod is gone from the node, against both runtimes with real processes.

The kubelet's pod workers (servers/kubelet/workers.py) run over a real runtime in the test's
private network namespace; the API is a recording stand-in (only ``patch`` of the status and
the final ``delete`` are called), so the test sees what is on the node at the moment the
kubelet deletes the pod.
"""

from __future__ import annotations

from typing import Any

from servers.kubelet.runtime.base import MonitoredRuntime
from servers.kubelet.runtime.interface import CONTAINER_RUNNING
from servers.kubelet.workers import Kubelet, PodWorker
from tests.integration.kubelet.test_runtime_conformance import pod, run_container, sh


class RecordingApi:
    """The two pod calls a terminating worker makes; ``delete`` notes the node's state."""

    def __init__(self, runtime: MonitoredRuntime) -> None:
        self.runtime = runtime
        self.deleted: list[tuple[str, list[str]]] = []  # (pod, the node's sandboxes then)

    async def patch(self, resource: object, name: str, body: dict[str, Any],
                    **kw: object) -> dict[str, Any]:
        return {"status": body.get("status") or {}}

    async def delete(self, resource: object, name: str, namespace: str | None = None,
                     **kw: object) -> dict[str, Any]:
        left = [s.id for s in await self.runtime.list_pod_sandboxes()]
        self.deleted.append((name, left))
        return {}


def kubelet_over(runtime: MonitoredRuntime, root: str) -> tuple[Kubelet, RecordingApi]:
    api = RecordingApi(runtime)
    kubelet = Kubelet(api, runtime, None, node_name="n1",  # type: ignore[arg-type]
                      node_ip="127.0.0.1", root_dir=root, allocatable={})
    return kubelet, api


async def running_pod(runtime: MonitoredRuntime, name: str = "") -> tuple[str, str, str]:
    """A sandbox with one long-running container: (uid, sandbox id, container id)."""
    config = pod(name)
    sid = await runtime.run_pod_sandbox(config)
    cid = await run_container(runtime, sid, sh("exec sleep 300"))
    assert (await runtime.container_status(cid)).state == CONTAINER_RUNNING
    return config.uid, sid, cid


async def test_a_deleted_pods_sandbox_is_removed_before_its_final_delete(
        runtime: MonitoredRuntime, tmp_path: Any) -> None:
    kubelet, api = kubelet_over(runtime, str(tmp_path))
    uid, sid, _ = await running_pod(runtime, "doomed")
    meta = {"name": "doomed", "namespace": "default", "uid": uid,
            "deletionTimestamp": "2026-01-01T00:00:00Z", "deletionGracePeriodSeconds": 0}
    spec = {"containers": [{"name": "c", "image": "busybox", "command": ["sleep"]}]}
    worker = PodWorker(uid=uid, pod={"metadata": meta, "spec": spec}, sandbox_id=sid)
    assert await kubelet.sync(worker) is True  # the worker is done with the pod
    # the API object went last: nothing of the pod was left on the node when it did
    assert api.deleted == [("doomed", [])]
    assert await runtime.list_containers() == []


async def test_a_pod_deleted_by_force_still_loses_its_sandbox(runtime: MonitoredRuntime,
                                                              tmp_path: Any) -> None:
    kubelet, api = kubelet_over(runtime, str(tmp_path))
    uid, sid, _ = await running_pod(runtime, "forced")
    worker = PodWorker(uid=uid, pod={"metadata": {"name": "forced", "uid": uid}},
                       sandbox_id=sid, gone=True)  # already gone from the API
    assert await kubelet.sync(worker) is True
    assert api.deleted == []  # nothing to delete
    assert await runtime.list_pod_sandboxes() == []


async def test_housekeeping_removes_only_sandboxes_of_pods_gone_from_the_node(
        runtime: MonitoredRuntime, tmp_path: Any) -> None:
    kubelet, _ = kubelet_over(runtime, str(tmp_path))
    bound, bound_sid, _ = await running_pod(runtime, "bound")
    working, working_sid, _ = await running_pod(runtime, "working")
    _, orphan_sid, orphan_cid = await running_pod(runtime, "orphan")
    # a worker may be making or removing its sandbox: never touched, bound or not
    kubelet.workers[working] = PodWorker(uid=working, pod={"metadata": {"uid": working}})
    assert await kubelet.remove_orphans({bound}) == 1
    left = {s.id for s in await runtime.list_pod_sandboxes()}
    assert left == {bound_sid, working_sid}
    assert orphan_cid not in {c.id for c in await runtime.list_containers()}
    assert orphan_sid not in left
    assert await kubelet.remove_orphans({bound}) == 0  # nothing more to do
    kubelet.stopping = True  # a stopping kubelet leaves the pods for the next one
    assert await kubelet.remove_orphans(set()) == 0
    assert {s.id for s in await runtime.list_pod_sandboxes()} == left
