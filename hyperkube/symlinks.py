"""`--make-symlinks`: one link per server name and alias, busybox style.

Every link points at the program's absolute, resolved path. A correct link is kept; a file or
a link to something else is left alone (and reported) unless `force` is given.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

from hyperkube import messages as msg

if TYPE_CHECKING:
    from collections.abc import Iterable


@dataclasses.dataclass
class Report:
    done: list[str] = dataclasses.field(default_factory=list)  # created, kept, replaced
    left: list[str] = dataclasses.field(default_factory=list)  # not made, and why


def make_links(directory: str, target: str, names: Iterable[str], *, force: bool) -> Report:
    report = Report()
    target = os.path.abspath(target)
    for name in names:
        path = os.path.join(directory, name)
        try:
            _link_one(path, target, force, report)
        except OSError as exc:
            report.left.append(msg.LINK_FAILED.format(path=path, error=exc.strerror or exc))
    return report


def _link_one(path: str, target: str, force: bool, report: Report) -> None:
    if os.path.islink(path) and os.readlink(path) == target:
        report.done.append(msg.LINK_KEPT.format(path=path, target=target))
        return
    if os.path.lexists(path):
        if not force:
            why = "a link to " + os.readlink(path) if os.path.islink(path) else "a file is there"
            report.left.append(msg.LINK_LEFT.format(path=path, why=why))
            return
        if os.path.isdir(path) and not os.path.islink(path):
            report.left.append(msg.LINK_FAILED.format(path=path, error="a directory is there"))
            return
        _replace(path, target)
        report.done.append(msg.LINK_REPLACED.format(path=path, target=target))
        return
    os.symlink(target, path)
    report.done.append(msg.LINK_CREATED.format(path=path, target=target))


def _replace(path: str, target: str) -> None:
    """Swap the link in atomically: make it beside the old one, then rename over it."""
    tmp = f"{path}.tmp-{os.getpid()}"
    os.symlink(target, tmp)
    try:
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise
