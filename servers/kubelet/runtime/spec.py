"""The OCI runtime spec (runc's config.json) of one sandboxed container — a pure function.

The root is a fresh tmpfs with read-only recursive binds of the host's top-level directories
(bubblewrap's way, measured working with runc 1.1.5 here), so the host's programs and files
are visible but unchangeable, volume mountpoints are made in the tmpfs and never on the
host, and /proc, /sys, /dev, /tmp and /run are the container's own. The pod's network, ipc
and uts namespaces are joined from their pins; pid and mount namespaces are the container's
own (kube's default: no shared process namespace). Capabilities default to containerd's set
(``pkg/oci/spec.go`` ``defaultUnixCaps``); limits follow kube's ``pkg/kubelet/cm``.
"""

from __future__ import annotations

import os
from typing import Any

from servers.kubelet.runtime.errors import InvalidConfig
from servers.kubelet.runtime.interface import (
    SECCOMP_RUNTIME_DEFAULT,
    SECCOMP_UNCONFINED,
    ContainerConfig,
    Mount,
    Resources,
    Security,
)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TERM = "xterm"  # what a tty container (or exec) is told its terminal is, as containerd's
FRESH = ("proc", "sys", "dev", "tmp", "run", "lost+found")

DEFAULT_CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE")

ALL_CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
            "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
            "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
            "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
            "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN",
            "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
            "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
            "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
            "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
            "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE")

# km's RuntimeDefault seccomp profile: everything is allowed except the calls a container has
# no business making — kernel modules, kexec, reboot, clock setting, mount and namespace
# juggling, tracing other processes, keyrings, bpf, perf — which fail with EPERM. These are
# the calls moby's default profile (``profiles/seccomp/default.json``) admits only with
# CAP_SYS_ADMIN & co or not at all; a deny list rather than its allow list, kept short.
SECCOMP_DENIED = (
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module",
    "delete_module", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick",
    "get_kernel_syms", "init_module", "ioperm", "iopl", "kcmp", "kexec_file_load",
    "kexec_load", "keyctl", "lookup_dcookie", "mount", "mount_setattr", "move_mount",
    "name_to_handle_at", "nfsservctl", "open_by_handle_at", "open_tree", "perf_event_open",
    "pivot_root", "process_vm_readv", "process_vm_writev", "ptrace", "query_module",
    "quotactl", "reboot", "request_key", "setns", "settimeofday", "stime", "swapoff",
    "swapon", "syslog", "umount", "umount2", "unshare", "uselib", "userfaultfd", "ustat",
    "vm86", "vm86old")
EPERM = 1

# runc's own defaults (``runc spec``): what a container may not read or write in /proc, /sys.
MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/proc/scsi"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def host_dirs(root: str = "/") -> list[str]:
    """The host's top-level directories that a container sees read-only."""
    found = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name not in FRESH and os.path.isdir(path):
            found.append(path)
    return found


def overlaid(host: list[str], volumes: tuple[Mount, ...]) -> dict[str, list[Mount]]:
    """The host dirs a volume's mountpoint must be made in (it is not there on the host).

    A read-only bind cannot take a new mountpoint (runc's mkdir fails with EROFS), so such a
    dir is shown instead as a read-only overlay of a skeleton (holding just the mountpoints)
    over the host dir: still unchangeable, and the host is never touched.
    """
    found: dict[str, list[Mount]] = {}
    for volume in volumes:
        if os.path.lexists(volume.container_path):
            continue
        for path in host:
            if volume.container_path.startswith(path + "/"):
                found.setdefault(path, []).append(volume)
    return found


def make_skeleton(skeleton: str, overlays: dict[str, list[Mount]]) -> None:
    """Create the mountpoints ``overlaid`` asked for under ``skeleton``."""
    for volumes in overlays.values():
        for volume in volumes:
            target = os.path.join(skeleton, volume.container_path.lstrip("/"))
            if not volume.tmpfs and os.path.isfile(volume.host_path):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                open(target, "a").close()  # an empty file to mount a file onto
            else:
                os.makedirs(target, exist_ok=True)


