"""The lifecycle both runtimes share: records on disk, conmon per container, status from both.

``MonitoredRuntime`` implements the ``Runtime`` protocol's bookkeeping once; a subclass says
how a sandbox is isolated and how a container's process is made, started, signalled and
exec'd into (``oci.NamespacesRuntime`` with runc, ``process.ProcessRuntime`` with a shell
shim). Nothing lives only in memory: a new object over the same root dir sees everything.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import signal
import time
import uuid
from typing import Any

from servers.kubelet.runtime import conmon, names
from servers.kubelet.runtime.attach import connect as attach_socket
from servers.kubelet.runtime.errors import InvalidConfig, NotFound
from servers.kubelet.runtime.interface import (
    CONTAINER_CREATED,
    CONTAINER_EXITED,
    CONTAINER_RUNNING,
    CONTAINER_UNKNOWN,
    REASON_COMPLETED,
    REASON_ERROR,
    REASON_OOMKILLED,
    SANDBOX_NOTREADY,
    SANDBOX_READY,
    ContainerConfig,
    ContainerStatus,
    ExecResult,
    Mount,
    PodSandboxConfig,
    Resources,
    SandboxStatus,
    Security,
    Streams,
)
from servers.kubelet.runtime.state import CONTAINERS, SANDBOXES, Record, Store

POLL = 0.02  # how often a stop looks for conmon's exit file
KILL_WAIT = 10.0  # how long a SIGKILLed container may take to be reaped


class MonitoredRuntime:
    """Shared half of both runtimes; see the module docstring."""

    isolation = ""

    def __init__(self, root_dir: str, node_name: str) -> None:
        self.root = os.path.abspath(root_dir)
        self.node_name = node_name
        self.names = names.for_node(node_name)
        self.store = Store(self.root)

    # -- sandboxes ------------------------------------------------------------------------

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        _check_sandbox(config)
        sid = uuid.uuid4().hex
        record: Record = {"id": sid, "config": dataclasses.asdict(config), "ip": "",
                          "state": SANDBOX_NOTREADY, "created_at": time.time()}
        self.store.save(SANDBOXES, sid, record)  # first, so a crash mid-way is found later
        try:
            record["ip"] = await self._sandbox_up(sid, config)
        except BaseException:
            await self._sandbox_remove(sid, record)
            self.store.delete(SANDBOXES, sid)
            raise
        record["state"] = SANDBOX_READY
        self.store.save(SANDBOXES, sid, record)
        return sid

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        record = self._sandbox(sandbox_id)
        for status in await self.list_containers(sandbox_id):
            await self.stop_container(status.id, 0)
        await self._sandbox_down(sandbox_id, record)
        record["state"] = SANDBOX_NOTREADY
        self.store.save(SANDBOXES, sandbox_id, record)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        record = self.store.load(SANDBOXES, sandbox_id)
        if record is None:
            return  # CRI: removing a removed sandbox is not an error
        await self.stop_pod_sandbox(sandbox_id)
        for status in await self.list_containers(sandbox_id):
            await self.remove_container(status.id)
        await self._sandbox_remove(sandbox_id, record)
        self.store.delete(SANDBOXES, sandbox_id)

    async def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        return self._sandbox_status(self._sandbox(sandbox_id))

    async def list_pod_sandboxes(self, uid: str | None = None) -> list[SandboxStatus]:
        # filtered before the status: each status asks the kernel whether the sandbox is
        # intact, and a new pod's worker asks for its own sandbox among all the node's
        records = (self.store.load(SANDBOXES, i) for i in self.store.ids(SANDBOXES))
        return [self._sandbox_status(r) for r in records
                if r is not None and uid in (None, r["config"]["uid"])]

    def _sandbox_status(self, record: Record) -> SandboxStatus:
        state = record["state"]
        if state == SANDBOX_READY and not self._sandbox_intact(record):
            state = SANDBOX_NOTREADY  # e.g. after a reboot: the record outlived the kernel's part
        return SandboxStatus(id=record["id"], config=PodSandboxConfig(**record["config"]),
                             state=state, ip=record["ip"], created_at=record["created_at"])

    # -- containers -----------------------------------------------------------------------

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        sandbox = self._sandbox(sandbox_id)
        if sandbox["state"] != SANDBOX_READY:
            msg = f"sandbox {sandbox_id} is not ready"
            raise InvalidConfig(msg)
        _check_container(config)
        cid = uuid.uuid4().hex
        paths = conmon.Paths(self.store.dir(CONTAINERS, cid))
        log_path = config.log_path or os.path.join(paths.dir, "console.log")
        record: Record = {"id": cid, "sandbox_id": sandbox_id, "name": config.name,
                          "attempt": config.attempt, "config": dataclasses.asdict(config),
                          "created_at": time.time(), "started_at": 0.0, "pid": 0,
                          "pid_start": "", "log_path": log_path}
        self.store.save(CONTAINERS, cid, record)
        try:
            paths.make()
            self._write_bundle(sandbox, cid, config, paths.bundle)
            pid = await self._launch(cid, paths, log_path)
        except BaseException:
            await self._forget(cid)
            self.store.delete(CONTAINERS, cid)
            raise
        record.update(pid=pid, pid_start=start_time(pid))
        self.store.save(CONTAINERS, cid, record)
        return cid

    async def start_container(self, container_id: str) -> None:
        record = self._container(container_id)
        if record["started_at"]:
            return
        asked = time.time()  # before: a quick process may be gone before _start returns
        await self._start(record, self._paths(container_id))
        record["started_at"] = asked
        self.store.save(CONTAINERS, container_id, record)

    async def stop_container(self, container_id: str, timeout: float) -> None:
        record = self._container(container_id)
        if self._status(record).state != CONTAINER_EXITED:
            exited = False
            if record["started_at"] and timeout > 0:
                await self._signal(record, signal.SIGTERM, every_process=False)
                exited = await self._wait_exit(record, timeout)
            if not exited:
                await self._signal(record, signal.SIGKILL, every_process=True)
                await self._wait_exit(record, KILL_WAIT)
        # the main process has ended; whatever it left behind goes too
        await self._kill_leftovers(record)

    async def remove_container(self, container_id: str) -> None:
        if self.store.load(CONTAINERS, container_id) is None:
            return
        await self.stop_container(container_id, 0)
        await self._forget(container_id)
        self.store.delete(CONTAINERS, container_id)

    async def container_status(self, container_id: str) -> ContainerStatus:
        return self._status(self._container(container_id))

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        found = []
        for cid in self.store.ids(CONTAINERS):
            record = self.store.load(CONTAINERS, cid)
            if record is not None and sandbox_id in (None, record["sandbox_id"]):
                found.append(self._status(record))
        return found

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> ExecResult:
        record = self._container(container_id)
        if self._status(record).state != CONTAINER_RUNNING:
            msg = f"container {container_id} is not running"
            raise InvalidConfig(msg)
        if not cmd:
            msg = "exec: no command"
            raise InvalidConfig(msg)
        return await self._exec(record, cmd, timeout)

    async def exec_stream(self, container_id: str, cmd: list[str], *, tty: bool,
                          stdin: bool) -> Streams:
        record = self._container(container_id)
        if self._status(record).state != CONTAINER_RUNNING:
            msg = f"container {container_id} is not running"
            raise InvalidConfig(msg)
        if not cmd:
            msg = "exec: no command"
            raise InvalidConfig(msg)
        return await self._exec_stream(record, cmd, tty, stdin)

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> Streams:
        record = self._container(container_id)
        if self._status(record).state != CONTAINER_RUNNING:
            msg = f"container {container_id} is not running"
            raise InvalidConfig(msg)

        async def exited() -> int:
            while (status := self._status(record)).state == CONTAINER_RUNNING:
                await self._wait_exit(record, 5.0)
            return status.exit_code

        # the container's own terminal decides the framing, not what the client asked
        config = container_config(record["config"])
        return await attach_socket(self._paths(container_id).bundle, tty=config.tty,
                                   wait_exit=exited)

    async def reopen_container_log(self, container_id: str) -> None:
        record = self._container(container_id)
        if self._status(record).state != CONTAINER_RUNNING:
            msg = f"container {container_id} is not running"
            raise InvalidConfig(msg)
        conmon.reopen_log(self._paths(container_id))

    async def remove_all(self) -> None:
        for status in await self.list_pod_sandboxes():
            await self.remove_pod_sandbox(status.id)
        for container in await self.list_containers():
            await self.remove_container(container.id)
        await self._node_remove()

    # -- shared helpers -------------------------------------------------------------------

    def _sandbox(self, sandbox_id: str) -> Record:
        record = self.store.load(SANDBOXES, sandbox_id)
        if record is None:
            msg = f"pod sandbox {sandbox_id!r} not found"
            raise NotFound(msg)
        return record

    def _container(self, container_id: str) -> Record:
        record = self.store.load(CONTAINERS, container_id)
        if record is None:
            msg = f"container {container_id!r} not found"
            raise NotFound(msg)
        return record

    def _paths(self, container_id: str) -> conmon.Paths:
        return conmon.Paths(self.store.dir(CONTAINERS, container_id))

    def _status(self, record: Record) -> ContainerStatus:
        cid = record["id"]
        paths = self._paths(cid)
        common: dict[str, Any] = {
            "id": cid, "sandbox_id": record["sandbox_id"], "name": record["name"],
            "attempt": record["attempt"], "pid": record["pid"],
            "created_at": record["created_at"], "started_at": record["started_at"],
            "log_path": record["log_path"]}
        ended = conmon.exit_code(paths, cid)
        if ended is not None:
            code, when = ended
            reason = (REASON_OOMKILLED if conmon.oom_killed(paths)
                      else REASON_COMPLETED if code == 0 else REASON_ERROR)
            return ContainerStatus(state=CONTAINER_EXITED, exit_code=code, finished_at=when,
                                   reason=reason, **common)
        if not record["started_at"]:
            return ContainerStatus(state=CONTAINER_CREATED, **common)
        if alive(record["pid"], record["pid_start"]) or self._conmon_alive(paths):
            return ContainerStatus(state=CONTAINER_RUNNING, **common)
        return ContainerStatus(state=CONTAINER_UNKNOWN, message="conmon is gone", **common)

    def _conmon_alive(self, paths: conmon.Paths) -> bool:
        try:
            with open(paths.conmon_pidfile, encoding="utf-8") as f:
                pid = int(f.read().strip() or 0)
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return paths.dir.encode() in f.read()  # ours, not a reused pid
        except (FileNotFoundError, ValueError):
            return False

    async def _wait_exit(self, record: Record, timeout: float) -> bool:
        """Wait for conmon's exit file; False at the timeout or when no one is left to write it."""
        cid = record["id"]
        paths = self._paths(cid)
        deadline = time.monotonic() + timeout
        while conmon.exit_code(paths, cid) is None:
            if not self._conmon_alive(paths) and not alive(record["pid"], record["pid_start"]):
                return conmon.exit_code(paths, cid) is not None  # it may have just written it
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL)
        return True

    # -- what each runtime does its own way -----------------------------------------------

    async def _sandbox_up(self, sandbox_id: str, config: PodSandboxConfig) -> str:
        """Isolate the sandbox and return its IP."""
        raise NotImplementedError

    async def _sandbox_down(self, sandbox_id: str, record: Record) -> None:
        """Take the sandbox's network down (idempotent)."""
        raise NotImplementedError

    def _sandbox_intact(self, record: Record) -> bool:
        """True while what the kernel holds for a ready sandbox is still there."""
        raise NotImplementedError

    async def _sandbox_remove(self, sandbox_id: str, record: Record) -> None:
        """Remove everything made for the sandbox (idempotent, also after a half set-up)."""
        raise NotImplementedError

    def _write_bundle(self, sandbox: Record, container_id: str, config: ContainerConfig,
                      bundle: str) -> None:
        """Write what the monitor's runtime reads to create the container."""
        raise NotImplementedError

    async def _launch(self, container_id: str, paths: conmon.Paths, log_path: str) -> int:
        """Start the container's monitor (conmon here) on the bundle; return the container's
        pid. A runtime with its own monitor keeps conmon's files (exit file, pid files, ctl
        FIFO), so status, stop and reopen read both alike."""
        runtime, runtime_args = self._monitor_runtime()
        return await conmon.launch(container_id, paths, runtime, runtime_args, log_path)

    def _monitor_runtime(self) -> tuple[str, list[str]]:
        """The program conmon runs as the OCI runtime, and its leading arguments."""
        raise NotImplementedError

    async def _start(self, record: Record, paths: conmon.Paths) -> None:
        raise NotImplementedError

    async def _signal(self, record: Record, sig: int, every_process: bool) -> None:
        raise NotImplementedError

    async def _exec(self, record: Record, cmd: list[str], timeout: float) -> ExecResult:
        raise NotImplementedError

    async def _exec_stream(self, record: Record, cmd: list[str], tty: bool,
                           stdin: bool) -> Streams:
        raise NotImplementedError

    async def _kill_leftovers(self, record: Record) -> None:
        """SIGKILL what is left of an ended container (its main process's orphans)."""
        raise NotImplementedError

    async def _forget(self, container_id: str) -> None:
        """Drop the runtime's own state of a dead container (idempotent)."""
        raise NotImplementedError

    async def _node_remove(self) -> None:
        """Remove node-level objects (bridge, cgroup root) once no sandbox is left."""
        raise NotImplementedError


