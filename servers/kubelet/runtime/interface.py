"""The node's runtime seam: CRI's RuntimeService, trimmed to what km's kubelet drives.

One ``Runtime`` protocol with two implementations (``oci.NamespacesRuntime``: runc + conmon,
each pod in its own namespaces and cgroup; ``process.ProcessRuntime``: plain processes under
km's own monitor, each pod on its own loopback IP), proved by one conformance suite
(tests/integration/kubelet/test_runtime_conformance.py). Shapes follow
kubernetes/cri-api ``pkg/apis/runtime/v1/api.proto`` (PodSandboxConfig, ContainerConfig,
ContainerStatus, ExecSyncResponse), flattened into dataclasses.

Contract shared by both implementations:

- Every sandbox and container lives in state files under the runtime's root dir, so a new
  ``Runtime`` object over the same root dir (a restarted kubelet) lists and drives what an
  earlier one made; a container that exited meanwhile reports its exit code.
- Times are float seconds since the epoch; ``finished_at`` and ``exit_code`` are set once the
  container has exited. ``reason`` is ``OOMKilled``, ``Error`` or ``Completed`` (kube's
  ``pkg/kubelet/kuberuntime/kuberuntime_container.go`` vocabulary).
- Logs: the monitor (conmon, or km's ``monitor.py`` under ``none``) writes CRI lines
  ``<RFC3339Nano> <stdout|stderr> <F|P> <text>`` to ``ContainerConfig.log_path`` (kubernetes
  ``pkg/kubelet/kuberuntime/logs/logs.go``).
- Unknown ids raise ``errors.NotFound``; failed helpers raise ``errors.CommandFailed``.
- Exec and attach stream (CRI's Exec and Attach, served by the kubelet itself): both give a
  ``Streams``; ``exec_stream`` starts a process (``stream.py``), ``attach`` joins the
  monitor's attach socket (``attach.py``: conmon's; km's ``none`` monitor has none yet).
- One small monitor per container holds its stdio and outlives the kubelet: conmon (about
  0.4 MB of its own) under ``namespaces``, a small process of km's Python under ``none``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio

SANDBOX_READY = "SANDBOX_READY"
SANDBOX_NOTREADY = "SANDBOX_NOTREADY"

CONTAINER_CREATED = "CONTAINER_CREATED"
CONTAINER_RUNNING = "CONTAINER_RUNNING"
CONTAINER_EXITED = "CONTAINER_EXITED"
CONTAINER_UNKNOWN = "CONTAINER_UNKNOWN"

REASON_OOMKILLED = "OOMKilled"
REASON_ERROR = "Error"
REASON_COMPLETED = "Completed"


@dataclass(frozen=True)
class PodSandboxConfig:
    """What a pod needs before its containers: identity, hostname, labels."""

    name: str
    namespace: str
    uid: str
    attempt: int = 0
    hostname: str = ""  # defaults to the pod name (kube: spec.hostname or metadata.name)
    labels: dict[str, str] = field(default_factory=dict)
    host_network: bool = False  # CRI's NamespaceOption network NODE: the host's network

    @property
    def pod_hostname(self) -> str:
        """``hostname``, else the pod name cut to 63 characters without a trailing '-' or '.'
        (kube's ``pkg/kubelet/kubelet_pods.go`` ``truncatePodHostnameIfNeeded``)."""
        return self.hostname or self.name[:63].rstrip("-.")


@dataclass(frozen=True)
class Mount:
    """A volume in a container: a host path bound (rw or ro) or a fresh tmpfs."""

    container_path: str
    host_path: str = ""
    readonly: bool = False
    tmpfs: bool = False


@dataclass(frozen=True)
class Resources:
    """Linux resources, already in kernel units (kube's ``pkg/kubelet/cm/helpers_linux.go``).

    Zero means unset: no cpu shares, no cfs quota, no memory limit, no pids limit.
    """

    cpu_shares: int = 0
    cpu_quota: int = 0
    cpu_period: int = 100_000
    memory_limit: int = 0
    pids_limit: int = 0


@dataclass(frozen=True)
class Security:
    """Who the process runs as and what it may do."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    capabilities_add: tuple[str, ...] = ()
    capabilities_drop: tuple[str, ...] = ()
    read_only_root: bool = False
    no_new_privs: bool = True
    privileged: bool = False
    seccomp: str = "Unconfined"  # or "RuntimeDefault" (kube's seccompProfile.type)


SECCOMP_UNCONFINED = "Unconfined"
SECCOMP_RUNTIME_DEFAULT = "RuntimeDefault"


@dataclass(frozen=True)
class ContainerConfig:
    """One container of a sandbox: a host program run with this environment."""

    name: str
    command: tuple[str, ...]
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""
    mounts: tuple[Mount, ...] = ()
    resources: Resources = Resources()
    security: Security = Security()
    log_path: str = ""  # empty: console.log in the container's state dir, removed with it
    attempt: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    stdin: bool = False  # kube's spec.stdin: stdin stays open for attach
    stdin_once: bool = False  # ... and closes when the first attach ends
    tty: bool = False  # a terminal for the process (its stdout and stderr are one stream)


@dataclass(frozen=True)
class SandboxStatus:
    """A sandbox as the runtime sees it now."""

    id: str
    config: PodSandboxConfig
    state: str
    ip: str
    created_at: float


@dataclass(frozen=True)
class ContainerStatus:
    """A container as the runtime sees it now."""

    id: str
    sandbox_id: str
    name: str
    attempt: int
    state: str
    pid: int = 0
    created_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    log_path: str = ""


@dataclass(frozen=True)
class ExecResult:
    """What exec_sync's command did."""

    exit_code: int
    stdout: bytes
    stderr: bytes


class Streams(Protocol):
    """A live exec or attach, as the kubelet's /exec and /attach drive it.

    ``stdout`` carries everything with a terminal (``stderr`` is then None); both end (EOF)
    once nothing can write to them any more.
    """

    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader | None

    async def write_stdin(self, data: bytes) -> None:
        """Give ``data`` to the process's stdin."""
        ...

    async def close_stdin(self) -> None:
        """End of input (v5's close of channel 0)."""
        ...

    def resize(self, width: int, height: int) -> None:
        """Set the terminal's size (nothing without one)."""
        ...

    async def wait(self) -> int:
        """The exit code of the exec's command (attach: of the container)."""
        ...

    async def kill(self) -> None:
        """The client went away: kill an exec's command; an attach just detaches."""
        ...

    def close(self) -> None:
        """Release what is left (after the output was read)."""
        ...


class Runtime(Protocol):
    """CRI's RuntimeService for km: pod sandboxes and the containers in them."""

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        """Make a ready sandbox (namespaces pinned, cgroup parent, network up); return its id."""
        ...

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Kill every container of the sandbox and take its network down (idempotent)."""
        ...

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Stop, then remove the sandbox, its containers and everything made for them."""
        ...

    async def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        """The sandbox's state and IP; ``NotFound`` if there is none."""
        ...

    async def list_pod_sandboxes(self, uid: str | None = None) -> list[SandboxStatus]:
        """Every sandbox this runtime (this root dir) made and has not removed; only the
        pod ``uid``'s when given (CRI's ListPodSandbox filter by the pod uid label)."""
        ...

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        """Prepare a container (monitor running, process not yet started); return its id."""
        ...

    async def start_container(self, container_id: str) -> None:
        """Let a created container's process run."""
        ...

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL to every process of the container after ``timeout`` s."""
        ...

    async def remove_container(self, container_id: str) -> None:
        """Kill the container if needed and forget it (a given ``log_path`` stays)."""
        ...

    async def container_status(self, container_id: str) -> ContainerStatus:
        """State, pid, times, exit code and reason; ``NotFound`` if there is none."""
        ...

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        """Every container (of one sandbox, if given) not yet removed."""
        ...

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> ExecResult:
        """Run ``cmd`` in the container and wait; ``ExecTimeout`` after ``timeout`` s."""
        ...

    async def exec_stream(self, container_id: str, cmd: list[str], *, tty: bool,
                          stdin: bool) -> Streams:
        """Start ``cmd`` in the running container with live stdio (a pty when ``tty``), with
        the container's environment, working dir and user; ``ExecFailed`` (kube's words,
        e.g. ``exec: "x": executable file not found in $PATH``) when it cannot start."""
        ...

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> Streams:
        """Join the running container's stdio (live output; stdin if its config has
        ``stdin``); ``wait`` returns once it exits, ``kill`` only detaches."""
        ...

    async def reopen_container_log(self, container_id: str) -> None:
        """Have the monitor reopen the log path (after the kubelet renamed it, to rotate)."""
        ...

    async def remove_all(self) -> None:
        """Remove every sandbox and node-level object this runtime made (tests, --cleanup)."""
        ...
