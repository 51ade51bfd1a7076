"""The deployment and replicaset controllers against a real apiserver: a Deployment's RS and
pods, a rolling update to revision 2, Recreate, the progress deadline, and kill -9 of the
controller-manager process mid-rollout. The test plays the kubelet: it marks pods Ready
through pods/status."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from servers.apimachinery.meta import now_rfc3339
from servers.client.resources import DEPLOYMENTS, EVENTS, PODS, REPLICASETS
from servers.client.rest import Client
from servers.controller_manager.controllers import deploymentutil as du
from tests.integration.controller_manager.conftest import POLL, WAIT, Manager
from tests.integration.controller_manager.test_restart import start, stop
from tests.support.apiserver import ApiServer
from tests.support.wait import eventually

Obj = dict[str, Any]
CONTROLLERS = ("--controllers", "deployment,replicaset")
REVISION = du.REVISION


def deployment(name: str, replicas: int, image: str = "nginx", **spec: Any) -> Obj:
    labels = {"app": name}
    return {"metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels},
                     "spec": {"containers": [{"name": "c", "image": image}]}}, **spec}}


@contextlib.asynccontextmanager
async def kubelet(client: Client, *, skip: str = "") -> AsyncIterator[None]:
    """Mark every pod Running and Ready (but those whose image is ``skip``)."""

    async def loop() -> None:
        while True:
            for pod in (await client.list(PODS, "default"))["items"]:
                image = pod["spec"]["containers"][0]["image"]
                conditions = (pod.get("status") or {}).get("conditions") or []
                if image == skip or pod["metadata"].get("deletionTimestamp") or any(
                        c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                    continue
                status = {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": now_rfc3339()}]}
                with contextlib.suppress(Exception):
                    await client.patch(PODS, pod["metadata"]["name"], {"status": status},
                                       namespace="default", subresource="status")
            await asyncio.sleep(0.05)

    task = asyncio.ensure_future(loop())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def replicasets(client: Client, name: str) -> list[Obj]:
    items = (await client.list(REPLICASETS, "default"))["items"]
    return sorted((rs for rs in items if rs["metadata"]["name"].startswith(f"{name}-")),
                  key=lambda rs: int(rs["metadata"]["annotations"].get(REVISION, "0")))


async def live_pods(client: Client) -> list[Obj]:
    return [p for p in (await client.list(PODS, "default"))["items"]
            if not p["metadata"].get("deletionTimestamp")]


async def rolled_out(client: Client, name: str, replicas: int, revision: str) -> Any:
    async def check() -> Obj | None:
        d = await client.get(DEPLOYMENTS, name, "default")
        st = d.get("status") or {}
        done = (st.get("updatedReplicas") == replicas == st.get("availableReplicas")
                == st.get("replicas") and st.get("observedGeneration")
                == d["metadata"]["generation"]
                and d["metadata"].get("annotations", {}).get(REVISION) == revision)
        return d if done else None

    return await eventually(check, f"{name} at revision {revision}", 30, POLL)


async def test_create_then_rolling_update_to_revision_2(client: Client,
                                                        manager: Manager) -> None:
    await client.create(DEPLOYMENTS, deployment("web", 3), "default")
    async with manager(*CONTROLLERS), kubelet(client):
        d = await rolled_out(client, "web", 3, "1")
        conditions = {c["type"]: c for c in d["status"]["conditions"]}
        assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
        assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
        (rs1,) = await replicasets(client, "web")
        h = rs1["metadata"]["labels"][du.HASH_LABEL]
        assert rs1["metadata"]["name"] == f"web-{h}"
        pods = await live_pods(client)
        assert len(pods) == 3
        assert all(p["metadata"]["labels"][du.HASH_LABEL] == h and
                   p["metadata"]["name"].startswith(f"web-{h}-") for p in pods)
        await client.patch(DEPLOYMENTS, "web", {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "nginx:2"}]}}}}, namespace="default",
            patch_type="strategic")
        await rolled_out(client, "web", 3, "2")
        old, new = await replicasets(client, "web")
        assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (0, 3)
        assert new["metadata"]["annotations"][REVISION] == "2"
        assert {p["spec"]["containers"][0]["image"] for p in await live_pods(client)} == \
            {"nginx:2"}
        messages = {e["message"] for e in (await client.list(EVENTS, "default"))["items"]
                    if e["reason"] == "ScalingReplicaSet"}
        assert f"Scaled up replica set web-{h} from 0 to 3" in messages
        assert any(m.startswith(f"Scaled down replica set web-{h} from") for m in messages)


async def test_recreate_replaces_every_pod_at_once(client: Client, manager: Manager) -> None:
    await client.create(DEPLOYMENTS, deployment("db", 2, strategy={"type": "Recreate"}),
                        "default")
    async with manager(*CONTROLLERS), kubelet(client):
        await rolled_out(client, "db", 2, "1")
        await client.patch(DEPLOYMENTS, "db", {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "db:2"}]}}}}, namespace="default",
            patch_type="strategic")
        await rolled_out(client, "db", 2, "2")
        old, new = await replicasets(client, "db")
        assert old["spec"]["replicas"] == 0 and new["spec"]["replicas"] == 2


async def test_a_pod_never_ready_exceeds_the_progress_deadline(client: Client,
                                                               manager: Manager) -> None:
    await client.create(DEPLOYMENTS, deployment("stuck", 1, image="never",
                                                progressDeadlineSeconds=2), "default")
    async with manager(*CONTROLLERS), kubelet(client, skip="never"):
        async def timed_out() -> Obj | None:
            d = await client.get(DEPLOYMENTS, "stuck", "default")
            cond = du.get_condition(d.get("status") or {}, du.PROGRESSING)
            return cond if cond is not None and cond["reason"] == du.TIMED_OUT else None

        cond = await eventually(timed_out, "ProgressDeadlineExceeded", 20, POLL)
        assert cond["status"] == "False"
        assert cond["message"].startswith('ReplicaSet "stuck-')


async def test_killed_mid_rollout_it_converges_within_max_surge(
        apiserver: ApiServer, client: Client, tmp_path: Path) -> None:
    log = tmp_path / "cm.log"
    flags = ("--leader-elect=false", *CONTROLLERS)
    # One pod at a time (surge 1, none unavailable): the rollout lasts long enough to be
    # killed midway, and the bound on pods is tight.
    strategy = {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    await client.create(DEPLOYMENTS, deployment("big", 40, strategy=strategy), "default")
    proc = start(apiserver, log, *flags)
    most = 0
    try:
        async with kubelet(client):
            await rolled_out(client, "big", 40, "1")
            await client.patch(DEPLOYMENTS, "big", {"spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "big:2"}]}}}}, namespace="default",
                patch_type="strategic")

            async def midway() -> bool:
                pods = await live_pods(client)
                nonlocal most
                most = max(most, len(pods))
                images = {p["spec"]["containers"][0]["image"] for p in pods}
                return images == {"nginx", "big:2"}

            await eventually(midway, "the rollout to be under way", WAIT, POLL)
            stop(proc, signal.SIGKILL)
            proc = start(apiserver, log, *flags)

            async def converged() -> bool:
                pods = await live_pods(client)
                nonlocal most
                most = max(most, len(pods))
                return len(pods) == 40 and all(
                    p["spec"]["containers"][0]["image"] == "big:2" for p in pods)

            await eventually(converged, "40 pods of revision 2", 40, POLL)
            await rolled_out(client, "big", 40, "2")
    finally:
        stop(proc)
    assert most <= 40 + 1  # maxSurge
    pods = await live_pods(client)
    rss = {rs["metadata"]["uid"] for rs in await replicasets(client, "big")}
    assert len(rss) == 2
    assert all(p["metadata"]["ownerReferences"][0]["uid"] in rss for p in pods)
    assert proc.returncode == 0, log.read_text()[-2000:]


async def test_min_ready_seconds_delays_availability(client: Client, manager: Manager) -> None:
    await client.create(DEPLOYMENTS, deployment("slow", 2, minReadySeconds=2), "default")
    async with manager(*CONTROLLERS), kubelet(client):
        async def ready() -> Obj | None:
            d = await client.get(DEPLOYMENTS, "slow", "default")
            st = d.get("status") or {}
            return st if st.get("readyReplicas") == 2 else None

        st = await eventually(ready, "2 ready replicas", WAIT, POLL)
        loop = asyncio.get_running_loop()
        seen_ready = loop.time()
        assert st.get("availableReplicas", 0) < 2  # ready, not yet for minReadySeconds
        (rs,) = await replicasets(client, "slow")
        assert rs["spec"]["minReadySeconds"] == 2
        await rolled_out(client, "slow", 2, "1")
        assert loop.time() - seen_ready >= 1.0
