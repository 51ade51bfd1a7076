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