def container_config(data: dict[str, Any]) -> ContainerConfig:
    """A ``ContainerConfig`` back from its record (``dataclasses.asdict`` of one)."""
    fields = dict(data)
    fields["command"] = tuple(fields["command"])
    fields["args"] = tuple(fields["args"])
    fields["mounts"] = tuple(Mount(**m) for m in fields["mounts"])
    fields["resources"] = Resources(**fields["resources"])
    security = dict(fields["security"])
    for key in ("capabilities_add", "capabilities_drop"):
        security[key] = tuple(security[key])
    fields["security"] = Security(**security)
    return ContainerConfig(**fields)


HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?")


def _check_sandbox(config: PodSandboxConfig) -> None:
    hostname = config.pod_hostname
    if not config.name or not HOSTNAME.fullmatch(hostname):
        msg = (f"pod sandbox: hostname {hostname!r} must be 1-63 lower-case letters, digits, "
               "'-' or '.', starting and ending with a letter or digit")
        raise InvalidConfig(msg)


def _check_container(config: ContainerConfig) -> None:
    if not config.command and not config.args:
        msg = f"container {config.name!r}: no command"
        raise InvalidConfig(msg)
    for key in config.env:
        if not key or "=" in key or "\0" in key:
            msg = f"container {config.name!r}: bad environment variable name {key!r}"
            raise InvalidConfig(msg)
    for mount in config.mounts:
        if not mount.container_path.startswith("/"):
            msg = f"container {config.name!r}: mount path {mount.container_path!r} not absolute"
            raise InvalidConfig(msg)
        if not mount.tmpfs and not os.path.exists(mount.host_path):
            msg = f"container {config.name!r}: host path {mount.host_path!r} does not exist"
            raise InvalidConfig(msg)
    if config.working_dir and not config.working_dir.startswith("/"):
        msg = f"container {config.name!r}: working dir {config.working_dir!r} not absolute"
        raise InvalidConfig(msg)


def start_time(pid: int) -> str:
    """The process's start time in clock ticks (/proc/PID/stat field 22): tells reused pids.

    Empty when there is no such process or it is a zombie (it has ended; only its parent,
    conmon or init, has yet to reap it).
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):  # gone before the open, or the read
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    return "" if fields[0] in ("Z", "X") else fields[19]


def alive(pid: int, start: str) -> bool:
    """True while ``pid`` is the same process and has not ended."""
    now = start_time(pid) if pid > 0 else ""
    return bool(now) and (not start or now == start)
