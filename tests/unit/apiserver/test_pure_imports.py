"""The API description modules are pure: importing them loads the standard library only."""

from __future__ import annotations

import json
import subprocess
import sys

MODULES = ("servers.apiserver.resources", "servers.apiserver.discovery",
           "servers.apiserver.openapi", "servers.apiserver.tables", "servers.apiserver.kinds",
           "servers.apiserver.schemas")

PROBE = """
import json, sys, sysconfig
before = set(sys.modules)
for name in {modules!r}:
    __import__(name)
paths = {{sysconfig.get_paths()[k] for k in ("purelib", "platlib")}}
third = sorted(
    name for name, mod in sys.modules.items()
    if name not in before and any(str(getattr(mod, "__file__", "") or "").startswith(p)
                                  for p in paths)
)
print(json.dumps([sorted(n for n in sys.modules if n.startswith("servers")), third]))
"""


def test_description_modules_import_no_third_party_module() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE.format(modules=MODULES)],
                          capture_output=True, text=True, check=True)
    ours, third_party = json.loads(done.stdout)
    assert third_party == []
    backends = {"servers.apiserver.storage.sqlite", "servers.apiserver.storage.etcd"}
    assert backends.isdisjoint(ours)
    assert not [m for m in ours if m.endswith(".app")]
