"""km's container monitor for ``--isolation none``: conmon's job, done by the Python running km.

One monitor process per container, as conmon (CRI-O's) is: it starts the container's process in
a session of its own, holds its stdout and stderr as pipes, writes them to the log as CRI lines
``<RFC3339Nano> <stdout|stderr> <F|P> <text>`` (kubernetes
``pkg/kubelet/kuberuntime/logs/logs.go``; a ``P`` line is part of a longer line), reaps the
process and records its exit code. It keeps conmon's files in the container's state directory,
so the kubelet reads both monitors alike (``conmon.Paths``):

- ``pid`` the container's pid, ``conmon.pid`` the monitor's own (written before the kubelet
  hears the pid);
- ``exit/<id>`` the exit code (128 + signal for a killed process, as conmon writes it),
  written atomically (a temporary file renamed), its mtime the moment the process was reaped;
- ``bundle/ctl`` a FIFO the monitor reads: ``2 0 0`` reopens the log (after the kubelet renamed
  it, to rotate), conmon's control message;
- ``bundle/start`` the FIFO on which ``bundle/run.sh`` waits until the kubelet starts it;
- ``monitor.start`` the monitor's own start time, which tells it from a later process that
  got its pid (a forked monitor has the server's command line).

It is nobody's child but the fork server's (itself double-forked out of the kubelet's way: the
kubelet reaps only the first fork, which exits at once), so it outlives the kubelet and the
server: a restarted kubelet finds the running container and, once it ends, its exit code.
The pid (or the failure) goes back over the server's connection (or an inherited pipe) as one line,
``{"data": PID}`` or ``{"data": -1, "message": "..."}``, conmon's sync-pipe message.

This file is run as a script by ``sys.executable -I -S`` (loaded by path, without its package),
so it imports nothing but the small standard modules below and needs no installed package. One
such process per kubelet root dir is a fork server (``serve``); each container's monitor is a
fork of it (~1.3 MB of its own; ~3 MB when started as a Python of its own, the fallback).
"""

from __future__ import annotations

import os
import select
import sys
import time

TYPE_CHECKING = False  # (no typing import: each module is start-up time and memory here)
if TYPE_CHECKING:
    import signal
    from typing import Any
else:  # the C module: ``signal`` imports enum, ~4 ms of each monitor's start
    import _signal as signal

CHUNK = 65536  # one read of a pipe; a longer line is written as P chunks
REOPEN_LOGS = b"2"  # conmon's control message number for "reopen the log" (src/config.h)
DRAIN_LIMIT = 1 << 20  # at most this much more output is read once the process has ended
IDLE_CHECK = 5.0  # how often the fork server looks for ended monitors while no request comes


def stamp(now_ns: int) -> bytes:
    """RFC 3339 in UTC with nanoseconds, as containerd writes CRI log lines."""
    seconds, nanos = divmod(now_ns, 1_000_000_000)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z").encode()


def cri_lines(stream: bytes, data: bytes, now_ns: int) -> bytes:
    """``data`` read from one stream as CRI lines: full lines ``F``, a trailing piece ``P``."""
    head = stamp(now_ns) + b" " + stream + b" "
    out = []
    lines = data.split(b"\n")
    for line in lines[:-1]:
        out.append(head + b"F " + line + b"\n")
    if lines[-1]:
        out.append(head + b"P " + lines[-1] + b"\n")
    return b"".join(out)


def exit_code(status: int) -> int:
    """A wait status as conmon records it: the code, or 128 + the signal that killed it."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def write_atomically(path: str, text: str, mtime: float | None = None) -> None:
    """Write ``text`` to ``path`` by rename, so a reader sees all of it or nothing."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    os.replace(tmp, path)


def make_fifo(path: str) -> None:
    """A fresh FIFO at ``path``."""
    if os.path.lexists(path):  # (no contextlib: every import is memory in each monitor)
        os.unlink(path)
    os.mkfifo(path, 0o600)


