"""The flags of ``km cleanup`` (standard library only)."""

from __future__ import annotations

import argparse

# Where km's node servers keep their state by default: km minion's --root-dir and
# km all-in-one's --data-dir.
DEFAULT_DIRS = ("/var/lib/km/minion", "./km-data")
DEFAULT_GRACE = 15.0


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", action="append", default=[], metavar="DIR",
        help="a km minion --root-dir or all-in-one --data-dir to clean up after, by its "
        f"km-node.json (repeatable; default: {', '.join(DEFAULT_DIRS)})")
    parser.add_argument(
        "--dry-run", action="store_true",
        help="list what would be removed, remove nothing")
    parser.add_argument(
        "--grace", type=_seconds, default=DEFAULT_GRACE, metavar="SECONDS",
        help="how long a recorded server has to stop on SIGTERM before SIGKILL "
        "(default: %(default)s)")


def dirs(opts: argparse.Namespace) -> list[str]:
    """The folders to look in."""
    return list(opts.dir) or list(DEFAULT_DIRS)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f'"{text}" is not a number of seconds')
    return value
