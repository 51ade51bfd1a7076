"""The version stamp: version, commit, build date and the CPythons whose compiled speedups the
archive carries, baked into it by build.py.

build.py writes a module named `STAMP_MODULE` at the archive's root. Run from a source tree,
there is none: the version then comes from the installed distribution, if any.
"""

from __future__ import annotations

import importlib
import sys

from hyperkube import messages as msg

STAMP_MODULE = "_hyperkube_stamp"
UNKNOWN = "unknown"


def read(dist_name: str) -> dict[str, str]:
    """{"version", "commit", "date", "speedups"} of this build (speedups: a phrase)."""
    try:
        baked = importlib.import_module(STAMP_MODULE)
    except ImportError:
        return {"version": _installed_version(dist_name), "commit": UNKNOWN, "date": UNKNOWN,
                "speedups": msg.SPEEDUPS_INSTALLED}
    return {"version": baked.VERSION, "commit": baked.COMMIT, "date": baked.DATE,
            "speedups": speedups_phrase(getattr(baked, "SPEEDUPS", ()))}


def render(version: str, commit: str, date: str, speedups: tuple[str, ...] = ()) -> str:
    """The source of the stamp module (build.py writes it into the archive).

    SPEEDUPS names the CPythons (cp310, ...) whose compiled speedups the build carries; empty
    for a portable build.
    """
    return (f"VERSION = {version!r}\nCOMMIT = {commit!r}\nDATE = {date!r}\n"
            f"SPEEDUPS = {tuple(speedups)!r}\n")


def python_tag() -> str:
    """cpXY for the running CPython: the tag of its extension modules and pycs in a build."""
    return "cp{}{}".format(*sys.version_info[:2])


def speedups_phrase(carried: tuple[str, ...]) -> str:
    """Whether the running Python gets the build's compiled speedups, as --version says it."""
    if not carried:
        return msg.SPEEDUPS_PORTABLE
    if python_tag() in carried:
        return msg.SPEEDUPS_ON.format(tag=python_tag())
    return msg.SPEEDUPS_MISSING.format(tags=", ".join(carried))


def carried_speedups() -> tuple[str, ...] | None:
    """The build's SPEEDUPS, or None outside a build."""
    try:
        return tuple(importlib.import_module(STAMP_MODULE).SPEEDUPS)
    except (ImportError, AttributeError):
        return None


def python_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


def _installed_version(dist_name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        return UNKNOWN
