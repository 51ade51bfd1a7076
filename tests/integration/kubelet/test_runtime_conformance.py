"""One conformance suite for both node runtimes (STYLE.md R19): namespaces and none.

Every test runs twice, against ``NamespacesRuntime`` (runc + conmon, pods in their own
namespaces on a bridge inside the test's private network namespace) and ``ProcessRuntime``
(plain processes under conmon, pods on loopback addresses). Real conmon, runc, ip; no fakes.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from servers.kubelet.runtime.base import MonitoredRuntime
from servers.kubelet.runtime.errors import CommandFailed, ExecTimeout, NotFound
from servers.kubelet.runtime.interface import (
    CONTAINER_CREATED,
    CONTAINER_EXITED,
    CONTAINER_RUNNING,
    CONTAINER_UNKNOWN,
    SANDBOX_NOTREADY,
    SANDBOX_READY,
    ContainerConfig,
    ContainerStatus,
    PodSandboxConfig,
    Security,
)
from tests.integration.kubelet.conftest import Factory, in_private_netns

CRI_LINE = re.compile(r"^(\S+) (stdout|stderr) ([FP]) (.*)$")


def pod(name: str = "") -> PodSandboxConfig:
    name = name or f"pod-{secrets.token_hex(3)}"
    return PodSandboxConfig(name=name, namespace="default", uid=secrets.token_hex(8))


def sh(script: str, name: str = "c", **kw: object) -> ContainerConfig:
    return ContainerConfig(name=name, command=("/bin/sh", "-c"), args=(script,), **kw)  # type: ignore[arg-type]


async def run_container(rt: MonitoredRuntime, sandbox: str, config: ContainerConfig) -> str:
    cid = await rt.create_container(sandbox, config)
    await rt.start_container(cid)
    return cid


async def wait_exit(rt: MonitoredRuntime, cid: str, timeout: float = 10) -> ContainerStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = await rt.container_status(cid)
        if status.state == CONTAINER_EXITED or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.02)


async def wait_log(path: str, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    content = ""
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                content = f.read()
            if text in content:
                return content
        await asyncio.sleep(0.02)
    raise AssertionError(f"{text!r} not in the log {path}: {content!r}")


def cri_lines(path: str) -> list[tuple[str, str, str]]:
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            match = CRI_LINE.match(line)
            assert match, f"not a CRI log line: {line!r}"
            stamp, stream, tag, text = match.groups()
            datetime.fromisoformat(stamp[:26] + stamp[29:])  # RFC 3339, nanoseconds cut to us
            lines.append((stream, tag, text))
    return lines


async def test_output_lands_in_the_cri_log(runtime: MonitoredRuntime, tmp_path: object) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    log = os.path.join(str(tmp_path), "logs", "c", "0.log")
    cid = await run_container(runtime, sid, sh(
        "echo out; echo err >&2; echo two words; printf partial", log_path=log))
    status = await wait_exit(runtime, cid)
    assert status.state == CONTAINER_EXITED
    assert status.log_path == log
    lines = cri_lines(log)
    assert ("stdout", "F", "out") in lines
    assert ("stderr", "F", "err") in lines
    assert ("stdout", "F", "two words") in lines
    stdout = [line for line in lines if line[0] == "stdout"]  # the streams interleave freely
    assert stdout[-1] == ("stdout", "P", "partial")


@pytest.mark.parametrize(("code", "reason"), [(0, "Completed"), (3, "Error")])
async def test_exit_code_and_reason(runtime: MonitoredRuntime, code: int, reason: str) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    cid = await runtime.create_container(sid, sh(f"exit {code}"))
    assert (await runtime.container_status(cid)).state == CONTAINER_CREATED
    await runtime.start_container(cid)
    status = await wait_exit(runtime, cid)
    assert (status.state, status.exit_code, status.reason) == (CONTAINER_EXITED, code, reason)
    assert status.created_at <= status.started_at <= status.finished_at


async def test_stop_sends_sigterm_first(runtime: MonitoredRuntime) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    cid = await run_container(runtime, sid, sh(
        'trap "echo got TERM; exit 0" TERM; echo ready; while :; do sleep 0.05; done'))
    status = await runtime.container_status(cid)
    assert status.state == CONTAINER_RUNNING and status.pid > 0
    await wait_log(status.log_path, "ready")
    started = time.monotonic()
    await runtime.stop_container(cid, timeout=20)
    assert time.monotonic() - started < 10  # it went on TERM, not at the timeout
    status = await runtime.container_status(cid)
    assert (status.state, status.exit_code) == (CONTAINER_EXITED, 0)
    await wait_log(status.log_path, "got TERM")


async def test_stop_kills_every_process_after_the_timeout(runtime: MonitoredRuntime) -> None:
    marker = f"1000.{secrets.randbelow(10**6)}"
    sid = await runtime.run_pod_sandbox(pod())
    cid = await run_container(runtime, sid, sh(
        f'trap "" TERM; sleep {marker} & echo ready; wait; wait'))
    await wait_log((await runtime.container_status(cid)).log_path, "ready")
    assert _processes_with(marker)
    started = time.monotonic()
    await runtime.stop_container(cid, timeout=0.5)
    assert time.monotonic() - started >= 0.5
    status = await runtime.container_status(cid)
    assert (status.state, status.exit_code) == (CONTAINER_EXITED, 137)
    deadline = time.monotonic() + 5
    while _processes_with(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert _processes_with(marker) == []


def _processes_with(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


async def test_env_and_working_dir(runtime: MonitoredRuntime) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    cid = await run_container(runtime, sid, sh(
        'echo "[$GREETING][$EQUALS][$(pwd)]"', env={"GREETING": "hello world", "EQUALS": "a=b"},
        working_dir="/usr/share"))
    status = await wait_exit(runtime, cid)
    assert status.exit_code == 0
    assert ("stdout", "F", "[hello world][a=b][/usr/share]") in cri_lines(status.log_path)


SERVER = """
import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((os.environ["BIND"], 8080))
s.listen()
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(os.environ["ANSWER"].encode())
    c.close()
