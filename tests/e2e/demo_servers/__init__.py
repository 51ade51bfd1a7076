"""demo: a second program built with hyperkube and build.py, as another project would.

Its servers exercise what km's cannot yet: a server that imports bundled dependencies (so
the cache is used), one that runs until a signal, and one that fails.
"""

from __future__ import annotations

import argparse
import sys

from hyperkube import HyperKube, Server

NAME = "demo"


def _probe_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--message", default="hello", help="a word to print back")


def _sleeper_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exit-code", type=int, default=0, help="code to return on stop")


def make_hyperkube() -> HyperKube:
    hk = HyperKube(NAME, "demo shows how a project ships its servers as one file.",
                   short="a demo multi-call program")
    hk.add_server(Server(
        "probe", run="demo_servers.app:probe", usage="import the bundled dependencies",
        long="probe imports aiohttp and yaml from the bundle and prints where they live.",
        aliases=("demo-probe",), add_flags=_probe_flags))
    hk.add_server(Server(
        "sleeper", run="demo_servers.app:sleeper", usage="run until SIGTERM or SIGINT",
        aliases=("demo-sleeper",), add_flags=_sleeper_flags))
    hk.add_server(Server("failer", run="demo_servers.app:failer", usage="fail at once"))
    return hk


def main() -> int:
    return make_hyperkube().run(sys.argv)
