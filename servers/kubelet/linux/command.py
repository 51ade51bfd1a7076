"""Run a helper program (ip, runc, unshare, umount) and fail with a one-line error."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Sequence

from servers.kubelet.runtime.errors import CommandFailed, RuntimeUnavailable

log = logging.getLogger(__name__)


def find_program(name: str, package: str) -> str:
    """The absolute path of ``name``; ``RuntimeUnavailable`` naming the Debian package if absent."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        msg = f"{name} not found: install the Debian package {package}"
        raise RuntimeUnavailable(msg)
    return path


async def run(argv: Sequence[str], stdin: bytes | None = None, check: bool = True,
              timeout: float = 30.0) -> tuple[int, bytes, bytes]:
    """Run ``argv`` to its end; raise ``CommandFailed`` with its last stderr line if ``check``."""
    log.debug("run %s", " ".join(argv))
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        msg = f"{argv[0]} {argv[1] if len(argv) > 1 else ''}: no answer in {timeout:g}s"
        raise CommandFailed(msg) from None
    code = proc.returncode if proc.returncode is not None else -1
    if check and code != 0:
        raise CommandFailed(failure_line(argv, code, err))
    return code, out, err


def failure_line(argv: Sequence[str], code: int, err: bytes) -> str:
    """``ip link: exit 2: Cannot find device "x"`` — the program, the code, stderr's last line."""
    lines = [line.strip() for line in err.decode(errors="replace").splitlines() if line.strip()]
    tail = lines[-1] if lines else "no message"
    verb = argv[1] if len(argv) > 1 and not argv[1].startswith("-") else ""
    name = argv[0].rsplit("/", 1)[-1]
    return f"{name} {verb}: exit {code}: {tail}".replace("  ", " ")
