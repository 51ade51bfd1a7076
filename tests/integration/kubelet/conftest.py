"""Fixtures for the node runtime: a fresh network namespace per test, runtimes that clean up.

Safety (DESIGN.md "Safety"): every test here runs with the test process's main thread moved
into a new, empty network namespace (``unshare(CLONE_NEWNET)``, as ``unshare -n`` does), so
the bridge, veths and pod addresses (10.244.x.0/24) exist only there and nothing has a route
out; the thread moves back when the test ends. Subprocesses (ip, conmon, runc) are forked by
the main thread and so start inside it. Each runtime fixture removes every sandbox,
container, namespace, link, cgroup and pin it made, kills what it started if that fails, and
then checks that nothing is left.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import secrets
import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from servers.kubelet.linux import cgroups
from servers.kubelet.runtime import names
from servers.kubelet.runtime.base import MonitoredRuntime, alive
from servers.kubelet.runtime.monitors import stop_servers
from servers.kubelet.runtime.oci import NamespacesRuntime
from servers.kubelet.runtime.process import ProcessRuntime
from servers.kubelet.runtime.state import CONTAINERS, Store
from tests.support.pki import make_certs

CLONE_NEWNET = 0x40000000
ISOLATIONS = ["namespaces", "none"]
CLUSTER = "10.244.0.0/16"  # only ever inside the test's own network namespace
SERVICES = "10.96.0.0/12"


def _netns_inode() -> int:
    return os.stat(f"/proc/self/task/{ctypes.CDLL(None).gettid()}/ns/net").st_ino


@pytest.fixture
def private_netns() -> Iterator[int]:
    """Move this thread into a new network namespace for the test; yield its inode."""
    if os.geteuid() != 0:
        pytest.skip("a private network namespace needs root")
    libc = ctypes.CDLL(None, use_errno=True)
    before = _netns_inode()
    home = os.open(f"/proc/self/task/{libc.gettid()}/ns/net", os.O_RDONLY)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
        inside = _netns_inode()
        assert inside != before, "still in the host's network namespace"
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True)
        assert "default" not in routes.stdout, "the test namespace must have no route out"
        yield inside
    finally:
        if libc.setns(home, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back to the host namespace")
        os.close(home)
    assert _netns_inode() == before


def in_private_netns(expected: int) -> None:
    """Refuse to go on unless this thread is in the test's namespace (before any packet)."""
    assert _netns_inode() == expected, "not in the test's network namespace"


def leftovers(runtime: MonitoredRuntime) -> list[str]:
    """What a runtime made on the host and did not remove."""
    found: list[str] = []
    node = runtime.names
    found += [f"netns {n}" for n in _netns_with(node.netns_prefix)]
    for root in cgroups.hierarchies():
        path = os.path.join(root, node.cgroup_root.strip("/"))
        if os.path.exists(path):
            found.append(f"cgroup {path}")
    if os.path.exists(node.pins_dir):
        found.append(f"pins {node.pins_dir}")
    done = subprocess.run(["ip", "link", "show", "dev", node.bridge], capture_output=True)
    if done.returncode == 0:
        found.append(f"bridge {node.bridge}")
    routes = subprocess.run(["ip", "route", "show", "type", "unreachable"], capture_output=True,
                            text=True, check=True)
    found += [f"route {line}" for line in routes.stdout.splitlines()]
    found += [f"mount {m}" for m in km_mounts(runtime.root, node.pins_dir, node.netns_prefix)]
    return found


def km_mounts(root: str, pins_dir: str = "", netns_prefix: str = "") -> list[str]:
    """Mount points km made and left: under the runtime's root dir (volumes, bundles), its
    ipc/uts pins, its pods' named network namespaces."""
    ours = tuple(p for p in (root.rstrip("/") + "/", pins_dir and pins_dir + "/",
                             netns_prefix and f"/run/netns/{netns_prefix}") if p)
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return [p for p in (line.split()[4] for line in f) if p.startswith(ours)]


def _netns_with(prefix: str) -> list[str]:
    try:
        return [n for n in os.listdir("/run/netns") if n.startswith(prefix)]
    except FileNotFoundError:
        return []


def kill_started(root: str) -> None:
    """SIGKILL the conmons and container processes recorded under ``root`` (ours only), and
    the none runtime's monitor fork server."""
    stop_servers(root)
    store = Store(root)
    for cid in os.listdir(os.path.join(root, CONTAINERS)):
        record = store.load(CONTAINERS, cid) or {}
        if record.get("pid") and alive(record["pid"], record.get("pid_start", "")):
            with contextlib.suppress(ProcessLookupError):  # a live leader: its group is ours
                os.killpg(record["pid"], signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(record["pid"], signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            with open(os.path.join(store.dir(CONTAINERS, cid), "conmon.pid"),
                      encoding="utf-8") as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if cid.encode() in f.read():  # still our conmon, not a reused pid
                    os.kill(pid, signal.SIGKILL)


Factory = Callable[[], MonitoredRuntime]


@pytest.fixture(params=ISOLATIONS)
async def make_runtime(request: pytest.FixtureRequest, private_netns: int,
                       tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Factory]:
    """A factory of runtime objects over one root dir and node (a second call = a restart)."""
    isolation = request.param
    root = str(tmp_path_factory.mktemp("kubelet") / "root")
    node = f"kmt-{secrets.token_hex(3)}"
    cidr = f"10.244.{random.randrange(1, 250)}.0/24"
    made: list[MonitoredRuntime] = []

    def make() -> MonitoredRuntime:
        runtime: MonitoredRuntime = (NamespacesRuntime(root, node, cidr, CLUSTER, SERVICES)
                                     if isolation == "namespaces" else ProcessRuntime(root, node))
        made.append(runtime)
        return runtime

    make.isolation = isolation  # type: ignore[attr-defined]
    make.netns = private_netns  # type: ignore[attr-defined]
    try:
        yield make
    finally:
        try:
            if made:
                await made[-1].remove_all()
        finally:
            if os.path.isdir(root):
                kill_started(root)
        if made:
            assert leftovers(made[-1]) == []
    assert names.for_node(node).key == node


@pytest.fixture
async def runtime(make_runtime: Factory) -> MonitoredRuntime:
    """One runtime object (namespaces or none) that the test's teardown cleans up."""
    return make_runtime()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test CA with the admin's client certificate (for the kubelet API's tests)."""
    return make_certs(tmp_path_factory.mktemp("pki"))
