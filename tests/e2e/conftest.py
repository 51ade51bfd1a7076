"""End-to-end fixtures: archives built once per session with build.py, run as subprocesses."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "tests" / "e2e" / "demo_servers"
RUN_TIMEOUT = 60


def build(out: Path, *args: str) -> Path:
    done = subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(out), *args],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="session")
def km_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh build of km from this tree: km.pyz, its checksum, man pages, completion."""
    return build(tmp_path_factory.mktemp("km-dist"))


@pytest.fixture(scope="session")
def demo_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second program built with hyperkube and the same build code, as another project would."""
    return build(tmp_path_factory.mktemp("demo-dist"), "--name", "demo",
                 "--entry", "demo_servers:main", "--package", str(ROOT / "hyperkube"),
                 "--package", str(DEMO))


@pytest.fixture(scope="session")
def km(km_dist: Path) -> Path:
    return km_dist / "km.pyz"


@pytest.fixture(scope="session")
def demo(demo_dist: Path) -> Path:
    return demo_dist / "demo.pyz"


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment whose caches live in this test's temporary folder."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("KM_", "DEMO_", "SHIV_", "XDG_"))}
    return {**base, "KM_CACHE_DIR": str(tmp_path / "cache"),
            "DEMO_CACHE_DIR": str(tmp_path / "cache"), "TMPDIR": str(tmp_path)}


def run(cmd: list[str | Path], env: dict[str, str], **kwargs: object) -> Result:
    done = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, **kwargs)  # type: ignore[call-overload]
    return Result(done.returncode, done.stdout, done.stderr)
