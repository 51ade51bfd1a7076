"""The supervisor's light face: its defaults, its log flags and where children's logs go.

A supervising server's options (its `add_flags`) use this module, which imports the standard
library's light parts only, so that `SERVER --help` never imports asyncio; supervisor.py is
the heavy body that runs the children. The defaults are Kubernetes-Mesos' minion's
(contrib/mesos/pkg/minion/server.go): restart after 5 s, 5 s between SIGTERM and SIGKILL, logs
rotated at 10Mi keeping 5 backups for 168h.
"""

from __future__ import annotations

import os

from hyperkube.logfile import RotatingLog, parse_duration, parse_size

TYPE_CHECKING = False  # typing's own flag, without importing typing at every start (~2 ms)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")

RESTART_DELAY = 5.0  # the minion's RestartDelay; then doubling (backoff.py)
RESTART_CAP = 30.0
KILL_GRACE = 5.0  # the minion's grace between SIGTERM and SIGKILL
MAX_LOG_SIZE = "10Mi"
MAX_LOG_BACKUPS = 5
MAX_LOG_AGE = "168h"


class Logs:
    """Where and how children's logs are kept: DIR/NAME.log, rotated (see logfile.py)."""

    __slots__ = ("directory", "max_age", "max_backups", "max_size")

    def __init__(self, directory: str, *, max_size: int = parse_size(MAX_LOG_SIZE),
                 max_backups: int = MAX_LOG_BACKUPS,
                 max_age: float = parse_duration(MAX_LOG_AGE)) -> None:
        self.directory = directory
        self.max_size, self.max_backups, self.max_age = max_size, max_backups, max_age

    def __repr__(self) -> str:
        return (f"Logs({self.directory!r}, max_size={self.max_size}, "
                f"max_backups={self.max_backups}, max_age={self.max_age})")

    def open(self, name: str) -> RotatingLog:
        """The rotating log file of the child `name` (the folder is made if need be)."""
        os.makedirs(self.directory, exist_ok=True)
        return RotatingLog(os.path.join(self.directory, f"{name}.log"), max_size=self.max_size,
                           max_backups=self.max_backups, max_age=self.max_age)


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The log flags of a supervising server, as the minion's (defaults: 10Mi, 5, 168h)."""
    group = parser.add_argument_group("children's logs")
    group.add_argument("--log-dir", metavar="DIR",
                       help="write each child's output to DIR/NAME.log, rotated (default: "
                            "the children write to this server's stdout and stderr)")
    group.add_argument("--max-log-size", type=_flag_type(parse_size), default=MAX_LOG_SIZE,
                       metavar="SIZE", help="rotate a child's log before it grows past SIZE "
                       "(default: %(default)s)")
    group.add_argument("--max-log-backups", type=int, default=MAX_LOG_BACKUPS, metavar="N",
                       help="keep the newest N rotated logs of each child, 0 all "
                            "(default: %(default)s)")
    group.add_argument("--max-log-age", type=_flag_type(parse_duration), default=MAX_LOG_AGE,
                       metavar="AGE", help="remove rotated logs older than AGE, 0 never "
                       "(default: %(default)s)")


def logs_from(opts: argparse.Namespace) -> Logs | None:
    """The `Logs` that `add_flags`' flags ask for (None without --log-dir)."""
    if not opts.log_dir:
        return None
    return Logs(opts.log_dir, max_size=opts.max_log_size, max_backups=opts.max_log_backups,
                max_age=opts.max_log_age)


def _flag_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    """`parse` as an argparse type: its ValueError's one line becomes the usage error."""
    import argparse

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert
