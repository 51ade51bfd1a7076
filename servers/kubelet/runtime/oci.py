"""``--isolation namespaces``: each pod its own namespaces and cgroup, via runc under conmon.

The recommended build of DESIGN.md's node side (CRI-O's stack minus images): per sandbox the
runtime pins a network namespace (``ip netns``, a veth into the node bridge, an address from
the node's podCIDR; a hostNetwork pod stays in the host's) and the ipc and uts namespaces
(hostname = pod name; the host's for hostNetwork); per container it
writes an OCI spec (``spec.build``) and lets conmon run ``runc create``; runc makes the
container's pid and mount namespaces and its cgroup ``/km-<node>/<sandbox>/<container>``
(memory, cpu shares and quota, pids). Needs root, runc and conmon.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time

from servers.kubelet.linux import cgroups, link, netns, pins
from servers.kubelet.linux.command import find_program, run
from servers.kubelet.runtime import conmon, ipam, spec, stream
from servers.kubelet.runtime.base import MonitoredRuntime, container_config
from servers.kubelet.runtime.errors import CommandFailed, ExecTimeout, RuntimeUnavailable
from servers.kubelet.runtime.interface import (
    ContainerConfig,
    ExecResult,
    PodSandboxConfig,
    Runtime,
    Streams,
)
from servers.kubelet.runtime.names import BRIDGE_PREFIX
from servers.kubelet.runtime.state import SANDBOXES, Record

MOUNTS_TTL = 1.0  # how long a read of the mount points answers intact-checks
PIDFILE_WAIT = 2.0  # how long killing an exec waits for runc's pid file


class NamespacesRuntime(MonitoredRuntime):
    """Sandboxed pods; see the module docstring."""

    isolation = "namespaces"

    def __init__(self, root_dir: str, node_name: str, pod_cidr: str, cluster_cidr: str = "",
                 service_cidr: str = "") -> None:
        if os.geteuid() != 0:
            msg = "--isolation namespaces needs root (use --isolation none without it)"
            raise RuntimeUnavailable(msg)
        self.runc = find_program("runc", "runc")
        find_program("conmon", "conmon")
        find_program("ip", "iproute2")
        find_program("unshare", "util-linux")
        super().__init__(root_dir, node_name)
        self.pod_cidr = pod_cidr
        self.cluster_cidr = cluster_cidr
        self.service_cidr = service_cidr
        self.runc_root = os.path.join(self.root, "runc")
        self.ipam_dir = os.path.join(self.root, "ipam")
        self._bridge_gateway = ""  # set once the bridge is known to be up
        self._bridge_lock = asyncio.Lock()
        self.bounding = spec.host_bounding()
        self._mounts: tuple[float, set[str]] | None = None  # (when read, mount points)

    # -- sandboxes ------------------------------------------------------------------------

    async def _sandbox_up(self, sandbox_id: str, config: PodSandboxConfig) -> str:
        self._mounts = None  # this sandbox's pins are about to be mounted
        if config.host_network:  # no netns, veth nor address: the pod's IP is the node's
            await pins.pin(self._pins(sandbox_id), _hostname(config))
            return ""
        ns = self.names.netns(sandbox_id)
        await netns.add(ns)
        address = ipam.allocate(self.ipam_dir, self.pod_cidr, sandbox_id)
        veth = self.names.veth(sandbox_id)
        try:
            await link.add_veth(veth, ns, self.names.bridge, address, await self._gateway())
        except CommandFailed:
            self._bridge_gateway = ""  # someone removed the bridge: make it again, once
            await link.add_veth(veth, ns, self.names.bridge, address, await self._gateway())
        await pins.pin(self._pins(sandbox_id), config.pod_hostname)
        return address.split("/")[0]

    async def _gateway(self) -> str:
        """The bridge's address, setting up the bridge and routes the first time."""
        async with self._bridge_lock:  # pod workers make sandboxes concurrently
            if not self._bridge_gateway:
                gateway = await link.ensure_bridge(self.names.bridge, self.pod_cidr)
                await link.ensure_cluster_routes(self.names.bridge, self.cluster_cidr,
                                                 self.service_cidr)
                self._bridge_gateway = gateway
        return self._bridge_gateway

    def _sandbox_intact(self, record: Record) -> bool:
        sid = record["id"]
        host_network = record["config"].get("host_network")
        return (host_network or netns.exists(self.names.netns(sid))) and pins.all_pinned(
            self._pins(sid), self._mount_points())

    def _mount_points(self) -> set[str]:
        """mountinfo's mount points, read at most once a second: every pod's worker asks
        whether its sandbox is intact each resync, and mountinfo grows with the pods (the
        answer matters after a reboot or a hand-removed namespace, not to the second)."""
        now = time.monotonic()
        if self._mounts is None or now - self._mounts[0] > MOUNTS_TTL:
            self._mounts = (now, pins.mount_points())
        return self._mounts[1]

    async def _sandbox_down(self, sandbox_id: str, record: Record) -> None:
        if record["config"].get("host_network"):
            return  # nothing of the host's network is the pod's
        await link.delete(self.names.veth(sandbox_id))
        ipam.release(self.ipam_dir, sandbox_id)

    async def _sandbox_remove(self, sandbox_id: str, record: Record) -> None:
        self._mounts = None
        await self._sandbox_down(sandbox_id, record)
        await pins.unpin(self._pins(sandbox_id))
        with contextlib.suppress(OSError):
            os.rmdir(self._pins(sandbox_id))
        await netns.delete(self.names.netns(sandbox_id))
        cgroups.remove(self.names.cgroup(sandbox_id))

    def _pins(self, sandbox_id: str) -> str:
        return os.path.join(self.names.pins_dir, sandbox_id)

    # -- containers -----------------------------------------------------------------------

    def _write_bundle(self, sandbox: Record, container_id: str, config: ContainerConfig,
                      bundle: str) -> None:
        sid = sandbox["id"]
        pinned = self._pins(sid)
        pod = PodSandboxConfig(**sandbox["config"])
        namespaces = {"ipc": os.path.join(pinned, "ipc"), "uts": os.path.join(pinned, "uts")}
        if not pod.host_network:  # else runc leaves the container in the host's network
            namespaces["network"] = netns.path(self.names.netns(sid))
        hostname = _hostname(pod)
        host = spec.host_dirs()
        skeleton = os.path.join(bundle, "skeleton")
        spec.make_skeleton(skeleton, spec.overlaid(host, config.mounts))
        document = spec.build(config, hostname=hostname, namespaces=namespaces,
                              cgroups_path=self.names.cgroup(sid, container_id),
                              hide=self._hidden(), host=host, skeleton=skeleton,
                              bounding=self.bounding)
        os.makedirs(os.path.join(bundle, "rootfs"), exist_ok=True)
        with open(os.path.join(bundle, "config.json"), "w", encoding="utf-8") as f:
            json.dump(document, f)

    def _hidden(self) -> list[str]:
        """The root dir, covered inside containers unless it sits in a fresh one (/tmp)."""
        top = self.root.strip("/").split("/", 1)[0]
        return [] if top in spec.FRESH else [self.root]

    def _monitor_runtime(self) -> tuple[str, list[str]]:
        return self.runc, [f"--root={self.runc_root}"]

    async def _launch(self, container_id: str, paths: conmon.Paths, log_path: str) -> int:
        config = container_config(self._container(container_id)["config"])
        return await conmon.launch(container_id, paths, self.runc, [f"--root={self.runc_root}"],
                                   log_path, stdin=config.stdin, stdin_once=config.stdin_once,
                                   tty=config.tty)

    def _runc(self, *args: str) -> list[str]:
        return [self.runc, f"--root={self.runc_root}", *args]

    async def _start(self, record: Record, paths: conmon.Paths) -> None:
        await run(self._runc("start", record["id"]))

    async def _signal(self, record: Record, sig: int, every_process: bool) -> None:
        name = signal.Signals(sig).name
        argv = self._runc("kill", "--all", record["id"], name) if every_process else \
            self._runc("kill", record["id"], name)
        await run(argv, check=False)  # an exited container has nothing left to signal

    async def _exec(self, record: Record, cmd: list[str], timeout: float) -> ExecResult:
        config = container_config(record["config"])
        pidfile = os.path.join(self.store.dir("containers", record["id"]), "exec.pid")
        argv = self._runc("exec", "--pid-file", pidfile, "--cwd", config.working_dir or "/",
                          record["id"], *cmd)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except asyncio.TimeoutError:
            _kill_pidfile(pidfile)  # the exec'd process itself: killing runc leaves it running
            proc.kill()
            await proc.wait()
            msg = f"exec {cmd[0]}: timed out after {timeout:g}s"
            raise ExecTimeout(msg) from None
        code = proc.returncode if proc.returncode is not None else -1
        return ExecResult(exit_code=code, stdout=out, stderr=err)

    async def _exec_stream(self, record: Record, cmd: list[str], tty: bool,
                           stdin: bool) -> Streams:
        config = container_config(record["config"])
        cwd = config.working_dir or "/"
        # runc writes its own failure to the stderr it passes through: look first, so a
        # missing command is kube's error on the error channel, not text on stderr
        path = config.env.get("PATH", spec.DEFAULT_PATH)
        stream.check_command(cmd[0], path, cwd, root=f"/proc/{record['pid']}/root")
        pidfile = os.path.join(self.store.dir("containers", record["id"]),
                               f"exec-{os.urandom(6).hex()}.pid")
        # runc exec starts from config.json's env; a terminal also gets TERM (spec.exec_env)
        terminal = ["--tty", "--env", f"TERM={spec.TERM}"] if tty else []
        argv = self._runc("exec", *terminal, "--pid-file", pidfile,
                          "--cwd", cwd, record["id"], *cmd)

        async def kill(pid: int) -> None:
            # the command itself (killing runc leaves it running); runc writes its pid file
            # only once the command runs, which may be after the command's first output
            deadline = time.monotonic() + PIDFILE_WAIT
            while not _kill_pidfile(pidfile) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)

        process = await stream.spawn(argv, tty=tty, stdin=stdin, kill=kill)
        process.on_close(lambda: _remove(pidfile))
        return process

    async def _kill_leftovers(self, record: Record) -> None:
        return None  # the container's pid 1 has ended: the kernel killed its pid namespace

    async def _forget(self, container_id: str) -> None:
        await run(self._runc("delete", "--force", container_id), check=False)

    async def _node_remove(self) -> None:
        if self.store.ids(SANDBOXES):
            return
        await link.delete(self.names.bridge)  # its service-range route goes with it
        self._bridge_gateway = ""
        if self.cluster_cidr and not await link.bridges_with(BRIDGE_PREFIX):
            await link.delete_unreachable(self.cluster_cidr)  # shared with other km nodes here
        cgroups.remove(self.names.cgroup_root)
        for d in (self.names.pins_dir, os.path.dirname(self.names.pins_dir), self.ipam_dir):
            with contextlib.suppress(OSError):
                os.rmdir(d)


def _hostname(config: PodSandboxConfig) -> str:
    """The pod's hostname; a hostNetwork pod's is the host's, as in kube (its runtimes give
    such a pod the node's UTS namespace; km keeps the UTS namespace private but names it
    after the host)."""
    return socket.gethostname() if config.host_network else config.pod_hostname


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _kill_pidfile(pidfile: str) -> bool:
    """SIGKILL the pid in ``pidfile``; False when there is none (yet)."""
    try:
        with open(pidfile, encoding="utf-8") as f:
            os.kill(int(f.read().strip()), signal.SIGKILL)
    except (FileNotFoundError, ValueError):
        return False
    except ProcessLookupError:
        pass
    return True


_: type[Runtime] = NamespacesRuntime
