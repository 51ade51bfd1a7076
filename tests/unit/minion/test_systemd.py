"""docs/systemd's unit files: systemd itself checks them (systemd-analyze verify, where the
machine has it), km's own parsers check their ExecStart, and the restart and kill policy is
the one docs/systemd/README.md explains (node-notes §8.2)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from servers import km

UNITS = Path(__file__).resolve().parents[3] / "docs" / "systemd"
INSTALLED = "/usr/local/bin/km"


def sections(text: str) -> dict[str, dict[str, str]]:
    """A unit file's sections and keys (systemd.syntax(7): comments, continuations)."""
    found: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = found.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current[key.strip()] = value.strip()
    return found


@pytest.mark.parametrize(("unit", "server"), [("km-server.service", "all-in-one"),
                                               ("km-minion.service", "minion")])
def test_units_restart_forever_and_leave_pods_running(unit: str, server: str) -> None:
    got = sections((UNITS / unit).read_text())
    service = got["Service"]
    assert (service["Restart"], service["RestartSec"], got["Unit"]["StartLimitIntervalSec"]) == (
        "always", "5", "0")
    assert service["KillMode"] == "process", "pods outlive km: only km itself is signalled"
    assert service["KillSignal"] == "SIGTERM"
    argv = shlex.split(service["ExecStart"])
    assert argv[:2] == [INSTALLED, server]
    found = km.make_hyperkube().find_server(server)
    assert found is not None
    opts = found.make_parser(f"km {server}").parse_args(argv[2:])
    if server == "minion":
        from servers.minion.options import validate

        validate(opts)
    assert got["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.parametrize("unit", ["km-server.service", "km-minion.service"])
def test_systemd_accepts_the_units(unit: str, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    text = (UNITS / unit).read_text()
    if analyze is None:  # no systemd here: what it would read must at least parse
        assert sections(text)["Service"]["ExecStart"]
        return
    program = tmp_path / "km"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    (tmp_path / unit).write_text(text.replace(INSTALLED, str(program)))
    done = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / unit)],
                          capture_output=True, text=True, timeout=60)
    # verify exits 0 even for an unknown value it ignores: its warnings are failures here
    assert (done.returncode, done.stderr.strip()) == (0, ""), done.stderr
