"""km's container monitor under ``--isolation none``: the root dir's fork server.

Monitors are forks of one server per root dir, which a restarted runtime reuses and
``remove_all`` stops; monitors outlive their server; a server of another km build is replaced;
where no server can start, monitors start as Pythons of their own (with the same options).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from servers.kubelet.runtime import monitors
from servers.kubelet.runtime.interface import CONTAINER_EXITED, CONTAINER_RUNNING
from tests.integration.kubelet.conftest import Factory
from tests.integration.kubelet.test_runtime_conformance import pod, run_container, sh, wait_exit
from tests.support import procfs

pytestmark = pytest.mark.parametrize("make_runtime", ["none"], indirect=True)


def server_pid(root: str) -> int:
    return int(Path(root, monitors.server_name() + ".pid").read_text())


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def monitor_of(root: str, cid: str) -> int:
    return int(Path(root, "containers", cid, "conmon.pid").read_text())


def gone(pid: int) -> bool:
    """True once ``pid`` has ended (a SIGKILL takes a moment; its zombie counts as gone)."""
    for _ in range(250):
        if not procfs.alive(pid):
            return True
        time.sleep(0.02)
    return False


async def test_one_server_forks_every_monitor_and_outlives_a_restart(
        make_runtime: Factory) -> None:
    first = make_runtime()
    sid = await first.run_pod_sandbox(pod())
    one = await run_container(first, sid, sh("sleep 1000", name="one"))
    two = await run_container(first, sid, sh("sleep 1000", name="two"))
    server = server_pid(first.root)
    assert {parent_of(monitor_of(first.root, c)) for c in (one, two)} == {server}
    second = make_runtime()  # a restarted kubelet
    three = await run_container(second, sid, sh("exit 4", name="three"))
    assert parent_of(monitor_of(second.root, three)) == server
    assert (await wait_exit(second, three)).exit_code == 4
    await second.remove_all()
    assert gone(server)
    assert not list(Path(second.root).glob("monitor-*.sock*"))


async def test_monitors_outlive_their_server_and_a_new_one_starts(
        make_runtime: Factory) -> None:
    runtime = make_runtime()
    sid = await runtime.run_pod_sandbox(pod())
    ends = await run_container(runtime, sid, sh("read x < /dev/null; sleep 0.5; exit 5"))
    old = server_pid(runtime.root)
    os.kill(old, signal.SIGKILL)
    assert (await wait_exit(runtime, ends)).exit_code == 5  # its monitor lived on
    fresh = await run_container(runtime, sid, sh("sleep 1000", name="fresh"))
    assert server_pid(runtime.root) != old
    assert (await runtime.container_status(fresh)).state == CONTAINER_RUNNING


async def test_a_server_of_another_build_is_replaced(make_runtime: Factory) -> None:
    runtime = make_runtime()
    sid = await runtime.run_pod_sandbox(pod())
    await run_container(runtime, sid, sh("sleep 1000", name="one"))
    old = server_pid(runtime.root)
    current = Path(runtime.root, monitors.server_name())
    other = Path(runtime.root, "monitor-00000000.sock")
    current.rename(other)  # as an older km's server would be named
    Path(f"{current}.pid").rename(f"{other}.pid")
    await run_container(runtime, sid, sh("sleep 1000", name="two"))
    assert gone(old) and not other.exists()
    assert server_pid(runtime.root) != old


async def test_without_a_server_monitors_start_on_their_own(make_runtime: Factory,
                                                            caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    runtime = make_runtime()
    Path(runtime.root, monitors.server_name()).mkdir()  # where its socket must go
    sid = await runtime.run_pod_sandbox(pod())
    cid = await run_container(runtime, sid, sh("echo alone; exit 3"))
    status = await wait_exit(runtime, cid)
    assert (status.state, status.exit_code) == (CONTAINER_EXITED, 3)
    monitor = monitor_of(runtime.root, cid)
    assert "km monitor server: exit before it listened" in caplog.text
    assert not list(Path(runtime.root).glob("monitor-*.sock.pid"))
    assert monitor > 0


async def test_a_monitor_started_on_its_own_serves_attach_with_stdin(
        make_runtime: Factory) -> None:
    runtime = make_runtime()
    Path(runtime.root, monitors.server_name()).mkdir()  # no server: the fallback's argv
    sid = await runtime.run_pod_sandbox(pod())
    cid = await run_container(runtime, sid, sh("read word; echo got-$word; exit 4",
                                               stdin=True, stdin_once=True))
    streams = await runtime.attach(cid, tty=False, stdin=True)
    try:
        await streams.write_stdin(b"alone\n")
        assert await asyncio.wait_for(streams.stdout.readline(), 10) == b"got-alone\n"
        assert await asyncio.wait_for(streams.wait(), 10) == 4
    finally:
        streams.close()


async def test_an_idle_server_ends_and_the_next_container_starts_one(
        make_runtime: Factory) -> None:
    runtime = make_runtime()
    runtime.monitors.idle_exit = 0.5  # type: ignore[attr-defined]  # (60 s by default)
    sid = await runtime.run_pod_sandbox(pod())
    cid = await run_container(runtime, sid, sh("sleep 0.2"))
    first = server_pid(runtime.root)
    await wait_exit(runtime, cid)
    assert gone(first)  # its monitor ended, then half a second without work
    assert not list(Path(runtime.root).glob("monitor-*.sock*"))
    again = await run_container(runtime, sid, sh("exit 6", name="again"))
    assert (await wait_exit(runtime, again)).exit_code == 6
    assert server_pid(runtime.root) != first



async def test_a_burst_of_requests_past_the_servers_backlog_all_get_answers(
        make_runtime: Factory) -> None:
    # A unix connect past a full listen backlog fails with EAGAIN, which asyncio takes for
    # "connecting" and completes with an unconnected socket: its request then failed with
    # ENOTCONN, and a burst of pods saw their containers fail. The launcher queues its
    # requests below the backlog, so each one reaches the server (which closes a malformed
    # one unanswered: b"").
    root = make_runtime().root
    launcher = monitors.Launcher(root)
    await launcher._start_server()
    try:
        answers = await asyncio.gather(*(launcher._ask(b"malformed\n") for _ in range(600)),
                                       return_exceptions=True)
        assert [a for a in answers if a != b""] == []
    finally:
        monitors.stop_servers(root)