def build(config: ContainerConfig, *, hostname: str, namespaces: dict[str, str],
          cgroups_path: str, hide: list[str], host: list[str],
          skeleton: str = "", bounding: tuple[str, ...] = ALL_CAPS) -> dict[str, Any]:
    """config.json for ``config``; ``namespaces`` maps network/ipc/uts to their pins.

    ``hide`` lists host paths covered by an empty tmpfs inside the container (the kubelet's
    own root dir: other pods' state and logs); ``host`` is ``host_dirs()``; ``skeleton`` is
    where ``make_skeleton`` made the mountpoints that ``overlaid`` found missing;
    ``bounding`` is ``host_bounding()``.
    """
    privileged = config.security.privileged
    return {
        "ociVersion": "1.0.2",
        "process": _process(config, hostname, bounding),
        "root": {"path": "rootfs", "readonly": config.security.read_only_root},
        "hostname": "",
        "mounts": _mounts(config.mounts, hide, host, skeleton),
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "mount"},
                           *({"type": kind, "path": path} for kind, path in namespaces.items())],
            "cgroupsPath": cgroups_path,
            "resources": _resources(config.resources),
            **_seccomp(config.security),
            "maskedPaths": [] if privileged else MASKED,
            "readonlyPaths": [] if privileged else READONLY,
        },
    }


def process_env(config: ContainerConfig, **defaults: str) -> dict[str, str]:
    """The environment a container's runtime gives it: ``PATH`` and ``defaults``, and
    ``TERM=xterm`` when it runs on a terminal, each unless the pod's env sets it.

    As containerd's CRI does it (``internal/cri/server/container_create_linux.go``: ``oci.
    WithTTY`` adds ``TERM=xterm`` for ``tty: true``, then ``oci.WithEnv`` lays the
    container's own variables over it), so ``kubectl run -it`` gets a usable terminal.
    """
    env = {"PATH": DEFAULT_PATH, **defaults}
    if config.tty:
        env["TERM"] = TERM
    env.update(config.env)
    return env


def exec_env(env: dict[str, str], tty: bool) -> dict[str, str]:
    """An exec's environment: the container's, with ``TERM=xterm`` on a terminal whatever
    the container set (containerd's ``execInternal``, ``internal/cri/server/
    container_execsync.go``, does ``oci.WithEnv(TERM=xterm)`` for every tty exec)."""
    return {**env, "TERM": TERM} if tty else env


def _process(config: ContainerConfig, hostname: str,
             bounding: tuple[str, ...]) -> dict[str, Any]:
    env = process_env(config, HOSTNAME=hostname)
    caps = capabilities(config.security, bounding)
    security = config.security
    return {
        "terminal": config.tty,
        "user": {"uid": security.run_as_user or 0,
                 "gid": security.run_as_group if security.run_as_group is not None else 0},
        "args": [*config.command, *config.args],
        "env": [f"{k}={v}" for k, v in env.items()],
        "cwd": config.working_dir or "/",
        "capabilities": {kind: caps for kind in ("bounding", "effective", "permitted")},
        "noNewPrivileges": security.no_new_privs and not security.privileged,
    }


def capabilities(security: Security, bounding: tuple[str, ...] = ALL_CAPS) -> list[str]:
    """containerd's default set, plus ``add``, minus ``drop`` (``ALL`` works in both).

    Privileged gets every capability; whatever the result, it is cut to ``bounding`` (the
    capabilities the runtime itself holds: runc cannot hand out more).
    """
    if security.privileged:
        return [c for c in ALL_CAPS if c in bounding]
    names = {_cap(c) for c in security.capabilities_add}
    added = set(ALL_CAPS) if "CAP_ALL" in names else names
    dropped = {_cap(c) for c in security.capabilities_drop}
    base = set() if "CAP_ALL" in dropped else set(DEFAULT_CAPS) - dropped
    return sorted((base | (added - {"CAP_ALL"})) & set(bounding))


