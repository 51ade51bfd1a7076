"""``km scheduler`` surviving the things that happen to a control plane: two schedulers with
leader election (one binds, the survivor of a SIGKILL takes over) and an apiserver restart
mid-run (SQLite data kept; nothing lost, nothing bound twice)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_kubectl import Kubectl
from tests.e2e.test_scheduler import (
    POLL,
    WAIT,
    Schedulers,
    api,
    create,
    env,
    kubectl,
    node,
    pod,
    schedulers,
)
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.etcd import EtcdServer
from tests.support.wait import until

__all__ = ["api", "env", "kubectl", "schedulers"]  # fixtures shared with test_scheduler

# Short leases keep a take-over within seconds (lease > renew > 1.2 * retry).
FAST_LEASE = ["--leader-elect-lease-duration", "2s", "--leader-elect-renew-deadline",
              "1500ms", "--leader-elect-retry-period", "500ms"]


def pods_by_node(kubectl: Kubectl, prefix: str) -> dict[str, str]:
    items = kubectl.json("get", "pods")["items"]
    return {p["metadata"]["name"]: p["spec"].get("nodeName", "") for p in items
            if p["metadata"]["name"].startswith(prefix)}


def all_bound(kubectl: Kubectl, prefix: str, count: int) -> dict[str, str] | None:
    placed = pods_by_node(kubectl, prefix)
    return placed if len(placed) == count and all(placed.values()) else None


def scheduled_events(kubectl: Kubectl) -> list[dict[str, Any]]:
    items = kubectl.json("get", "events", "--field-selector", "reason=Scheduled")["items"]
    return list(items)


def scheduled_per_pod(kubectl: Kubectl) -> dict[str, int]:
    """How many times each pod was said Scheduled (counting an event's repeats)."""
    per_pod: dict[str, int] = {}
    for event in scheduled_events(kubectl):
        name = event["involvedObject"]["name"]
        per_pod[name] = per_pod.get(name, 0) + int(event.get("count") or 1)
    return per_pod


def lease_holder(kubectl: Kubectl) -> str:
    done = kubectl("get", "lease", "kube-scheduler", "-n", "kube-system", "-o",
                   "jsonpath={.spec.holderIdentity}", check=False)
    return done.stdout if done.returncode == 0 else ""


def test_two_schedulers_bind_each_pod_once_and_the_survivor_takes_over(
        kubectl: Kubectl, schedulers: Schedulers) -> None:
    create(kubectl, node("n1"), node("n2"))
    first = schedulers.start(*FAST_LEASE, "--leader-elect-identity", "first")
    until(lambda: lease_holder(kubectl) == "first", "the first scheduler to lead", WAIT, POLL)
    second = schedulers.start(*FAST_LEASE, "--leader-elect-identity", "second")
    create(kubectl, *(pod(f"a{i}") for i in range(10)))
    until(lambda: all_bound(kubectl, "a", 10), "ten pods bound", WAIT, POLL)
    assert lease_holder(kubectl) == "first"
    # A Scheduled event is written after its bind, by the scheduler's event writers: the
    # first one's last events must be in before it is killed (a kill loses queued events).
    until(lambda: len(scheduled_per_pod(kubectl)) == 10, "ten Scheduled events", WAIT, POLL)

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    until(lambda: lease_holder(kubectl) == "second", "the second scheduler to lead", WAIT, POLL)
    create(kubectl, *(pod(f"b{i}") for i in range(10)))
    until(lambda: all_bound(kubectl, "b", 10), "ten more pods bound", WAIT, POLL)
    assert second.poll() is None

    until(lambda: len(scheduled_per_pod(kubectl)) == 20, "twenty Scheduled events", WAIT, POLL)
    assert scheduled_per_pod(kubectl) == {name: 1 for name in [*(f"a{i}" for i in range(10)),
                                            *(f"b{i}" for i in range(10))]}
    assert "became leader" in Schedulers.log(second) or lease_holder(kubectl) == "second"


def test_standby_does_not_schedule(kubectl: Kubectl, schedulers: Schedulers,
                                   api: ApiServer) -> None:
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "kube-scheduler", "namespace": "kube-system"},
             "spec": {"holderIdentity": "someone", "leaseDurationSeconds": 3600,
                      "renewTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())}}
    kubectl("create", "namespace", "kube-system", check=False)
    kubectl("create", "-f", "-", input=json.dumps(lease))
    create(kubectl, node("n1"))
    standby = schedulers.start(*FAST_LEASE)
    create(kubectl, pod("waits"))
    time.sleep(3.0)
    assert pods_by_node(kubectl, "waits") == {"waits": ""}
    assert standby.poll() is None


@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=pytest.mark.etcd)])
def any_api(request: pytest.FixtureRequest, km: Path, tmp_path: Path,
            env: dict[str, str]) -> Iterator[ApiServer]:
    """A km.pyz apiserver on SQLite, or on a real etcd (only the apiserver restarts)."""
    if request.param == "sqlite":
        with start_apiserver(tmp_path / "data", km=km, env=env) as server:
            yield server
        return
    with EtcdServer() as etcd, start_apiserver(
            tmp_path / "data", km=km, env=env,
            extra_args=["--storage-backend", "etcd", "--etcd-servers", etcd.endpoint]) as server:
        yield server


def test_apiserver_restart_mid_run_loses_nothing(any_api: ApiServer, km: Path,
                                                 tmp_path: Path, env: dict[str, str]) -> None:
    kubectl = Kubectl(any_api, tmp_path / "kube-cache")
    schedulers = Schedulers(km, any_api, tmp_path, env)
    try:
        create(kubectl, node("n1"), node("n2"))
        proc = schedulers.start("--leader-elect=false")
        create(kubectl, *(pod(f"r{i}") for i in range(15)))
        any_api.restart()  # same port, same data
        create(kubectl, *(pod(f"s{i}") for i in range(15)))
        until(lambda: all_bound(kubectl, "r", 15)
                 and all_bound(kubectl, "s", 15),
              "every pod bound", 40, POLL)
        assert proc.poll() is None
        assert "Traceback" not in Schedulers.log(proc)
    finally:
        schedulers.stop_all()


def test_a_leader_that_lost_its_lease_exits_1(kubectl: Kubectl, schedulers: Schedulers) -> None:
    create(kubectl, node("n1"))
    first = schedulers.start(*FAST_LEASE, "--leader-elect-identity", "first")
    until(lambda: lease_holder(kubectl) == "first", "the first scheduler to lead", WAIT, POLL)
    schedulers.start(*FAST_LEASE, "--leader-elect-identity", "second")
    first.send_signal(signal.SIGSTOP)  # frozen: no renewals
    try:
        until(lambda: lease_holder(kubectl) == "second", "the second scheduler to lead", WAIT, POLL)
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=15) == 1
    last = Schedulers.log(first).strip().splitlines()[-1]
    assert last.startswith("km scheduler: error: "), last
    create(kubectl, pod("after"))
    until(lambda: all_bound(kubectl, "after", 1), "the new leader to schedule", WAIT, POLL)
