"""The version stamp: version, commit and build date, baked into the archive by build.py.

build.py writes a module named `STAMP_MODULE` at the archive's root. Run from a source tree,
there is none: the version then comes from the installed distribution, if any.
"""

from __future__ import annotations

import importlib
import sys

STAMP_MODULE = "_hyperkube_stamp"
UNKNOWN = "unknown"


def read(dist_name: str) -> dict[str, str]:
    """{"version", "commit", "date"} of this build."""
    try:
        baked = importlib.import_module(STAMP_MODULE)
    except ImportError:
        return {"version": _installed_version(dist_name), "commit": UNKNOWN, "date": UNKNOWN}
    return {"version": baked.VERSION, "commit": baked.COMMIT, "date": baked.DATE}


def render(version: str, commit: str, date: str) -> str:
    """The source of the stamp module (build.py writes it into the archive)."""
    return f"VERSION = {version!r}\nCOMMIT = {commit!r}\nDATE = {date!r}\n"


def python_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


def _installed_version(dist_name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        return UNKNOWN
