"""``--isolation none`` without root: the runtime driven by an unprivileged user (nobody).

The test drops to uid/gid 65534 with util-linux ``setpriv`` and runs the system python3 on a
short script (the runtime imports the standard library only), so nothing here runs as root
but the set-up. The same script checks that ``namespaces`` refuses in one line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
NOBODY = 65534

SCRIPT = r"""
import asyncio, json, os, shutil, sys, tempfile
from servers.kubelet.runtime import open_runtime
from servers.kubelet.runtime.errors import RuntimeUnavailable
from servers.kubelet.runtime.interface import ContainerConfig, PodSandboxConfig

async def main():
    out = {"uid": os.getuid()}
    try:
        open_runtime("namespaces", tempfile.mkdtemp(), "n", "10.244.1.0/24")
    except RuntimeUnavailable as exc:
        out["namespaces"] = str(exc)
    root = tempfile.mkdtemp()
    runtime = open_runtime("none", root, "unprivileged-node")
    try:
        sid = await runtime.run_pod_sandbox(PodSandboxConfig(name="p", namespace="d", uid="u"))
        out["ip"] = (await runtime.pod_sandbox_status(sid)).ip
        cid = await runtime.create_container(sid, ContainerConfig(
            name="c", command=("/bin/sh", "-c", "id -u; echo $POD_IP; exit 4")))
        await runtime.start_container(cid)
        for _ in range(500):
            status = await runtime.container_status(cid)
            if status.state == "CONTAINER_EXITED":
                break
            await asyncio.sleep(0.01)
        out["exit"] = status.exit_code
        with open(status.log_path) as f:
            out["log"] = [line.split(" ", 3)[3] for line in f.read().splitlines()]
        sleeper = await runtime.create_container(sid, ContainerConfig(
            name="s", command=("sleep", "100")))
        await runtime.start_container(sleeper)
        pidfile = os.path.join(root, "containers", sleeper, "conmon.pid")
        with open(pidfile) as f:
            out["conmon_uid"] = os.stat(f"/proc/{int(f.read())}").st_uid
        out["sleeper"] = (await runtime.container_status(sleeper)).state
    finally:
        await runtime.remove_all()
        out["left"] = await runtime.list_pod_sandboxes() == [] and \
            await runtime.list_containers() == []
        shutil.rmtree(root)
    print(json.dumps(out))

asyncio.run(main())
"""


def test_the_process_runtime_works_without_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("dropping to another user needs root")
    python = shutil.which("python3", path="/usr/bin:/bin")
    assert python, "the system python3 (Debian's python3 package) is missing"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": "/tmp", "LANG": "C.UTF-8"}
    done = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         python, "-c", SCRIPT], env=env, cwd="/tmp", capture_output=True, text=True,
        timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["uid"] == NOBODY
    assert out["namespaces"] == \
        "--isolation namespaces needs root (use --isolation none without it)"
    assert out["ip"].startswith("127.")
    assert (out["exit"], out["log"]) == (4, [str(NOBODY), out["ip"]])
    assert (out["conmon_uid"], out["sleeper"]) == (NOBODY, "CONTAINER_RUNNING")
    assert out["left"] is True