class Monitor:
    """One container's monitor; ``run`` returns when the container's process has ended."""

    def __init__(self, state_dir: str, container_id: str, log_path: str) -> None:
        self.dir = state_dir
        self.id = container_id
        self.log_path = log_path
        self.bundle = os.path.join(state_dir, "bundle")
        self.log_fd = self.ctl = self.wake = -1
        self.pipes: dict[int, bytes] = {}  # read end -> stream name
        self.pid = 0

    def open_log(self) -> None:
        """(Re)open the log for appending, as a new file if the kubelet moved the old one."""
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                     0o640)
        if self.log_fd >= 0:
            os.close(self.log_fd)
        self.log_fd = fd

    def spawn(self) -> int:
        """Start ``bundle/run.sh`` in a new session with the pipes as stdout and stderr."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        make_fifo(os.path.join(self.bundle, "start"))
        try:
            self.pid = os.posix_spawn(
                "/bin/sh", ["/bin/sh", os.path.join(self.bundle, "run.sh")], _child_env(),
                file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                              (os.POSIX_SPAWN_DUP2, out_w, 1),
                              (os.POSIX_SPAWN_DUP2, err_w, 2)],
                setsid=True, setsigdef=(signal.SIGPIPE, signal.SIGHUP, signal.SIGINT,
                                        signal.SIGCHLD))
        finally:
            os.close(out_w)
            os.close(err_w)
        for fd in (out_r, err_r):
            os.set_blocking(fd, False)
        self.pipes = {out_r: b"stdout", err_r: b"stderr"}
        return self.pid

    def prepare(self) -> None:
        """The log, the control FIFO and the SIGCHLD wake-up, before there is a process."""
        self.open_log()
        ctl_path = os.path.join(self.bundle, "ctl")
        make_fifo(ctl_path)
        # read-write: the monitor itself holds a writer, so the FIFO never reports EOF, and a
        # kubelet's non-blocking open for writing finds a reader while the monitor lives
        self.ctl = os.open(ctl_path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # the handler's byte wakes the poll
        signal.set_wakeup_fd(wake_w)

    def run(self) -> None:
        """Copy output to the log and serve the control FIFO until the process ends."""
        poller = select.poll()
        for fd in (*self.pipes, self.ctl, self.wake):
            poller.register(fd, select.POLLIN)
        done = self._reaped()  # it may have ended before the poll was ready
        while not done:
            for fd, _ in poller.poll():
                if fd == self.ctl:
                    self._control(self.ctl)
                elif fd == self.wake:
                    os.read(self.wake, 512)
                    done = self._reaped()
                elif not self._copy(fd):
                    poller.unregister(fd)

    def _copy(self, fd: int) -> bool:
        """Copy what ``fd`` has to the log; False at its end."""
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return True
        if not data:
            os.close(fd)
            del self.pipes[fd]
            return False
        self._log(self.pipes[fd], data)
        return True

    def _log(self, stream: bytes, data: bytes) -> None:
        try:
            os.write(self.log_fd, cri_lines(stream, data, time.time_ns()))
        except OSError as exc:  # a full disk loses lines, never the container's exit code
            print(f"km monitor {self.id}: log: {exc.strerror}", file=sys.stderr)

    def _control(self, ctl: int) -> None:
        try:
            messages = os.read(ctl, 512)
        except BlockingIOError:
            return
        for message in messages.splitlines():
            if message.split(b" ", 1)[0] == REOPEN_LOGS:
                self.open_log()

    def _reaped(self) -> bool:
        """After a SIGCHLD: if the container's process ended, record it and say True."""
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return False
        ended = time.time()
        self._drain()
        write_atomically(os.path.join(self.dir, "exit", self.id), str(exit_code(status)),
                         mtime=ended)
        return True

    def _drain(self) -> None:
        """Log what is still in the pipes (bounded: an orphan may keep writing)."""
        budget = DRAIN_LIMIT
        for fd, stream in list(self.pipes.items()):
            while budget > 0:
                try:
                    data = os.read(fd, CHUNK)
                except BlockingIOError:
                    break
                if not data:
                    break
                budget -= len(data)
                self._log(stream, data)


