"""R2: the dispatcher and every server's light face import the standard library only."""

from __future__ import annotations

import subprocess
import sys

THIRD_PARTY = ("aiohttp", "yarl", "multidict", "yaml", "shtab", "argparse_manpage",
               "cryptography")


def imported_modules(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                          capture_output=True, text=True, check=True)
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_km_dispatcher_and_servers_import_no_third_party_package() -> None:
    code = "import servers.km; hk = servers.km.make_hyperkube(); hk.help_text()"
    modules = imported_modules(code)
    assert "servers.km" in modules
    heavy = {m for m in modules if m.split(".")[0] in THIRD_PARTY}
    assert heavy == set()
    apps = {m for m in modules if m.startswith("servers.") and m.endswith(".app")}
    assert apps == set(), "a server's app module was imported by registration"
