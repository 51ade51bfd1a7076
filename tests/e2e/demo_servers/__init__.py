"""demo: a second program built with hyperkube and build.py, as another project would.

Its servers exercise what km's cannot yet: a server that imports bundled dependencies (so
the cache is used), one that runs until a signal, one that fails, a group of them in one
process (together) and a supervisor of them as child processes (parent).
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


def _together_flags(parser: argparse.ArgumentParser) -> None:
    _probe_flags(parser)
    parser.add_argument("--with-failer", action="store_true", help="run failer too")
    parser.add_argument("--restart-delay", type=float, default=1.0, metavar="SECONDS",
                        help="first delay before restarting a failed server (default: 1)")
    parser.add_argument("--stop-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="how long each server may take to stop (default: 10)")


def _parent_flags(parser: argparse.ArgumentParser) -> None:
    from hyperkube import supervisor_options as supervisor

    parser.add_argument("--restart-delay", type=float, default=supervisor.RESTART_DELAY,
                        metavar="SECONDS", help="first delay before restarting a child "
                        "(default: %(default)s)")
    parser.add_argument("--kill-grace", type=float, default=supervisor.KILL_GRACE,
                        metavar="SECONDS", help="SIGKILL a child's group this long after "
                        "SIGTERM (default: %(default)s)")
    supervisor.add_flags(parser)


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
    hk.add_server(Server(
        "together", run="demo_servers.app:together", usage="run probe and sleeper in one process",
        add_flags=_together_flags))
    hk.add_server(Server(
        "parent", run="demo_servers.app:parent",
        usage="run together and sleeper as supervised child processes", add_flags=_parent_flags))
    return hk


def main() -> int:
    return make_hyperkube().run(sys.argv)
