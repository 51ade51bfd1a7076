"""One km kubelet for a benchmark, the apiserver it registers with, and where they run.

    if (code := own_network_namespace(INSIDE, __file__)) is not None:
        return code                                  # the run went on inside unshare -n
    for isolation in isolations(args.isolation, "bench/x.py"):   # none, namespaces as root
    with trusted_apiserver(km, tmp) as (api, certs), \
            kubelet(km, api.url, "none", tmp, client_ca=certs / "ca.crt") as proc:
        status = asyncio.run(run_pod(api.url, "p", {"name": "c", ...}))

Used by bench/kubelet.py, bench/exec.py and bench/portforward.py. The kubelet is node
``NODE`` on 127.0.0.1 (API and healthz on port 0); under ``--isolation namespaces`` its pods
get ``POD_CIDR``, which exists only inside the bench's own network namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from servers.client.resources import NODES, PODS
from servers.client.rest import Client
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.pki import make_certs

if TYPE_CHECKING:
    from collections.abc import Iterator

NODE = "bench-node"
POD_CIDR = "10.244.7.0/24"  # exists only inside the bench's own network namespace
WAIT = 120.0
Obj = dict[str, Any]


def own_network_namespace(inside: str, script: str, *, wanted: bool = True) -> int | None:
    """As root, the bench's own network namespace: the first call re-runs ``script`` (with
    this process's arguments) under ``unshare -n`` and returns its exit code, when ``wanted``;
    inside (the environment variable ``inside`` is "1") it brings loopback up, makes sure
    there is no route out and returns None. Not root, or not wanted: None, nothing done."""
    if os.geteuid() != 0:
        return None
    if os.environ.get(inside) != "1":
        if not wanted:
            return None
        env = {**os.environ, inside: "1"}
        return subprocess.call(["unshare", "-n", sys.executable, script, *sys.argv[1:]],
                               env=env)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    assert "default" not in routes, "the bench's namespace must have no route out"
    return None


def isolations(chosen: str, bench: str) -> Iterator[str]:
    """The kubelet isolations to measure, one by one, for ``--isolation chosen`` (both, none
    or namespaces): namespaces only as root (otherwise ``bench`` says it skipped them)."""
    if chosen in ("both", "none"):
        yield "none"
    if os.geteuid() == 0 and chosen in ("both", "namespaces"):
        yield "namespaces"
    elif os.geteuid() != 0:
        print(f"{bench}: not root, so --isolation namespaces is skipped (it needs network "
              "namespaces and cgroups)")


@contextlib.contextmanager
def trusted_apiserver(km: Path, tmp: Path) -> Iterator[tuple[ApiServer, Path]]:
    """An apiserver (SQLite in ``tmp/data``) that reaches kubelets with the admin client
    certificate of a cluster CA made in ``tmp/pki``; yields it and that certificate folder
    (a kubelet given ``ca.crt`` from it answers only this apiserver)."""
    certs = make_certs(tmp / "pki", km=km)
    client = ["--kubelet-client-certificate", str(certs / "admin.crt"),
              "--kubelet-client-key", str(certs / "admin.key")]
    with start_apiserver(tmp / "data", km=km, extra_args=client) as api:
        yield api, certs


@contextlib.contextmanager
def kubelet(km: Path, url: str, isolation: str, tmp: Path,
            client_ca: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """``km kubelet`` as node NODE (root dir ``tmp/kubelet``, its log ``tmp/kubelet.log``);
    on the way out it is stopped (SIGTERM, SIGKILL after 30 s) and the pods it left (they
    outlive it by design) are removed."""
    root = str(tmp / "kubelet")
    cmd = [str(km), "kubelet", "--master", url, "--hostname-override", NODE,
           "--node-ip", "127.0.0.1", "--address", "127.0.0.1", "--port", "0",
           "--healthz-port", "0", "--isolation", isolation, "--root-dir", root]
    if client_ca is not None:
        cmd += ["--client-ca-file", str(client_ca)]
    if isolation == "namespaces":
        cmd += ["--pod-cidr", POD_CIDR]
    with open(tmp / "kubelet.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        asyncio.run(remove_everything(isolation, root))


async def remove_everything(isolation: str, root: str) -> None:
    """What the kubelet left (its pods outlive it by design)."""
    from servers.kubelet.runtime import open_runtime

    runtime: Any = open_runtime(isolation, root, NODE, POD_CIDR, "10.244.0.0/16",
                                "10.96.0.0/12")
    await runtime.remove_all()


async def node_ready(client: Client) -> None:
    """Wait until node NODE is registered and Ready."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # not registered yet
            node = await client.get(NODES, NODE)
            if any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (node.get("status") or {}).get("conditions") or ()):
                return
        await asyncio.sleep(0.2)
    raise TimeoutError("bench: the node never became Ready")


async def run_pod(url: str, name: str, container: Obj, *, with_ip: bool = False) -> Obj:
    """Once node NODE is Ready, pod ``name`` in default with the one ``container`` on it;
    its status once Running (and, ``with_ip``, once it has a pod IP)."""
    async with Client(url) as client:
        await node_ready(client)
        await client.create(PODS, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                     "automountServiceAccountToken": False, "containers": [container]}},
            namespace="default")
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            status = (await client.get(PODS, name, namespace="default")).get("status") or {}
            if status.get("phase") == "Running" and (status.get("podIP") or not with_ip):
                return status
            await asyncio.sleep(0.1)
    msg = f"bench: the pod {name} never ran"
    raise TimeoutError(msg)
