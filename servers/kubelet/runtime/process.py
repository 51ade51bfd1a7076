"""``--isolation none``: each container a host process under km's monitor, each pod a loopback IP.

No namespaces and no cgroups, so no root and no runtime package needed: the same lifecycle as
the sandboxed runtime, with km's own monitor (``monitor.py``, run by the Python that runs km)
in conmon's place: it holds stdio, writes the CRI log and the exit code and outlives the
kubelet. Each pod gets its own address from this node's /24 of 127.0.0.0/8 (``POD_IP`` in its
environment; a pod must bind it, as two pods on one host share every port otherwise).

The monitor starts the bundle's ``run.sh`` in its own session, paused on a FIFO until
``start_container`` opens it — the same created/started split runc makes with its exec FIFO.
Run-as user/group and no_new_privs go through util-linux ``setpriv`` (another user only as
root); resources and capabilities are not enforced here (no cgroups). A mount whose host path
is its container path needs nothing; any other mount (a volume at its mountPath, such as the
ServiceAccount token at /var/run/secrets/kubernetes.io/serviceaccount) puts the container in
a mount namespace of its own, made by ``mountns.py`` (inside an unprivileged user namespace
when the kubelet is not root), and exec enters it; a host that allows no such namespace gets
the container refused at create, saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import json
import os
import shlex
import shutil
import signal
import subprocess
from typing import Any

from servers.kubelet.runtime import conmon, ipam, stream
from servers.kubelet.runtime.base import MonitoredRuntime, alive, container_config
from servers.kubelet.runtime.errors import CommandFailed, ExecTimeout, InvalidConfig
from servers.kubelet.runtime.interface import (
    ContainerConfig,
    ExecResult,
    PodSandboxConfig,
    Runtime,
    Streams,
)
from servers.kubelet.runtime.monitors import (
    MOUNTS_BOOT,
    Launcher,
    helper,
    stop_servers,
)
from servers.kubelet.runtime.spec import DEFAULT_PATH, process_env
from servers.kubelet.runtime.state import Record

REOPEN_WAIT = 2.0  # how long a log reopen waits for the monitor's new file
START_WAIT = 10.0  # how long start waits for the paused shell to open its FIFO
MOUNTS = "mounts.json"  # in the bundle: the mounts mountns.py makes before the command runs
def mounts_unavailable() -> str:
    """Why this host cannot give a none-mode container mounts of its own ("" if it can):
    mountns.py tries the namespaces once."""
    if os.geteuid() == 0:
        return ""  # root has mount namespaces without a user namespace
    try:
        done = subprocess.run(helper(MOUNTS_BOOT, "--probe"), capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return ""
    return _tail(done.stderr).removeprefix("km: volume mounts: ")


def _tail(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _km_said(log_path: str) -> str:
    """The last log line when km's own helper wrote it (``km: ...``), else ""."""
    try:
        with open(log_path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
            last = f.read().decode(errors="replace").splitlines()[-1:]
    except OSError:
        return ""
    text = last[0].split(" ", 3)[-1] if last else ""
    return text if text.startswith("km: ") else ""


def _check_runnable(config: ContainerConfig, env: dict[str, str]) -> None:
    """Fail at create, as runc does, when the program or the working dir is missing."""
    program = (config.command or config.args)[0]
    path = env.get("PATH", DEFAULT_PATH)
    if "/" in program:
        if not os.access(program, os.X_OK):
            msg = f'container create: exec: "{program}": stat {program}: no such file or directory'
            raise CommandFailed(msg)
    elif shutil.which(program, path=path) is None:
        msg = f'container create: exec: "{program}": executable file not found in $PATH'
        raise CommandFailed(msg)
    if config.working_dir and not os.path.isdir(config.working_dir):
        msg = f"container create: working dir {config.working_dir}: no such directory"
        raise CommandFailed(msg)


def _run_as(config: ContainerConfig) -> str:
    """A ``setpriv`` prefix for run-as and no_new_privs, or "" (only root can change user)."""
    security = config.security
    uid, gid = security.run_as_user, security.run_as_group
    if os.geteuid() != 0:
        if uid not in (None, os.geteuid()) or gid not in (None, os.getegid()):
            msg = (f"container {config.name!r}: --isolation none without root cannot run as "
                   f"uid {uid} gid {gid}")
            raise InvalidConfig(msg)
        return "/usr/bin/setpriv --no-new-privs " if security.no_new_privs else ""
    words = []
    if uid is not None or gid is not None:
        words += [f"--reuid={uid if uid is not None else 0}",
                  f"--regid={gid if gid is not None else 0}", "--clear-groups"]
    if security.no_new_privs and not security.privileged:
        words.append("--no-new-privs")
    return f"/usr/bin/setpriv {' '.join(words)} " if words else ""


def _group_older_than(pgid: int, ended: float) -> bool:
    """True when group ``pgid`` has a member that started before ``ended`` (epoch seconds).

    The container's session leader has ended; its group lives on while any member does, and
    Linux never hands out a pid still in use as a group id. So a member older than the
    leader's end proves the group is still the container's; a group of only younger
    processes may belong to a stranger that got the pid later, and is left alone.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat", encoding="utf-8") as f:
        boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and boot + int(fields[19]) / ticks <= ended:
            return True
    return False


def _in_dir(pid: int, directory: str) -> bool:
    """True when ``pid`` runs a script from ``directory`` (our shim's shell, not a reused pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return directory.encode() in f.read()
    except FileNotFoundError:
        return False


class ProcessRuntime(MonitoredRuntime):
    """Pods as plain processes on loopback IPs; see the module docstring."""

    isolation = "none"

    def __init__(self, root_dir: str, node_name: str, loopback_cidr: str = "") -> None:
        super().__init__(root_dir, node_name)
        self.cidr = loopback_cidr or self.names.loopback_cidr()
        self._mounts_unavailable: str | None = None  # asked once, at the first need
        self.monitors = Launcher(self.root)

    async def _sandbox_up(self, sandbox_id: str, config: PodSandboxConfig) -> str:
        address = ipam.allocate(os.path.join(self.root, "ipam"), self.cidr, sandbox_id)
        return address.split("/")[0]

    async def _sandbox_down(self, sandbox_id: str, record: Record) -> None:
        return None  # the address stays the pod's until the sandbox is removed

    def _sandbox_intact(self, record: Record) -> bool:
        return True  # a loopback address needs nothing from the kernel

    async def _sandbox_remove(self, sandbox_id: str, record: Record) -> None:
        ipam.release(os.path.join(self.root, "ipam"), sandbox_id)

    def _write_bundle(self, sandbox: Record, container_id: str, config: ContainerConfig,
                      bundle: str) -> None:
        private = [m for m in config.mounts
                   if m.tmpfs or os.path.realpath(m.host_path) != m.container_path]
        if private:
            self._check_mounts(config, private[0].container_path)
        env = process_env(config, POD_IP=sandbox["ip"])
        _check_runnable(config, env)
        start = os.path.join(bundle, "start")
        words = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
        argv = " ".join(shlex.quote(a) for a in (*config.command, *config.args))
        script = (f": < {shlex.quote(start)} || exit 126\n"
                  f"cd {shlex.quote(config.working_dir or '/')} || exit 127\n"
                  f"exec {_run_as(config)}/usr/bin/env -i {words} "
                  f"/bin/sh -c 'exec \"$@\"' sh {argv}\n")
        if private:  # the mounts first (mountns.py), at create; it then runs inner.sh
            with open(os.path.join(bundle, MOUNTS), "w", encoding="utf-8") as f:
                json.dump([dataclasses.asdict(m) for m in config.mounts], f)
            with open(os.path.join(bundle, "inner.sh"), "w", encoding="utf-8") as f:
                f.write(script)
            script = f"exec {shlex.join(helper(MOUNTS_BOOT, bundle))}\n"
        with open(os.path.join(bundle, "run.sh"), "w", encoding="utf-8") as f:
            f.write(script)

    def _check_mounts(self, config: ContainerConfig, path: str) -> None:
        """Refuse at create, in one line, a mount this host cannot give a plain process."""
        if self._mounts_unavailable is None:
            self._mounts_unavailable = mounts_unavailable()
        if self._mounts_unavailable:
            msg = (f"container {config.name!r}: --isolation none cannot mount {path}: "
                   f"{self._mounts_unavailable}")
            raise InvalidConfig(msg)

    async def _launch(self, container_id: str, paths: conmon.Paths, log_path: str) -> int:
        config = container_config(self._container(container_id)["config"])
        return await self.monitors.launch(container_id, paths, log_path, stdin=config.stdin,
                                          stdin_once=config.stdin_once, tty=config.tty)

    async def reopen_container_log(self, container_id: str) -> None:
        # as CRI-O's ReopenContainerLog, return once the monitor has made the new file: the
        # kubelet reads and rotates it next, and output must not go on into the renamed one
        await super().reopen_container_log(container_id)
        log_path = self._container(container_id)["log_path"]
        deadline = asyncio.get_running_loop().time() + REOPEN_WAIT
        while not os.path.exists(log_path) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.005)

    def _conmon_alive(self, paths: conmon.Paths) -> bool:
        # a monitor forked by the fork server has the server's command line: its start time,
        # recorded by itself, tells it from a later process with the same pid
        try:
            with open(paths.conmon_pidfile, encoding="ascii") as f:
                pid = int(f.read().strip() or 0)
            with open(os.path.join(paths.dir, "monitor.start"), encoding="ascii") as f:
                started = f.read().strip()
        except (FileNotFoundError, ValueError):
            return False
        return bool(started) and alive(pid, started)

    async def _start(self, record: Record, paths: conmon.Paths) -> None:
        fifo = os.path.join(paths.bundle, "start")
        deadline = asyncio.get_running_loop().time() + START_WAIT
        while True:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:
                if exc.errno not in (errno.ENXIO, errno.ENOENT):
                    raise
            # ENXIO: the paused shell has not opened its end yet, or is gone
            if (not alive(record["pid"], record["pid_start"])
                    or asyncio.get_running_loop().time() > deadline):
                msg = f"container {record['name']!r}: its process is gone before start"
                said = _km_said(record["log_path"])  # mountns.py's reason, if it failed
                msg += f" ({said})" if said else ""
                raise CommandFailed(msg) from None
            await asyncio.sleep(0.005)
        os.close(fd)  # the paused shell's open returns: it goes on to exec the command

    async def _signal(self, record: Record, sig: int, every_process: bool) -> None:
        pid = record["pid"]
        if not alive(pid, record["pid_start"]):
            return  # gone, or the pid now belongs to someone else
        if every_process:
            # the shim makes the process a session (and group) leader; until setsid has
            # run there is no such group yet, and nothing forked either: kill the one pid
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
                return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    async def _exec(self, record: Record, cmd: list[str], timeout: float) -> ExecResult:
        config = container_config(record["config"])
        sandbox = self.store.load("sandboxes", record["sandbox_id"]) or {}
        env = process_env(config, POD_IP=sandbox.get("ip", ""))
        security = config.security
        as_user: dict[str, Any] = {}
        if os.geteuid() == 0 and (security.run_as_user, security.run_as_group) != (None, None):
            as_user = {"user": security.run_as_user or 0, "group": security.run_as_group or 0,
                       "extra_groups": []}  # as the container runs (setpriv --clear-groups)
        if self._has_mounts(record):
            cmd, as_user = self._entering(record, config, cmd), {}
        try:
            proc = await asyncio.create_subprocess_exec(
                *cmd, env=env, cwd=config.working_dir or "/", start_new_session=True,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, **as_user)
        except OSError as exc:  # as a shell says it: 127 not found, 126 not executable
            code = 127 if isinstance(exc, FileNotFoundError) else 126
            return ExecResult(exit_code=code, stdout=b"", stderr=f"{exc}\n".encode())
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except asyncio.TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            msg = f"exec {cmd[0]}: timed out after {timeout:g}s"
            raise ExecTimeout(msg) from None
        code = proc.returncode if proc.returncode is not None else -1
        return ExecResult(exit_code=code if code >= 0 else 128 - code, stdout=out, stderr=err)

    async def _exec_stream(self, record: Record, cmd: list[str], tty: bool,
                           stdin: bool) -> Streams:
        sandbox = self.store.load("sandboxes", record["sandbox_id"]) or {}
        config = container_config(record["config"])
        if self._has_mounts(record):  # the helper enters the mounts, then becomes the user
            cmd = self._entering(record, config, cmd)
            config = dataclasses.replace(config, security=dataclasses.replace(
                config.security, run_as_user=None, run_as_group=None))
        return await stream.host_exec(config, sandbox.get("ip", ""),
                                      cmd, tty=tty, stdin=stdin)

    def _has_mounts(self, record: Record) -> bool:
        """True when the container runs in a mount namespace of its own (mountns.py)."""
        return os.path.exists(os.path.join(self._paths(record["id"]).bundle, MOUNTS))

    def _entering(self, record: Record, config: ContainerConfig, cmd: list[str]) -> list[str]:
        """``cmd`` run in the container's mounts (and, as root, as its user)."""
        security = config.security
        who: list[str] = []
        if os.geteuid() == 0 and (security.run_as_user, security.run_as_group) != (None, None):
            who = ["--as", f"{security.run_as_user or 0}:{security.run_as_group or 0}"]
        return helper(MOUNTS_BOOT, "--enter", str(record["pid"]), *who, "--", *cmd)

    async def _kill_leftovers(self, record: Record) -> None:
        pid = record["pid"]
        if not record["started_at"] or pid <= 0:
            return
        ended = conmon.exit_code(self._paths(record["id"]), record["id"])
        if alive(pid, record["pid_start"]) or (ended and _group_older_than(pid, ended[1])):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    async def _forget(self, container_id: str) -> None:
        # a create that failed after the shim ran leaves its paused shell: kill it
        pidfile = self._paths(container_id).pidfile
        try:
            with open(pidfile, encoding="utf-8") as f:
                pid = int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return
        if alive(pid, "") and _in_dir(pid, self.store.dir("containers", container_id)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def _node_remove(self) -> None:
        stop_servers(self.root)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(self.root, "ipam"))


_: type[Runtime] = ProcessRuntime