def host_bounding() -> tuple[str, ...]:
    """The capabilities in this process's bounding set (/proc/self/status ``CapBnd``)."""
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                return tuple(c for bit, c in enumerate(ALL_CAPS) if mask >> bit & 1)
    return ALL_CAPS


def _seccomp(security: Security) -> dict[str, Any]:
    """The ``seccomp`` section for RuntimeDefault; nothing when unconfined or privileged."""
    if security.privileged or security.seccomp == SECCOMP_UNCONFINED:
        return {}
    if security.seccomp != SECCOMP_RUNTIME_DEFAULT:
        msg = f"seccomp profile {security.seccomp!r}: only RuntimeDefault or Unconfined"
        raise InvalidConfig(msg)
    return {"seccomp": {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                          "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "syscalls": [{"names": list(SECCOMP_DENIED), "action": "SCMP_ACT_ERRNO",
                      "errnoRet": EPERM}]}}


def _cap(name: str) -> str:
    upper = name.upper()
    return upper if upper.startswith("CAP_") else f"CAP_{upper}"


def _mounts(volumes: tuple[Mount, ...], hide: list[str], host: list[str],
            skeleton: str) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        # the root itself: a small tmpfs runc mounts over the empty rootfs directory
        {"destination": "/", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=755", "size=65536k"]},
    ]
    overlays = overlaid(host, volumes)
    for path in host:
        if path in overlays:
            mounts += _overlay(path, os.path.join(skeleton, path.lstrip("/")))
        else:
            mounts.append(_read_only_bind(path))
    mounts += [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=1777"]},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=755"]},
    ]
    for path in hide:
        mounts.append({"destination": path, "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "noexec", "ro", "size=4k"]})
    for volume in volumes:
        mounts.append(_volume(volume))
    return mounts


def _read_only_bind(path: str) -> dict[str, Any]:
    return {"destination": path, "type": "bind", "source": os.path.realpath(path),
            "options": ["rbind", "ro", "rro", "nosuid", "nodev"]}


def _overlay(path: str, layer: str) -> list[dict[str, Any]]:
    """``path`` as a read-only overlay of ``layer`` on the host dir, then its submounts."""
    source = os.path.realpath(path)
    for part in (layer, source):
        if any(c in part for c in ",:\\"):
            msg = f"cannot overlay {part!r}: ',', ':' and '\\' are not allowed in its path"
            raise InvalidConfig(msg)
    mounts = [{"destination": path, "type": "overlay", "source": "overlay",
               "options": ["ro", f"lowerdir={layer}:{source}"]}]
    # an overlay shows the host dir's own filesystem only: bind what is mounted below it
    mounts += [_read_only_bind(m) for m in submounts(source)]
    return mounts


def submounts(path: str) -> list[str]:
    """Mount points strictly below ``path`` in this mount namespace, shallowest first."""
    found = set()
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = line.split()[4]
            if point.startswith(path.rstrip("/") + "/"):
                found.add(point)
    return sorted(found, key=lambda p: (p.count("/"), p))


def _volume(volume: Mount) -> dict[str, Any]:
    if volume.tmpfs:
        return {"destination": volume.container_path, "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "nodev", "mode=1777"]}
    options = ["rbind", "ro", "rro"] if volume.readonly else ["rbind", "rw"]
    return {"destination": volume.container_path, "type": "bind",
            "source": os.path.realpath(volume.host_path), "options": options}


def _resources(resources: Resources) -> dict[str, Any]:
    out: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}]}
    cpu: dict[str, Any] = {}
    if resources.cpu_shares:
        cpu["shares"] = resources.cpu_shares
    if resources.cpu_quota:
        cpu.update(quota=resources.cpu_quota, period=resources.cpu_period)
    if cpu:
        out["cpu"] = cpu
    if resources.memory_limit:
        # swap = limit: no swap beyond the limit, so going over is an OOM kill, as in kube
        out["memory"] = {"limit": resources.memory_limit, "swap": resources.memory_limit}
    if resources.pids_limit:
        out["pids"] = {"limit": resources.pids_limit}
    return out
