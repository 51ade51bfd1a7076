"""km.pyz cleanup after a real ``km all-in-one --isolation namespaces`` with a running pod,
inside a network namespace this module makes (no route out): cleanup stops the recorded
server, removes the pod's processes, network namespace, veth, cgroups, mounts and pins, the
proxy's nftables table, the node bridge and km's route; --dry-run first lists and keeps it
all; a second run finds nothing.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from servers.cleanup import record
from servers.cleanup.host import mounts_under
from servers.kubelet.linux.cgroups import hierarchies
from servers.kubelet.runtime import names
from servers.proxy.nftables.ruleset import table_name
from tests.e2e.aio import POLL, QUIET, WAIT, Cluster, apply, deployment, remove_namespaced_pods
from tests.e2e.netns import enter, inside, network_namespace
from tests.support.wait import until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def leftovers(ns: str, node: str, kubelet_root: Path) -> list[str]:
    """What km made for ``node``, on the host and in the test's namespace, still there."""
    n = names.for_node(node)
    found = [f"netns {x}" for x in os.listdir("/run/netns") if x.startswith(n.netns_prefix)]
    links = inside(ns, "ip", "-o", "link").stdout.splitlines()
    found += [f"link {line.split(':')[1].strip()}" for line in links if ": lo:" not in line]
    tables = json.loads(inside(ns, "nft", "-j", "list", "tables").stdout)["nftables"]
    found += [f"table {t['table']['name']}" for t in tables if "table" in t]
    found += [f"route {r}" for r in inside(ns, "ip", "route", "show", "type",
                                           "unreachable").stdout.splitlines()]
    found += [f"route {r}" for r in inside(ns, "ip", "route", "show", "proto",
                                           "75").stdout.splitlines()]
    found += [f"mount {m}" for m in mounts_under((str(kubelet_root) + "/", n.pins_dir + "/",
                                                  f"/run/netns/{n.netns_prefix}"))]
    found += [f"cgroup {h}" for h in hierarchies()
              if Path(h, n.cgroup_root.strip("/")).exists()]
    if Path(n.pins_dir).exists():
        found.append(f"pins {n.pins_dir}")
    if Path(n.lock).exists():
        found.append(f"lock {n.lock}")
    return found


def test_cleanup_stops_the_server_and_removes_a_namespaced_pods_leftovers(
        km: Path, tmp_path: Path) -> None:
    node = f"clean-{secrets.token_hex(3)}"
    with network_namespace("km-clean") as ns:
        prefix = tuple(enter(ns))
        aio = Cluster(km, tmp_path / "data", "--secure-port", "0", "--isolation", "namespaces",
                      "--node-name", node, *QUIET, prefix=prefix)
        root = aio.data / "kubelet"
        cleanup = [*prefix, str(km), "cleanup", "--dir", str(aio.data)]
        aio.start()
        try:
            until(lambda: aio.node_ready(node), "the node Ready", WAIT, POLL)
            apply(aio, deployment("sleeper", 1, "exec sleep 600"))
            until(lambda: aio.running("app=sleeper", 1), "the pod Running", WAIT, POLL)
            before = leftovers(ns, node, root)
            for kind in ("netns", "link kmb", "link kmv", f"table {table_name(node)}",
                         "route", "mount", "cgroup", "pins", "lock"):
                assert any(x.startswith(kind) for x in before), (kind, before)

            dry = subprocess.run([*cleanup, "--dry-run"], capture_output=True, text=True,
                                 env=aio.env, timeout=60)
            assert dry.returncode == 0, dry.stderr
            assert f"would remove km server pid {aio.proc.pid}" in dry.stdout  # type: ignore[union-attr]
            assert f"would remove pods of node {node}: 1 sandboxes" in dry.stdout
            assert aio.running_now() and leftovers(ns, node, root) == before

            done = subprocess.run(cleanup, capture_output=True, text=True, env=aio.env,
                                  timeout=90)
            assert done.returncode == 0, done.stdout + done.stderr
            assert aio.proc is not None and aio.proc.wait(10) == 0, "stopped by SIGTERM"
            assert leftovers(ns, node, root) == []
            assert "Traceback" not in done.stderr

            again = subprocess.run(cleanup, capture_output=True, text=True, env=aio.env,
                                   timeout=60)
            assert (again.returncode, again.stdout) == (0, "nothing of km's found\n"), (
                again.stderr)
        finally:
            aio.stop()
            if leftovers(ns, node, root):
                remove_namespaced_pods(ns, root, node, "10.244.0.0/24")


def test_cleanup_removes_the_node_lock_a_kubelet_killed_outright_left(
        km: Path, tmp_path: Path) -> None:
    node = f"lock-{secrets.token_hex(3)}"
    lock = Path(names.for_node(node).lock)
    record.write(tmp_path, record.NodeRecord(node, "namespaces", str(tmp_path / "kubelet")))
    lock.parent.mkdir(exist_ok=True)
    lock.write_text("4194304\n")  # the pid of a kubelet gone by kill -9; no flock held
    try:
        with network_namespace("km-lock") as ns:
            cleanup = [*enter(ns), str(km), "cleanup", "--dir", str(tmp_path)]
            dry = subprocess.run([*cleanup, "--dry-run"], capture_output=True, text=True,
                                 timeout=60)
            assert dry.stdout.splitlines() == [f"would remove file {lock}"], dry.stderr
            assert lock.exists()
            done = subprocess.run(cleanup, capture_output=True, text=True, timeout=60)
            assert (done.returncode, done.stdout) == (0, f"removed file {lock}\n"), done.stderr
            assert not lock.exists()
    finally:
        lock.unlink(missing_ok=True)