"""

CLIENT = ("import socket, sys; s = socket.create_connection((sys.argv[1], 8080), 5); "
          "print(s.recv(100).decode())")


async def test_two_pods_both_listen_on_8080(make_runtime: Factory) -> None:
    runtime = make_runtime()
    in_private_netns(make_runtime.netns)  # type: ignore[attr-defined]
    pods = {}
    for answer in ("alpha", "beta"):
        sid = await runtime.run_pod_sandbox(pod())
        ip = (await runtime.pod_sandbox_status(sid)).ip
        bind = ip if make_runtime.isolation == "none" else "0.0.0.0"  # type: ignore[attr-defined]
        config = ContainerConfig(name="web", command=("python3", "-c", SERVER),
                                 env={"BIND": bind, "ANSWER": answer})
        cid = await run_container(runtime, sid, config)
        await wait_log((await runtime.container_status(cid)).log_path, "listening")
        pods[answer] = (sid, ip, cid)
    assert pods["alpha"][1] != pods["beta"][1]
    # each pod reaches the other's IP (over the bridge, or over loopback)
    for me, other in (("alpha", "beta"), ("beta", "alpha")):
        result = await runtime.exec_sync(pods[me][2], ["python3", "-c", CLIENT, pods[other][1]],
                                         timeout=10)
        assert (result.exit_code, result.stdout.decode().strip()) == (0, other), result


async def test_exec_sync(runtime: MonitoredRuntime) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    cid = await run_container(runtime, sid, sh("sleep 1000", working_dir="/usr",
                                               env={"WHO": "probe"}))
    script = "echo $WHO $(pwd); echo oops >&2; exit 5"
    result = await runtime.exec_sync(cid, ["/bin/sh", "-c", script], timeout=10)
    assert (result.exit_code, result.stdout, result.stderr) == (5, b"probe /usr\n", b"oops\n")
    started = time.monotonic()
    with pytest.raises(ExecTimeout):
        await runtime.exec_sync(cid, ["sleep", "30"], timeout=0.3)
    assert time.monotonic() - started < 5


async def test_a_restarted_runtime_adopts_its_pods(make_runtime: Factory) -> None:
    first = make_runtime()
    sid = await first.run_pod_sandbox(pod("adopted"))
    long = await run_container(first, sid, sh("sleep 1000", name="long"))
    short = await run_container(first, sid, sh("sleep 0.3; exit 7", name="short"))
    del first  # the kubelet goes away; conmon keeps the containers
    await asyncio.sleep(0.8)  # short most likely exits while no runtime object watches
    second = make_runtime()
    # (it may exit later on a loaded machine: the adopted record must show it either way)
    assert (await wait_exit(second, short)).exit_code == 7
    assert [s.id for s in await second.list_pod_sandboxes()] == [sid]
    uid = (await second.pod_sandbox_status(sid)).config.uid
    assert [s.id for s in await second.list_pod_sandboxes(uid)] == [sid]
    assert await second.list_pod_sandboxes(uid + "-other") == []
    assert (await second.pod_sandbox_status(sid)).state == SANDBOX_READY
    states = {c.name: c for c in await second.list_containers(sid)}
    assert states["long"].state == CONTAINER_RUNNING
    assert (states["short"].state, states["short"].exit_code) == (CONTAINER_EXITED, 7)
    await second.stop_container(long, timeout=0)
    assert (await second.container_status(long)).exit_code == 137
    await second.stop_pod_sandbox(sid)
    assert (await second.pod_sandbox_status(sid)).state == SANDBOX_NOTREADY
    await second.remove_pod_sandbox(sid)
    assert await second.list_pod_sandboxes() == []
    assert await second.list_containers() == []
    with pytest.raises(NotFound):
        await second.container_status(short)


async def test_remove_sandbox_removes_its_containers(runtime: MonitoredRuntime) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    cid = await run_container(runtime, sid, sh("sleep 1000"))
    pid = (await runtime.container_status(cid)).pid
    await runtime.remove_pod_sandbox(sid)
    await runtime.remove_pod_sandbox(sid)  # again: not an error (CRI)
    assert await runtime.list_containers() == []
    assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)
    with pytest.raises(NotFound):
        await runtime.pod_sandbox_status(sid)


def _is_zombie(pid: int) -> bool:
    done = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    return done.stdout.strip().startswith("Z")


async def test_a_created_container_can_be_removed_unstarted(runtime: MonitoredRuntime) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    cid = await runtime.create_container(sid, sh("echo never"))
    status = await runtime.container_status(cid)
    assert status.state == CONTAINER_CREATED and status.started_at == 0
    await runtime.stop_container(cid, timeout=5)
    assert (await runtime.container_status(cid)).state == CONTAINER_EXITED
    await runtime.remove_container(cid)
    await runtime.remove_container(cid)  # again: not an error
    assert await runtime.list_containers(sid) == []
    log = Path(status.log_path)
    assert not log.exists() or "never" not in log.read_text()


async def test_sandboxes_made_concurrently_get_distinct_addresses(
        runtime: MonitoredRuntime) -> None:
    ids = await asyncio.gather(*(runtime.run_pod_sandbox(pod()) for _ in range(5)))
    statuses = [await runtime.pod_sandbox_status(sid) for sid in ids]
    assert all(s.state == SANDBOX_READY for s in statuses)
    assert len({s.ip for s in statuses}) == 5


async def test_the_log_can_be_rotated(runtime: MonitoredRuntime, tmp_path: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    log = tmp_path / "0.log"
    cid = await run_container(runtime, sid, sh(
        "i=0; while :; do echo line $i; i=$((i+1)); sleep 0.02; done", log_path=str(log)))
    await wait_log(str(log), "line 3")
    rotated = tmp_path / "0.log.20261206-000000"
    log.rename(rotated)  # what the kubelet's log manager does, then asks for a reopen
    await runtime.reopen_container_log(cid)
    await wait_log(str(log), "stdout F line")
    await asyncio.sleep(0.1)
    before = rotated.read_text()
    await asyncio.sleep(0.1)
    assert rotated.read_text() == before  # the old file no longer grows
    last_old = int(before.splitlines()[-1].rsplit(" ", 1)[1])
    first_new = int(log.read_text().splitlines()[0].rsplit(" ", 1)[1])
    assert first_new == last_old + 1  # nothing lost between the two files


async def test_a_container_whose_conmon_died_is_unknown_and_removable(
        runtime: MonitoredRuntime) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    cid = await run_container(runtime, sid, sh(
        'trap "exit 0" TERM; echo ready; while :; do sleep 0.05; done'))
    await wait_log((await runtime.container_status(cid)).log_path, "ready")
    conmon_pid = int(Path(runtime.store.dir("containers", cid), "conmon.pid").read_text())
    os.kill(conmon_pid, signal.SIGKILL)  # a conmon we started: say the OOM killer took it
    while os.path.exists(f"/proc/{conmon_pid}") and not _is_zombie(conmon_pid):
        await asyncio.sleep(0.02)
    assert (await runtime.container_status(cid)).state == CONTAINER_RUNNING  # the process lives
    started = time.monotonic()
    await runtime.stop_container(cid, timeout=30)
    assert time.monotonic() - started < 10  # no exit file will come: it does not wait for one
    assert (await runtime.container_status(cid)).state == CONTAINER_UNKNOWN
    await runtime.remove_container(cid)
    assert await runtime.list_containers() == []


async def test_a_missing_program_fails_create_in_one_line(runtime: MonitoredRuntime) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    with pytest.raises(CommandFailed) as failed:
        await runtime.create_container(sid, ContainerConfig(name="c", command=("/km/none",)))
    assert str(failed.value) == \
        'container create: exec: "/km/none": stat /km/none: no such file or directory'
    with pytest.raises(CommandFailed, match=r'exec: "km-no-such-program": executable file not '
                                            r"found in \$PATH"):
        await runtime.create_container(sid, ContainerConfig(name="c",
                                                            command=("km-no-such-program",)))
    assert await runtime.list_containers() == []


async def test_run_as_user_and_no_new_privs(runtime: MonitoredRuntime) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    script = "id -u; id -g; id -G; grep NoNewPrivs /proc/self/status"
    cid = await run_container(runtime, sid, sh(script, security=Security(
        run_as_user=65534, run_as_group=65534)))
    status = await wait_exit(runtime, cid)
    out = [t for s, _, t in cri_lines(status.log_path) if s == "stdout"]
    assert out == ["65534", "65534", "65534", "NoNewPrivs:\t1"]
    # exec runs as the container's user too
    long = await run_container(runtime, sid, sh("sleep 1000", name="long", security=Security(
        run_as_user=65534, run_as_group=65534)))
    result = await runtime.exec_sync(long, ["id", "-u"], timeout=10)
    assert (result.exit_code, result.stdout) == (0, b"65534\n")


@pytest.mark.parametrize("how", ["main process exits", "main process dies on SIGTERM"])
async def test_nothing_of_a_container_outlives_it(runtime: MonitoredRuntime, how: str) -> None:
    marker = f"1000.{secrets.randbelow(10**6)}"
    sid = await runtime.run_pod_sandbox(pod())
    ending = "exit 0" if how == "main process exits" else "while :; do sleep 0.05; done"
    cid = await run_container(runtime, sid, sh(f"sleep {marker} & echo ready; {ending}"))
    await wait_log((await runtime.container_status(cid)).log_path, "ready")
    if how == "main process exits":
        await wait_exit(runtime, cid)
        await runtime.remove_container(cid)
    else:  # (a pid 1 in its own pid namespace ignores SIGTERM: SIGKILL after 1 s there)
        await runtime.stop_container(cid, timeout=1)
    deadline = time.monotonic() + 5
    while _processes_with(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert _processes_with(marker) == []
