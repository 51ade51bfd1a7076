"""The storage package's face: a lazy backend table, and key-range helpers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from servers.apiserver.storage import BACKENDS, open_storage
from servers.apiserver.storage.interface import prefix_end

ROOT = Path(__file__).resolve().parents[3]


def test_importing_the_package_loads_no_backend_and_no_aiohttp() -> None:
    code = (
        "import sys, servers.apiserver.storage, servers.apiserver.storage.interface\n"
        "print(sorted(m for m in sys.modules if m.startswith(('aiohttp', 'yarl', 'sqlite3',"
        " 'servers.apiserver.storage.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['servers.apiserver.storage.interface']"


def test_backend_table_names_module_and_function() -> None:
    assert BACKENDS == {
        "sqlite": "servers.apiserver.storage.sqlite:open",
        "etcd": "servers.apiserver.storage.etcd:open",
    }


async def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match='unknown storage backend "mysql"'):
        await open_storage("mysql", data_dir="", etcd_servers=[])


@pytest.mark.parametrize(
    ("prefix", "end"),
    [("/registry/pods/", "/registry/pods0"), ("a", "b"), ("", None), ("\U0010ffff", None)],
)
def test_prefix_end(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end
