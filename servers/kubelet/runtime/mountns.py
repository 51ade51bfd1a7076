"""Volumes at their mountPath under ``--isolation none``: a private mount namespace, no root needed.

A none-mode container is a host process, so a volume can sit only where its files are — unless
the process has a mount namespace of its own. Root unshares one (CLONE_NEWNS); anyone else
unshares a user namespace with it (CLONE_NEWUSER, where the kernel allows unprivileged ones:
``user.max_user_namespaces`` > 0, Debian's ``kernel.unprivileged_userns_clone`` = 1), in which
the user is root and may bind-mount (what ``unshare -Urm`` and bubblewrap do). Then, for each
mount, the mountpoint is made and the host path bound (read-only where asked) or a tmpfs put
there. A mountpoint that does not exist, such as /var/run/secrets/kubernetes.io/
serviceaccount, is made without touching the host: its deepest existing directory is shadowed
by a tmpfs holding a bind of each of its entries (symlinks copied), and the rest is made in
that tmpfs. Last, a user namespace nested in the first maps the user back to its own uid and
gid, so the container runs as the user it always was (ids, file owners and no capabilities as
before), and ``bundle/inner.sh`` (the start FIFO, the working dir, the command) is executed.

This is no sandbox: the process sees and can change the host's files as before; only the
mounts are its own. Run by ``sys.executable -I -S`` as a script (loaded by path, as
monitor.py is), before the container starts, so its cost (a Python start and one syscall per
mount or entry) falls on create, not on start.

``main(["--probe"])`` only checks that the namespaces can be made (exit 0) or says why not;
``main(["--enter", PID, "--", *cmd])`` runs an exec's command in a running container's mounts.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import stat
import sys
import tempfile

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
NS_GET_PARENT = 0xB702  # ioctl _IO(0xb7, 0x2): the user namespace a user namespace sits in
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME = 32, 1024, 2048
MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE, MS_RELATIME = 4096, 8192, 16384, 1 << 18, 1 << 21
# statvfs f_flag bits of a mount's flags that a user namespace may not clear (they are
# "locked" in it); a read-only remount must repeat them (mount_namespaces(7))
LOCKED = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
          (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME),
          (os.ST_RELATIME, MS_RELATIME))

_libc = ctypes.CDLL(None, use_errno=True)


class MountError(Exception):
    """A step failed; the message is one line for the container's log."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        msg = f"{what}: {os.strerror(err)}"
        raise MountError(msg)


def unshare(flags: int, what: str) -> None:
    _check(_libc.unshare(flags), what)


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    """mount(2); ``MountError`` naming the target."""
    def c(text: str | None) -> bytes | None:
        return None if text is None else text.encode()
    _check(_libc.mount(c(source), c(target), c(fstype), ctypes.c_ulong(flags), c(data)),
           f"mount {target}")


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def enter(uid: int, gid: int) -> None:
    """A private mount namespace (inside a user namespace where this user is root, unless
    the process is root already)."""
    if uid == 0:
        unshare(CLONE_NEWNS, "unshare mount namespace")
    else:
        unshare(CLONE_NEWUSER | CLONE_NEWNS,
                "unshare user and mount namespaces (does the kernel allow unprivileged "
                "user namespaces? user.max_user_namespaces, kernel.unprivileged_userns_clone)")
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing here propagates to the host


def back_to(uid: int, gid: int) -> None:
    """Leave the user namespace's root for the user itself (a nested namespace maps it)."""
    if uid == 0:
        return
    unshare(CLONE_NEWUSER, "unshare user namespace")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} 0 1")
    _write("/proc/self/gid_map", f"{gid} 0 1")


def shadow(directory: str, stage: str) -> None:
    """Cover ``directory`` with a tmpfs that shows what it held, so new names can be made in
    it without touching the host."""
    if directory == "/":
        msg = "cannot make a mountpoint directly under / (it would need a new root)"
        raise MountError(msg)
    os.makedirs(stage, exist_ok=True)
    mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    for name in os.listdir(directory):
        source, copy = os.path.join(directory, name), os.path.join(stage, name)
        info = os.lstat(source)
        if stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(source), copy)
            continue
        if stat.S_ISDIR(info.st_mode):
            os.mkdir(copy)
        else:
            os.close(os.open(copy, os.O_CREAT | os.O_WRONLY, 0o600))
        mount(source, copy, None, MS_BIND | MS_REC)
    os.chmod(stage, stat.S_IMODE(os.stat(directory).st_mode))
    mount(stage, directory, None, MS_MOVE)


