"""Pin a pod's ipc and uts namespaces with bind mounts, so its containers can join them.

``unshare --ipc=FILE --uts=FILE`` (util-linux) makes both namespaces and bind-mounts them
onto FILE (unshare(1): "a persistent namespace is created by a bind mount"); the command it
runs there sets the pod's hostname. Unpinning unmounts the files; the namespaces end with the
last process in them.
"""

from __future__ import annotations

import os

from servers.kubelet.linux.command import find_program, run

KINDS = ("ipc", "uts")


def is_mounted(path: str) -> bool:
    """True when ``path`` is a mount point in this mount namespace."""
    return os.path.realpath(path) in mount_points()


def mount_points() -> set[str]:
    """Every mount point of this mount namespace (read once: a caller checking many paths
    reads mountinfo, which grows with the pods, once and not once per path)."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return {line.split()[4] for line in f}


def all_pinned(directory: str, points: set[str]) -> bool:
    """True when every pin under ``directory`` is among the mount ``points``."""
    return all(os.path.realpath(os.path.join(directory, kind)) in points for kind in KINDS)


async def pin(directory: str, hostname: str) -> dict[str, str]:
    """New ipc and uts namespaces pinned under ``directory``; return kind -> file."""
    os.makedirs(directory, exist_ok=True)
    files = {kind: os.path.join(directory, kind) for kind in KINDS}
    if all_pinned(directory, mount_points()):
        return files
    await unpin(directory)
    for f in files.values():
        open(f, "a").close()
    await run([find_program("unshare", "util-linux"), f"--ipc={files['ipc']}",
               f"--uts={files['uts']}", "/bin/sh", "-c",
               'printf %s "$1" > /proc/sys/kernel/hostname', "sh", hostname])
    return files


async def unpin(directory: str) -> None:
    """Unmount and remove the pins under ``directory`` (idempotent)."""
    for kind in KINDS:
        f = os.path.join(directory, kind)
        while os.path.exists(f) and is_mounted(f):
            await run([find_program("umount", "mount"), f])
        if os.path.exists(f):
            os.unlink(f)