def _child_env() -> dict[str, str]:
    """run.sh sets the container's own environment (``env -i``); the shell needs a PATH."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin"}


def _sync(fd: int, pid: int, message: str = "") -> None:
    text = message.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    line = f'{{"data": {pid}, "message": "{text}"}}\n' if message else f'{{"data": {pid}}}\n'
    os.write(fd, line.encode())
    os.close(fd)


def own_start_time() -> str:
    """This process's start time in clock ticks (/proc/self/stat field 22): with the pid in
    ``conmon.pid`` it tells this monitor from a later process that got the same pid."""
    with open("/proc/self/stat", encoding="ascii") as f:
        return f.read().rsplit(")", 1)[1].split()[19]


def monitor(state_dir: str, container_id: str, log_path: str, sync_fd: int) -> int:
    """Start the container and monitor it until it ends (in a process of its own)."""
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    watcher = Monitor(state_dir, container_id, log_path)
    try:
        watcher.prepare()
        pid = watcher.spawn()
        write_atomically(os.path.join(state_dir, "monitor.start"), own_start_time())
        write_atomically(os.path.join(state_dir, "conmon.pid"), str(os.getpid()))
        write_atomically(os.path.join(state_dir, "pid"), str(pid))
    except OSError as exc:
        _sync(sync_fd, -1, f"km monitor: {exc}")
        return 1
    _sync(sync_fd, pid)
    watcher.run()
    return 0


def serve(name: str, idle_exit: float, sync_fd: int) -> int:
    """The fork server: one per kubelet root dir (the working directory), listening on the
    unix socket ``name`` there. Each connection sends ``STATE_DIR\0ID\0LOG_PATH\n``; a
    fork of this process becomes that container's monitor and answers on the connection
    (the sync message). A fork costs about a millisecond and shares this process's pages,
    where a new Python costs ~10 ms of CPU and ~3 MB of its own. With no monitor left and
    no request for ``idle_exit`` seconds it removes its socket and ends (the next container
    starts it again), so a node without pods keeps no process of km's."""
    import _socket  # (the C module: ``socket`` imports enum and selectors)

    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    if os.path.lexists(name):
        os.unlink(name)
    listener.bind(name)  # relative: a root dir's path may be longer than sun_path allows
    os.chmod(name, 0o600)  # only the kubelet's user may ask for a process
    listener.listen(64)
    listener.settimeout(min(IDLE_CHECK, idle_exit / 2))
    write_atomically(name + ".pid", str(os.getpid()))
    os.write(sync_fd, b"ready\n")
    os.close(sync_fd)
    children: set[int] = set()
    last = time.monotonic()
    while True:
        try:
            accepted, _ = listener._accept()  # type: ignore[attr-defined]  # the C one: an fd
        except TimeoutError:
            _reap(children)
            if not children and time.monotonic() - last > idle_exit:
                _remove_own(name)
                return 0
            continue
        last = time.monotonic()
        _reap(children)
        conn = _socket.socket(fileno=accepted)
        fields = _request(conn)
        if len(fields) == 3:
            pid = os.fork()
            if pid == 0:
                listener.close()
                fd = conn.detach()
                os.set_blocking(fd, True)
                os._exit(monitor(fields[0], fields[1], fields[2], fd))
            children.add(pid)
        conn.close()


def _request(conn: Any) -> list[str]:
    """One request's fields (``[]`` for a bad or silent client)."""
    conn.settimeout(10)
    request = b""
    try:
        while not request.endswith(b"\n") and len(request) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            request += chunk
    except OSError:
        return []
    return request.rstrip(b"\n").decode(errors="surrogateescape").split("\0")


def _reap(children: set[int]) -> None:
    """Collect the monitors that ended."""
    for pid in list(children):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            children.discard(pid)


def _remove_own(name: str) -> None:
    """Remove the socket and pid file, unless a newer server has taken them meanwhile."""
    try:
        with open(name + ".pid", encoding="ascii") as f:
            ours = int(f.read()) == os.getpid()
    except (OSError, ValueError):
        ours = False
    if ours:
        for path in (name, name + ".pid"):
            if os.path.lexists(path):
                os.unlink(path)


def main(argv: list[str]) -> int:
    """``STATE_DIR CONTAINER_ID LOG_PATH SYNC_FD``: detach, start, monitor, exit;
    ``--serve ROOT NAME IDLE_EXIT SYNC_FD``: detach and be ROOT's fork server (``serve``)."""
    serving = argv[:1] == ["--serve"]
    sync_fd = int(argv[-1])
    os.set_inheritable(sync_fd, False)  # the container must not hold the kubelet's pipe
    if os.fork() > 0:
        os._exit(0)  # the kubelet reaps this first process; the monitor is nobody's child
    if serving:
        os.chdir(argv[1])
        return serve(argv[2], float(argv[3]), sync_fd)
    state_dir, container_id, log_path, _ = argv
    return monitor(state_dir, container_id, log_path, sync_fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
