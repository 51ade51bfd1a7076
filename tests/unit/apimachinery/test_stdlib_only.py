"""The API machinery is shared with the clients: it must import the standard library only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import servers.apimachinery

PACKAGE = Path(servers.apimachinery.__file__).parent
MODULES = sorted(f"servers.apimachinery.{path.stem}" for path in PACKAGE.glob("*.py")
                 if path.stem != "__init__")


def test_every_module_imports_without_third_party_packages() -> None:
    code = (
        "import sys, json\n"
        f"for name in {MODULES!r}: __import__(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    # -S: no site, so nothing the environment's .pth files import gets counted.
    out = subprocess.run([sys.executable, "-S", "-c", code], check=True, capture_output=True,
                         text=True, cwd=PACKAGE.parent.parent).stdout
    loaded = {name.split(".")[0] for name in json.loads(out)}
    third_party = loaded - set(sys.stdlib_module_names) - {"__main__"}
    assert third_party == {"servers"}
    assert len(MODULES) >= 8
