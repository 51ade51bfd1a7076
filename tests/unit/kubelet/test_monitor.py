"""km's container monitor (servers/kubelet/runtime/monitor.py): its pure pieces.

The monitor process itself runs in tests/integration/kubelet (the runtime conformance suite's
``none`` half) and in tests/e2e/test_kubelet_none.py (a kubelet on a host without conmon).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from servers.kubelet import logs
from servers.kubelet.runtime import monitor, monitors, process
from servers.kubelet.runtime.errors import InvalidConfig
from servers.kubelet.runtime.interface import ContainerConfig

NOW = 1_796_000_000_123_456_789  # ns since the epoch


def test_full_lines_are_f_and_a_trailing_piece_is_p() -> None:
    out = monitor.cri_lines(b"stdout", b"one\ntwo words\npart", NOW).decode()
    stamp = monitor.stamp(NOW).decode()
    assert out.splitlines() == [f"{stamp} stdout F one", f"{stamp} stdout F two words",
                                f"{stamp} stdout P part"]


def test_an_empty_line_is_kept() -> None:
    assert monitor.cri_lines(b"stderr", b"\n", NOW).endswith(b" stderr F \n")


def test_the_stamp_is_rfc3339_nano_utc_and_the_log_reader_takes_it() -> None:
    stamp = monitor.stamp(NOW).decode()
    assert stamp == "2026-11-30T00:53:20.123456789Z"
    line = monitor.cri_lines(b"stdout", b"hello\n", NOW)
    parsed = logs.parse_line(line)
    assert parsed == (stamp, "stdout", True, b"hello")
    assert logs.utc_stamp(stamp) == stamp


def test_exit_codes_as_conmon_records_them() -> None:
    _, status = os.waitpid(os.posix_spawn("/bin/sh", ["sh", "-c", "exit 3"], {}), 0)
    assert monitor.exit_code(status) == 3
    _, status = os.waitpid(os.posix_spawn("/bin/sh", ["sh", "-c", "kill -9 $$"], {}), 0)
    assert monitor.exit_code(status) == 128 + signal.SIGKILL


def test_written_atomically_with_the_given_mtime(tmp_path: Path) -> None:
    path = tmp_path / "exit"
    monitor.write_atomically(str(path), "137", mtime=1_700_000_000.5)
    assert path.read_text() == "137"
    assert path.stat().st_mtime == 1_700_000_000.5
    assert os.listdir(tmp_path) == ["exit"]


def test_the_monitor_imports_only_small_standard_modules() -> None:
    script = (monitors.MONITOR_BOOT.replace('sys.exit(scope["main"](sys.argv[2:]))', "")
              + "print(' '.join(sorted(sys.modules)))")
    here = os.path.dirname(monitor.__file__)
    done = subprocess.run([sys.executable, "-I", "-S", "-c", script, here],
                          capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert not {m for m in loaded if m.startswith(("servers", "hyperkube", "asyncio", "json"))}
    assert not {"signal", "enum", "typing", "contextlib"} & loaded  # each costs every start
    assert {"select", "posix"} <= loaded


def test_attach_options_as_the_monitors_letters() -> None:
    assert monitors.monitor_flags(stdin=False, stdin_once=False, tty=False) == ""
    assert monitors.monitor_flags(stdin=True, stdin_once=True, tty=True) == "iot"
    assert monitors.monitor_flags(stdin=True, stdin_once=False, tty=False) == "i"
    # stdinOnce means nothing without stdin (kube's validation allows it; conmon ignores it)
    assert monitors.monitor_flags(stdin=False, stdin_once=True, tty=True) == "t"


def test_a_monitor_without_stdin_or_terminal_has_neither(tmp_path: Path) -> None:
    watcher = monitor.Monitor(str(tmp_path), "x", str(tmp_path / "log"), "o")
    assert (watcher.keep_stdin, watcher.stdin_once, watcher.tty) == (False, True, False)
    watcher = monitor.Monitor(str(tmp_path), "x", str(tmp_path / "log"), "it")
    assert (watcher.keep_stdin, watcher.stdin_once, watcher.tty) == (True, False, True)


def test_a_client_that_takes_no_output_is_dropped_and_ends_a_stdin_once_session(
        tmp_path: Path) -> None:
    watcher = monitor.Monitor(str(tmp_path), "x", str(tmp_path / "log"), "io")
    watcher.poller = select.poll()
    stdin_r, watcher.stdin = os.pipe()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        ours.settimeout(0.05)  # SEND_WAIT, shortened
        watcher.clients[ours.fileno()] = ours
        watcher.reading.add(ours.fileno())
        watcher.poller.register(ours.fileno(), select.POLLIN)
        for _ in range(1000):  # far more than the socket's buffer: theirs never reads
            watcher._relay(monitor.STDOUT_PIPE, b"x" * 8192)
            if not watcher.clients:
                break
        assert not watcher.clients and not watcher.reading
        assert watcher.stdin == -1  # stdinOnce: the container's stdin closed
        assert os.read(stdin_r, 10) == b""  # ... so it reads EOF
        first = theirs.recv(9000)
        assert first[:1] == b"\x02" and len(first) == 8193  # pipe byte + conmon's 8192
    finally:
        os.close(stdin_r)
        ours.close()
        theirs.close()


def test_a_host_without_user_namespaces_refuses_the_mount_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reason = "unshare user and mount namespaces (...): No space left on device"
    monkeypatch.setattr(process, "mounts_unavailable", lambda: reason)
    runtime = process.ProcessRuntime(str(tmp_path), "n")
    with pytest.raises(InvalidConfig) as refused:
        runtime._check_mounts(ContainerConfig(name="c", command=("true",)), "/var/run/x")
    assert str(refused.value) == \
        f"container 'c': --isolation none cannot mount /var/run/x: {reason}"
