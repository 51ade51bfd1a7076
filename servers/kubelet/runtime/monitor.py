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
- ``bundle/attach`` conmon's attach socket (``attach.py`` is the client): a ``SOCK_SEQPACKET``
  unix socket; each message to a client is a pipe byte (2 stdout, 3 stderr) and at most 8192
  bytes of live output; what a client sends is the container's stdin, when the container has
  one (kube's ``stdin``): a pipe the monitor holds open for later clients. A client's end of
  input (a shut writing side, or a hang-up) closes the container's stdin when it runs
  ``stdinOnce`` (conmon without ``--leave-stdin-open``); on a terminal that means later input
  is refused, the terminal itself stays (as conmon's). A client too slow to take its output
  for ``SEND_WAIT`` seconds is dropped, so it never holds the container up for longer;
- ``bundle/winsz`` with a terminal (kube's ``tty``: the container runs on a pseudo-terminal
  whose output is logged as stdout): a FIFO of ``HEIGHT WIDTH`` lines, each applied to the
  terminal in turn (conmon's; ``1 HEIGHT WIDTH`` on ``ctl`` too);
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
RESIZE = b"1"  # ... and for "resize the terminal"
STDOUT_PIPE = b"\x02"  # the first byte of an attach message: which pipe (conmon's)
STDERR_PIPE = b"\x03"
ATTACH_PIECE = 8192  # conmon's buffer: an attach client reads messages of 8192 + 1 bytes
MAX_CLIENTS = 16  # attach clients at once (a later one is closed at once)
SERVER_BACKLOG = 256  # the fork server's listen backlog (its client queues below it: monitors.py)
SEND_WAIT = 5.0  # a client that takes no output for this long is dropped
TIOCSWINSZ = 0x5414  # <asm-generic/ioctls.h> (not ``termios``: one more module per monitor)
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
    """One container's monitor; ``run`` returns when the container's process has ended.

    ``flags`` are conmon's options as letters: ``i`` keep a stdin for attach clients
    (``--stdin``), ``o`` close it when the first attach session ends (kube's stdinOnce),
    ``t`` run the container on a terminal (``--terminal``)."""

    def __init__(self, state_dir: str, container_id: str, log_path: str,
                 flags: str = "") -> None:
        self.dir = state_dir
        self.id = container_id
        self.log_path = log_path
        self.bundle = os.path.join(state_dir, "bundle")
        self.tty = "t" in flags
        self.keep_stdin = "i" in flags
        self.stdin_once = "o" in flags
        self.log_fd = self.ctl = self.wake = self.winsz = self.listener = -1
        self.terminal = -1  # a terminal's master side: its output, input and size
        self.stdin = -1  # where attach clients' input goes: a pipe, or the terminal
        self.listen_sock: Any = None
        self.pending = b""  # input the container has not taken yet
        self.stdin_ending = False  # close the stdin once ``pending`` is written
        self.pipes: dict[int, bytes] = {}  # read end -> stream name
        self.clients: dict[int, Any] = {}  # attach socket fd -> its _socket.socket
        self.reading: set[int] = set()  # the clients whose input has not ended
        self.poller: Any = None
        self.pid = 0

    def open_log(self) -> None:
        """(Re)open the log for appending, as a new file if the kubelet moved the old one."""
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                     0o640)
        if self.log_fd >= 0:
            os.close(self.log_fd)
        self.log_fd = fd

    def spawn(self) -> int:
        """Start ``bundle/run.sh`` in a new session: stdout and stderr pipes, stdin
        /dev/null or a pipe; or all three a terminal, its controlling one (the session
        leader opens it after setsid: posix_spawn runs setsid before the file actions)."""
        make_fifo(os.path.join(self.bundle, "start"))
        ours: list[int] = []  # the child's ends, closed here once it has them
        if self.tty:
            master, slave = os.openpty()
            ours.append(slave)
            stdio = [(os.POSIX_SPAWN_OPEN, 0, os.ttyname(slave), os.O_RDWR, 0),
                     (os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)]
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            ours += [out_w, err_w]
            stdio = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                     (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
            if self.keep_stdin:
                in_r, self.stdin = os.pipe()
                ours.append(in_r)
                stdio[0] = (os.POSIX_SPAWN_DUP2, in_r, 0)
        try:
            self.pid = os.posix_spawn(
                "/bin/sh", ["/bin/sh", os.path.join(self.bundle, "run.sh")], _child_env(),
                file_actions=stdio, setsid=True,
                setsigdef=(signal.SIGPIPE, signal.SIGHUP, signal.SIGINT, signal.SIGCHLD))
        finally:
            for fd in ours:
                os.close(fd)
        if self.tty:
            self.terminal = master
            self.pipes = {master: b"stdout"}  # a terminal has one output
            self.stdin = master if self.keep_stdin else -1
        else:
            self.pipes = {out_r: b"stdout", err_r: b"stderr"}
        for fd in (*self.pipes, self.stdin):
            if fd >= 0:
                os.set_blocking(fd, False)
        return self.pid

    def prepare(self) -> None:
        """The log, the FIFOs, the attach socket and the SIGCHLD wake-up, before there is a
        process."""
        import _socket  # (the C module: ``socket`` imports enum and selectors)

        self.open_log()
        # read-write: the monitor itself holds a writer, so a FIFO never reports EOF, and a
        # kubelet's non-blocking open for writing finds a reader while the monitor lives
        self.ctl = _own_fifo(os.path.join(self.bundle, "ctl"))
        if self.tty:
            self.winsz = _own_fifo(os.path.join(self.bundle, "winsz"))
        listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        folder = os.open(self.bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:  # through /proc/self/fd: a bundle's path may be longer than sun_path allows
            path = f"/proc/self/fd/{folder}/attach"
            if os.path.lexists(path):
                os.unlink(path)
            listener.bind(path)
            os.chmod(path, 0o600)  # only the kubelet's user may attach
        finally:
            os.close(folder)
        listener.listen(MAX_CLIENTS)
        listener.setblocking(False)
        self.listen_sock, self.listener = listener, listener.fileno()
        self.wake, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # the handler's byte wakes the poll
        signal.set_wakeup_fd(wake_w)

    def run(self) -> None:
        """Copy output to the log and to attach clients, input from attach clients to the
        container, serve the FIFOs, until the process ends."""
        self.poller = select.poll()
        for fd in (self.ctl, self.wake, self.listener, self.winsz):
            if fd >= 0:
                self.poller.register(fd, select.POLLIN)
        for fd in self.pipes:
            self._watch(fd)
        done = self._reaped()  # it may have ended before the poll was ready
        while not done:
            for fd, events in self.poller.poll():
                if fd == self.wake:
                    os.read(self.wake, 512)
                    done = self._reaped()
                else:
                    self._event(fd, events)
        self._hang_up()

    def _event(self, fd: int, events: int) -> None:
        """What ``poll`` reported on ``fd`` (but the wake-up pipe)."""
        if fd in self.clients:
            self._client(fd, events)
        elif fd == self.listener:
            self._accept()
        elif fd in (self.ctl, self.winsz):
            self._control(fd)
        else:  # an output pipe or the terminal, or the stdin pipe
            if fd == self.stdin and events & (select.POLLOUT | select.POLLERR):
                self._flush()
            if fd in self.pipes and events & ~select.POLLOUT and not self._copy(fd):
                self.poller.unregister(fd)

    def _watch(self, fd: int) -> None:
        """(Re)register an output or stdin fd for what it waits for now."""
        mask = select.POLLIN if fd in self.pipes else 0
        if fd == self.stdin and self.pending:
            mask |= select.POLLOUT
        if mask:
            self.poller.register(fd, mask)
        elif fd >= 0:
            try:  # noqa: SIM105  (no contextlib: every import is memory in each monitor)
                self.poller.unregister(fd)
            except KeyError:
                pass

    def _copy(self, fd: int) -> bool:
        """Copy what ``fd`` has to the log and the attach clients; False at its end."""
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return True
        except OSError:  # EIO: a terminal whose processes have all gone
            data = b""
        if not data:
            if fd != self.terminal:  # (it stays open for resizes until the end)
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
        if self.clients:
            self._relay(STDERR_PIPE if stream == b"stderr" else STDOUT_PIPE, data)

    def _relay(self, pipe: bytes, data: bytes) -> None:
        """Send output to every attach client, in messages a client's buffer takes."""
        for fd, client in list(self.clients.items()):
            try:
                for start in range(0, len(data), ATTACH_PIECE):
                    client.sendall(pipe + data[start:start + ATTACH_PIECE])
            except OSError:  # gone, or too slow (the timeout): it is dropped
                self._drop(fd)

    def _accept(self) -> None:
        import _socket

        try:
            accepted, _ = self.listen_sock._accept()  # the C one: an fd
        except OSError:
            return
        if len(self.clients) >= MAX_CLIENTS:
            os.close(accepted)
            return
        client = _socket.socket(fileno=accepted)
        client.settimeout(SEND_WAIT)
        self.clients[accepted] = client
        self.reading.add(accepted)
        self.poller.register(accepted, 0 if self.pending else select.POLLIN)

    def _client(self, fd: int, events: int) -> None:
        """Input from an attach client, the end of its input, or its hang-up."""
        if fd in self.reading and events & select.POLLIN:
            try:
                data = self.clients[fd].recv(CHUNK)
            except OSError:
                data = b""
            if data:
                self._input(data)
                return
            self.reading.discard(fd)  # its writing side is shut: it still takes output
            self.poller.register(fd, 0)
            self._session_ended()
            return
        if events & (select.POLLHUP | select.POLLERR):
            self._drop(fd)

    def _drop(self, fd: int) -> None:
        client = self.clients.pop(fd)
        self.poller.unregister(fd)
        client.close()
        if fd in self.reading:
            self.reading.discard(fd)
            self._session_ended()

    def _session_ended(self) -> None:
        """An attach client's input ended: stdinOnce closes the container's stdin."""
        if self.stdin_once and self.stdin >= 0:
            self.stdin_ending = True
            if not self.pending:
                self._close_stdin()

    def _input(self, data: bytes) -> None:
        """Give an attach client's input to the container (dropped once stdin is closed)."""
        if self.stdin < 0 or self.stdin_ending:
            return
        self.pending += data
        self._flush()

    def _flush(self) -> None:
        """Write what input the container takes now; while some waits, clients are not
        read (their input waits in their sockets: back-pressure, not memory)."""
        try:
            written = os.write(self.stdin, self.pending) if self.pending else 0
        except BlockingIOError:
            written = 0
        except OSError:  # EPIPE: the container no longer reads its stdin
            self.pending = b""
            self._close_stdin()
            return
        self.pending = self.pending[written:]
        self._watch(self.stdin)
        for fd in self.reading:
            self.poller.register(fd, 0 if self.pending else select.POLLIN)
        if not self.pending and self.stdin_ending:
            self._close_stdin()

    def _close_stdin(self) -> None:
        """The container's stdin ends: a pipe is closed (the process reads EOF); a terminal
        stays open for output, and takes no more input."""
        fd, self.stdin, self.pending = self.stdin, -1, b""
        if fd < 0:
            return
        self._watch(fd)  # no more POLLOUT (a terminal keeps its POLLIN while it has output)
        if fd != self.terminal:
            os.close(fd)

    def _control(self, fd: int) -> None:
        """conmon's ``ctl`` messages (``TYPE H W``) or its ``winsz`` lines (``H W``)."""
        try:
            messages = os.read(fd, 512)
        except BlockingIOError:
            return
        for message in messages.splitlines():
            words = message.split()
            if fd == self.winsz:
                words = [RESIZE, *words]
            if words[:1] == [REOPEN_LOGS]:
                self.open_log()
            elif words[:1] == [RESIZE] and len(words) == 3:
                self._resize(words[1], words[2])

    def _resize(self, height: bytes, width: bytes) -> None:
        """Set the terminal's size (its processes get SIGWINCH from the kernel)."""
        if self.terminal < 0:
            return
        import fcntl  # (only a terminal's monitor needs it)

        try:
            rows, cols = int(height), int(width)
            size = b"".join(n.to_bytes(2, sys.byteorder) for n in (rows, cols, 0, 0))
            fcntl.ioctl(self.terminal, TIOCSWINSZ, size)
        except (ValueError, OverflowError, OSError):
            pass  # a bad line, or the terminal is gone

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
                except OSError:  # BlockingIOError: nothing now; EIO: a terminal's end
                    break
                if not data:
                    break
                budget -= len(data)
                self._log(stream, data)

    def _hang_up(self) -> None:
        """The container has ended: no more attaching; the clients see their end."""
        path = os.path.join(self.bundle, "attach")
        if os.path.lexists(path):
            os.unlink(path)
        for fd in list(self.clients):
            self.clients.pop(fd).close()


def _own_fifo(path: str) -> int:
    """A fresh FIFO at ``path``, opened read-write and non-blocking (see ``prepare``)."""
    make_fifo(path)
    return os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)


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


def monitor(state_dir: str, container_id: str, log_path: str, sync_fd: int,
            flags: str = "") -> int:
    """Start the container and monitor it until it ends (in a process of its own);
    ``flags`` as ``Monitor``'s."""
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    watcher = Monitor(state_dir, container_id, log_path, flags)
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
    unix socket ``name`` there. Each connection sends ``STATE_DIR\0ID\0LOG_PATH\0FLAGS\n``; a
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
    listener.listen(SERVER_BACKLOG)
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
        if len(fields) == 4:
            pid = os.fork()
            if pid == 0:
                listener.close()
                fd = conn.detach()
                os.set_blocking(fd, True)
                os._exit(monitor(fields[0], fields[1], fields[2], fd, fields[3]))
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
    """``STATE_DIR CONTAINER_ID LOG_PATH FLAGS SYNC_FD``: detach, start, monitor, exit;
    ``--serve ROOT NAME IDLE_EXIT SYNC_FD``: detach and be ROOT's fork server (``serve``)."""
    serving = argv[:1] == ["--serve"]
    sync_fd = int(argv[-1])
    os.set_inheritable(sync_fd, False)  # the container must not hold the kubelet's pipe
    if os.fork() > 0:
        os._exit(0)  # the kubelet reaps this first process; the monitor is nobody's child
    if serving:
        os.chdir(argv[1])
        return serve(argv[2], float(argv[3]), sync_fd)
    state_dir, container_id, log_path, flags, _ = argv
    return monitor(state_dir, container_id, log_path, sync_fd, flags)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
