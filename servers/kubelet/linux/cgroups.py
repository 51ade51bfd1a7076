"""cgroup layout of this host and removal of the cgroups a runtime made.

runc makes each container's cgroup from the spec's ``cgroupsPath`` (in every v1 controller,
or in the unified tree); this module finds the hierarchies (v1 at ``/sys/fs/cgroup/<ctrl>``,
cgroup2 at ``/sys/fs/cgroup/unified`` on the hybrid hosts measured here, or cgroup2 alone at
``/sys/fs/cgroup``) and removes a runtime's directories depth first. cgroup v1 is what the
tests exercise; v2 follows the kernel's cgroup-v2.rst and runc's handling, untested here.
"""

from __future__ import annotations

import os


def hierarchies() -> list[str]:
    """Mount points of every cgroup (v1) and cgroup2 hierarchy, from /proc/self/mountinfo."""
    roots = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                roots.append(fields[4])
    return roots


def version() -> str:
    """``v2`` when /sys/fs/cgroup is one unified tree, else ``v1`` (plain or hybrid)."""
    return "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1"


def memory_root() -> str:
    """The hierarchy that holds memory limits (v1 memory controller or the v2 tree)."""
    if version() == "v2":
        return "/sys/fs/cgroup"
    return "/sys/fs/cgroup/memory"


def remove(relpath: str) -> list[str]:
    """rmdir ``relpath`` and everything below it in every hierarchy; return what stayed."""
    stayed = []
    for root in hierarchies():
        top = os.path.join(root, relpath.strip("/"))
        if not os.path.isdir(top):
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError:
                stayed.append(dirpath)
    return stayed


def v2_weight(shares: int) -> int:
    """cpu.shares (2..262144) as cgroup v2's cpu.weight (1..10000), kube's formula."""
    return 1 + ((max(2, min(shares, 262144)) - 2) * 9999) // 262142


def limit_files(cpu_shares: int, cpu_quota: int, cpu_period: int, memory: int,
                pids: int, unified: bool) -> dict[str, dict[str, str]]:
    """controller -> {file: value} for these limits (0 = none), v1 or v2 names."""
    if unified:
        files: dict[str, dict[str, str]] = {"": {
            "memory.max": str(memory) if memory else "max",
            "cpu.max": f"{cpu_quota if cpu_quota else 'max'} {cpu_period}",
            "pids.max": str(pids) if pids else "max"}}
        if cpu_shares:
            files[""]["cpu.weight"] = str(v2_weight(cpu_shares))
        return files
    cpu = {"cpu.cfs_period_us": str(cpu_period),
           "cpu.cfs_quota_us": str(cpu_quota) if cpu_quota else "-1"}
    if cpu_shares:
        cpu["cpu.shares"] = str(cpu_shares)
    return {"memory": {"memory.limit_in_bytes": str(memory) if memory else "-1"},
            "cpu": cpu, "pids": {"pids.max": str(pids) if pids else "max"}}


def apply(relpath: str, cpu_shares: int = 0, cpu_quota: int = 0, cpu_period: int = 100_000,
          memory: int = 0, pids: int = 0) -> None:
    """Set a cgroup's limits (a pod's, as kube's pod container manager does), making it.

    v1: one directory per controller. v2 (untested here): the controllers are enabled in
    every ancestor's ``cgroup.subtree_control`` first (cgroup-v2.rst, "Enabling and
    Disabling").
    """
    unified = version() == "v2"
    if unified:
        _enable_v2(relpath, ("cpu", "memory", "pids"))
    files = limit_files(cpu_shares, cpu_quota, cpu_period, memory, pids, unified)
    for controller, values in files.items():
        directory = os.path.join("/sys/fs/cgroup", controller, relpath.strip("/"))
        os.makedirs(directory, exist_ok=True)
        for name, value in values.items():
            with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
                f.write(value)


def _enable_v2(relpath: str, controllers: tuple[str, ...]) -> None:
    path = "/sys/fs/cgroup"
    for part in relpath.strip("/").split("/"):
        with open(os.path.join(path, "cgroup.subtree_control"), "w", encoding="utf-8") as f:
            f.write(" ".join(f"+{c}" for c in controllers))
        path = os.path.join(path, part)
        os.makedirs(path, exist_ok=True)