def make_mountpoint(path: str, is_dir: bool, stages: str) -> str:
    """Make ``path`` exist (shadowing its deepest existing directory if need be); return
    it with symlinks resolved."""
    real = os.path.realpath(path)
    if os.path.lexists(real):
        return real
    existing = os.path.dirname(real)
    while not os.path.isdir(existing):
        existing = os.path.dirname(existing)
    shadow(existing, tempfile.mkdtemp(dir=stages))
    parent = os.path.dirname(real)
    os.makedirs(parent, exist_ok=True)
    if is_dir:
        os.mkdir(real)
    else:
        os.close(os.open(real, os.O_CREAT | os.O_WRONLY, 0o600))
    return real


def put(spec: dict[str, object], stages: str) -> None:
    """One mount: a bind of ``host_path`` or a tmpfs at ``container_path``."""
    host = str(spec["host_path"])
    tmpfs = bool(spec["tmpfs"])
    target = make_mountpoint(str(spec["container_path"]), tmpfs or os.path.isdir(host), stages)
    if tmpfs:
        mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    else:
        mount(host, target, None, MS_BIND | MS_REC)
    if spec["readonly"]:
        flags = os.statvfs(target).f_flag
        kept = sum(ms for st, ms in LOCKED if flags & st)
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | kept)


def probe() -> None:
    """Make the namespaces and one tmpfs mount in them, or raise ``MountError``."""
    enter(os.geteuid(), os.getegid())
    # over an existing directory: in the private namespace it hides nothing of the host's
    mount("tmpfs", tempfile.gettempdir(), "tmpfs", MS_NOSUID | MS_NODEV)


def join(pid: int, as_user: tuple[int, int] | None) -> None:
    """Enter the mount namespace of container process ``pid`` (for exec), as its user.

    Without root the container sits in a user namespace nested in the one that owns its
    mount namespace: enter the outer one (its owner may), then the mount namespace, then the
    inner one, where this user is itself again. Root enters the mount namespace and then
    becomes ``as_user`` (uid, gid), as the container runs.
    """
    user = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY)
    mnt = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    cwd = os.getcwd()
    if os.fstat(user).st_ino != os.stat("/proc/self/ns/user").st_ino:
        outer = fcntl.ioctl(user, NS_GET_PARENT)
        _check(_libc.setns(outer, CLONE_NEWUSER), "enter the pod's user namespace")
        _check(_libc.setns(mnt, CLONE_NEWNS), "enter the pod's mount namespace")
        _check(_libc.setns(user, CLONE_NEWUSER), "enter the container's user namespace")
    else:
        _check(_libc.setns(mnt, CLONE_NEWNS), "enter the pod's mount namespace")
        if as_user is not None:
            os.setgroups([])
            os.setgid(as_user[1])
            os.setuid(as_user[0])
    os.chdir(cwd)  # the same path, now in the container's mounts


def _enter_and_exec(argv: list[str]) -> int:
    """``--enter PID [--as UID:GID] -- CMD...``"""
    pid = int(argv[1])
    rest = argv[2:]
    as_user = None
    if rest[:1] == ["--as"]:
        uid, _, gid = rest[1].partition(":")
        as_user = (int(uid), int(gid))
        rest = rest[2:]
    cmd = rest[1:] if rest[:1] == ["--"] else rest
    try:
        join(pid, as_user)
    except (MountError, OSError) as exc:
        print(f"km: exec: {exc}", file=sys.stderr)
        return 126
    try:
        os.execvp(cmd[0], cmd)
    except OSError as exc:  # as a shell says it: 127 not found, 126 not executable
        print(f"km: exec {cmd[0]}: {exc.strerror}", file=sys.stderr)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    return 126  # not reached


def main(argv: list[str]) -> int:
    """``BUNDLE``: the mounts of ``BUNDLE/mounts.json``, then exec ``BUNDLE/inner.sh``;
    ``--probe``; ``--enter PID [--as UID:GID] -- CMD...`` (exec in a running container)."""
    if argv[:1] == ["--enter"]:
        return _enter_and_exec(argv)
    try:
        if argv == ["--probe"]:
            probe()
            return 0
        bundle = argv[0]
        with open(os.path.join(bundle, "mounts.json"), encoding="utf-8") as f:
            mounts = json.load(f)
        uid, gid = os.geteuid(), os.getegid()
        enter(uid, gid)
        stages = os.path.join(bundle, "stages")
        os.makedirs(stages, exist_ok=True)
        for spec in mounts:
            put(spec, stages)
        back_to(uid, gid)
    except (MountError, OSError) as exc:
        print(f"km: volume mounts: {exc}", file=sys.stderr)
        return 1
    os.execv("/bin/sh", ["/bin/sh", os.path.join(bundle, "inner.sh")])
    return 1  # not reached: execv replaces the process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
