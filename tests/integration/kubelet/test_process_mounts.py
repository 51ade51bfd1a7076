"""``--isolation none``: volumes at their mountPath in a mount namespace of the container's own.

As root (the runtime fixture's ``none`` half) and as an unprivileged user (nobody, through
util-linux ``setpriv`` and the system python3, as test_unprivileged.py does): a read-only
directory at /var/run/secrets/kubernetes.io/serviceaccount (which the host does not have), a
file under /etc and a tmpfs appear where the container looks, exec sees them too, the user is
still itself, and the host is untouched. (A host that allows no unprivileged user namespace
cannot be made here without changing the machine's sysctl for everyone: the refusal's text is
a unit test, tests/unit/kubelet/test_monitor.py.)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from servers.kubelet.runtime.base import MonitoredRuntime
from servers.kubelet.runtime.errors import CommandFailed
from servers.kubelet.runtime.interface import CONTAINER_RUNNING, ContainerConfig, Mount
from tests.integration.kubelet.test_runtime_conformance import pod, run_container, wait_log

ROOT = Path(__file__).resolve().parents[3]
NOBODY = 65534
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

SCRIPT = r"""
import asyncio, json, os, shutil, sys, tempfile
from servers.kubelet.runtime import open_runtime
from servers.kubelet.runtime.interface import ContainerConfig, Mount, PodSandboxConfig

TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

def joined(log):
    lines, pending = [], ""
    for line in log.splitlines():
        _, _, tag, text = (line.split(" ", 3) + [""])[:4]
        pending += text
        if tag == "F":
            lines.append(pending)
            pending = ""
    return lines

async def main():
    root, volume = tempfile.mkdtemp(), tempfile.mkdtemp()
    os.chmod(volume, 0o755)
    for name, text in (("token", "a-token"), ("namespace", "default")):
        with open(os.path.join(volume, name), "w") as f:
            f.write(text)
    runtime = open_runtime("none", root, "mounts-node")
    out = {}
    try:
        sid = await runtime.run_pod_sandbox(PodSandboxConfig(name="p", namespace="d", uid="u"))
        script = ("id -u; cat %s/token; echo; cat %s/namespace; echo; "
                  "touch %s/x 2>/dev/null || echo ro; echo done; sleep 100"
                  ) % (TOKEN_DIR, TOKEN_DIR, TOKEN_DIR)
        try:
            cid = await runtime.create_container(sid, ContainerConfig(
                name="c", command=("/bin/sh", "-c", script),
                mounts=(Mount(container_path=TOKEN_DIR, host_path=volume, readonly=True),)))
        except Exception as exc:
            out["refused"] = f"{type(exc).__name__}: {exc}"
            return out
        await runtime.start_container(cid)
        status = await runtime.container_status(cid)
        for _ in range(500):
            with open(status.log_path) as f:
                log = f.read()
            if "done" in log:
                break
            await asyncio.sleep(0.01)
        out["log"] = joined(log)
        result = await runtime.exec_sync(cid, ["sh", "-c", "id -u; cat %s/token" % TOKEN_DIR], 10)
        out["exec"] = [result.exit_code, result.stdout.decode()]
        out["state"] = (await runtime.container_status(cid)).state
        out["host_has_it"] = os.path.exists(TOKEN_DIR)
    finally:
        await runtime.remove_all()
        shutil.rmtree(root)
        shutil.rmtree(volume)
    return out

print(json.dumps(asyncio.run(main())))
"""


def as_nobody() -> dict[str, object]:
    """Run SCRIPT as nobody with the system python3."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    assert python, "the system python3 (Debian's python3 package) is missing"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": "/tmp", "LANG": "C.UTF-8"}
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            python, "-c", SCRIPT]
    done = subprocess.run(drop, env=env, cwd="/tmp", capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    out: dict[str, object] = json.loads(done.stdout)
    return out


def joined(log: str) -> list[str]:
    """The log's lines with partial (P) pieces joined, as kubectl logs shows them."""
    lines, pending = [], ""
    for line in log.splitlines():
        _, _, tag, text = [*line.split(" ", 3), ""][:4]
        pending += text
        if tag == "F":
            lines.append(pending)
            pending = ""
    return lines


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("dropping to another user needs root")


def test_a_volume_at_its_mount_path_without_root() -> None:
    _need_root()
    out = as_nobody()
    assert out["log"] == [str(NOBODY), "a-token", "default", "ro", "done"]
    assert out["exec"] == [0, f"{NOBODY}\na-token"]
    assert (out["state"], out["host_has_it"]) == (CONTAINER_RUNNING, False)


@pytest.mark.parametrize("make_runtime", ["none"], indirect=True)
async def test_volumes_at_their_paths_as_root(runtime: MonitoredRuntime, tmp_path: Path) -> None:
    tag = secrets.token_hex(4)
    token = tmp_path / "token-volume"
    token.mkdir()
    (token / "ca.crt").write_text("a-ca")
    config_file = tmp_path / "settings"
    config_file.write_text("from-a-configmap")
    etc_path, scratch = f"/etc/km-test-{tag}", f"/var/km-scratch-{tag}"
    sid = await runtime.run_pod_sandbox(pod())
    script = (f"cat {TOKEN_DIR}/ca.crt; echo; cat {etc_path}; echo; "
              f"echo x > {scratch}/f && cat {scratch}/f; test -r /etc/os-release && echo etc; "
              "echo done; sleep 100")
    cid = await run_container(runtime, sid, ContainerConfig(
        name="c", command=("/bin/sh", "-c", script), mounts=(
            Mount(container_path=TOKEN_DIR, host_path=str(token), readonly=True),
            Mount(container_path=etc_path, host_path=str(config_file), readonly=True),
            Mount(container_path=scratch, tmpfs=True))))
    status = await runtime.container_status(cid)
    text = await wait_log(status.log_path, "done")
    assert joined(text) == ["a-ca", "from-a-configmap", "x", "etc", "done"]
    result = await runtime.exec_sync(cid, ["cat", etc_path], timeout=10)
    assert (result.exit_code, result.stdout) == (0, b"from-a-configmap")
    streams = await runtime.exec_stream(cid, ["cat", f"{TOKEN_DIR}/ca.crt"], tty=False,
                                        stdin=False)
    assert (await streams.stdout.read(), await streams.wait()) == (b"a-ca", 0)
    for path in (TOKEN_DIR, etc_path, scratch):
        assert not os.path.exists(path), f"{path} made on the host"
    await runtime.remove_container(cid)


@pytest.mark.parametrize("make_runtime", ["none"], indirect=True)
async def test_a_mount_that_cannot_be_made_says_why_at_start(runtime: MonitoredRuntime,
                                                             tmp_path: Path) -> None:
    target = f"/km-test-{secrets.token_hex(4)}"  # a new name in / itself needs a new root
    sid = await runtime.run_pod_sandbox(pod())
    cid = await runtime.create_container(sid, ContainerConfig(
        name="c", command=("true",), mounts=(Mount(container_path=target,
                                                   host_path=str(tmp_path)),)))
    with pytest.raises(CommandFailed) as failed:
        await runtime.start_container(cid)
    assert str(failed.value) == (
        "container 'c': its process is gone before start (km: volume mounts: cannot make a "
        "mountpoint directly under / (it would need a new root))")
    assert not os.path.exists(target)
