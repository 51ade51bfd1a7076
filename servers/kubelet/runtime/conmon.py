"""conmon, the per-container monitor both runtimes use (CRI-O's, Debian package ``conmon``).

conmon runs ``<runtime> create`` with the container's stdout and stderr as pipes it holds,
writes them to the log as CRI lines, reaps the container and writes its exit code to
``<exit dir>/<id>`` (and an ``oom`` file to its persist dir when the cgroup's OOM killer
struck). It double-forks, so it outlives the kubelet that started it; it costs about a
megabyte of RSS per container. The container's pid comes back over the sync pipe
(``_OCI_SYNCPIPE``, one JSON line ``{"data": pid}`` or ``{"data": -1, "message": ...}``),
as cri-o's ``internal/oci/runtime_oci.go`` reads it.

conmon stays in the cgroup of whoever started it: under systemd the kubelet's unit needs
``KillMode=process`` (as containerd.service has, for its shims), or stopping the kubelet
kills every conmon and the exit codes of containers that end meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass

from servers.kubelet.linux.command import find_program
from servers.kubelet.runtime.errors import CommandFailed

CREATE_TIMEOUT = 30.0
REOPEN_LOGS_EVENT = 2  # conmon's control message numbers (src/config.h)


@dataclass(frozen=True)
class Paths:
    """conmon's files for one container, all inside the container's state directory."""

    dir: str

    @property
    def bundle(self) -> str:
        return os.path.join(self.dir, "bundle")

    @property
    def exit_dir(self) -> str:
        return os.path.join(self.dir, "exit")

    @property
    def persist(self) -> str:
        return os.path.join(self.dir, "persist")

    @property
    def sockets(self) -> str:
        return os.path.join(self.dir, "sock")

    @property
    def pidfile(self) -> str:
        return os.path.join(self.dir, "pid")

    @property
    def conmon_pidfile(self) -> str:
        return os.path.join(self.dir, "conmon.pid")

    def exit_file(self, container_id: str) -> str:
        return os.path.join(self.exit_dir, container_id)

    @property
    def oom_file(self) -> str:
        return os.path.join(self.persist, "oom")

    def make(self) -> None:
        for d in (self.bundle, self.exit_dir, self.persist, self.sockets):
            os.makedirs(d, exist_ok=True)


async def launch(container_id: str, paths: Paths, runtime: str, runtime_args: list[str],
                 log_path: str, *, stdin: bool = False, stdin_once: bool = False,
                 tty: bool = False) -> int:
    """Start conmon for a created container; return the container's pid.

    ``stdin`` keeps a pipe to the container's stdin open for attach clients (conmon closes
    it when an attached client hangs up, unless told ``--leave-stdin-open``: kube's
    stdinOnce is the default); ``tty`` gives the container a terminal (conmon holds the
    master, runc makes it through conmon's console socket).
    """
    conmon = find_program("conmon", "conmon")
    paths.make()
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    argv = [conmon, "--api-version", "1", "-c", container_id, "-u", container_id,
            "-n", container_id, "-r", runtime, "-b", paths.bundle, "-p", paths.pidfile,
            "-P", paths.conmon_pidfile, "-l", f"k8s-file:{log_path}",
            "--exit-dir", paths.exit_dir, "-0", paths.persist,
            "--socket-dir-path", paths.sockets]
    if stdin:
        argv += ["--stdin", *([] if stdin_once else ["--leave-stdin-open"])]
    if tty:
        argv.append("--terminal")
    for arg in runtime_args:
        argv += ["--runtime-arg", arg]
    read_fd, write_fd = os.pipe()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", 0))
    try:
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "_OCI_SYNCPIPE": str(write_fd)}
        try:
            # cwd: conmon writes an "oom" file into its working directory too, not only
            # into -0; the container's own folder keeps it (it went to the kubelet's cwd).
            proc = await asyncio.create_subprocess_exec(
                *argv, pass_fds=(write_fd,), env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                cwd=paths.dir)
        finally:
            os.close(write_fd)
        _, err = await proc.communicate()  # the first conmon exits once it has forked
        if proc.returncode != 0:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            msg = f"conmon: exit {proc.returncode}: {tail[0]}"
            raise CommandFailed(msg)
        line = await asyncio.wait_for(reader.readline(), CREATE_TIMEOUT)
    finally:
        transport.close()
    return pid_from(line.strip())


def pid_from(line: bytes) -> int:
    """The pid in a sync message (conmon's, km monitor's), or ``CommandFailed`` with the
    runtime's message."""
    try:
        message = json.loads(line)
        pid = int(message["data"])
    except (ValueError, KeyError, TypeError):
        msg = f"conmon: unreadable answer {line[:200]!r}"
        raise CommandFailed(msg) from None
    if pid <= 0:
        text = str(message.get("message", "create failed")).strip().splitlines()
        msg = f"container create: {_runc_message(text[-1] if text else 'failed')}"
        raise CommandFailed(msg)
    return pid


def _runc_message(line: str) -> str:
    """The message inside runc's logrus line (``time=... level=error msg="..."``)."""
    match = re.search(r'msg="((?:[^"\\]|\\.)*)"', line)
    if not match:
        return line
    text = match.group(1).replace('\\"', '"')
    for prefix in ("runc create failed: ", "unable to start container process: "):
        text = text.removeprefix(prefix)
    return text


def exit_code(paths: Paths, container_id: str) -> tuple[int, float] | None:
    """(exit code, time of exit) once conmon wrote the exit file, else None."""
    path = paths.exit_file(container_id)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
        when = os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    if not text:
        return None  # conmon is still writing it
    return int(text), when


def oom_killed(paths: Paths) -> bool:
    """True when conmon saw the container's cgroup run out of memory."""
    return os.path.exists(paths.oom_file)


def reopen_log(paths: Paths) -> None:
    """Ask conmon to reopen its log file, over the ``ctl`` FIFO in the bundle (src/ctrl.c).

    A message is ``<type> <height> <width>\\n``; CRI-O's ReopenContainerLog sends the same.
    """
    try:
        fd = os.open(os.path.join(paths.bundle, "ctl"), os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:  # ENXIO/ENOENT: no conmon reads it any more
        msg = f"container log: conmon is gone ({exc.strerror})"
        raise CommandFailed(msg) from None
    try:
        os.write(fd, f"{REOPEN_LOGS_EVENT} 0 0\n".encode())
    finally:
        os.close(fd)
