"""km: every server of a small Kubernetes-style cluster in one file.

This module is the one table of km's servers and the entry point that build.py bakes into
km.pyz. A server is listed here only once it really works.
"""

from __future__ import annotations

import sys

from hyperkube import HyperKube, Server

TYPE_CHECKING = False  # typing's own flag, without importing typing at every start (~2 ms)

if TYPE_CHECKING:
    from collections.abc import Sequence

NAME = "km"
SHORT = "every server of a small Kubernetes-style cluster in one file"
LONG = """\
km holds every server of a small Kubernetes-style cluster in one file. Copy km.pyz onto a
host and run the server that host needs, as `km.pyz SERVER` or through a link named after
the server (km --make-symlinks makes them)."""


def make_hyperkube() -> HyperKube:
    """km's servers. Registering them imports only their light, standard-library faces."""
    hk = HyperKube(NAME, LONG, short=SHORT, log_roots=("servers",))
    for server in _servers():
        hk.add_server(server)
    return hk


def _servers() -> list[Server]:
    from servers import (
        all_in_one,
        apiserver,
        certs,
        cleanup,
        controller_manager,
        dns,
        hollow_node,
        kubelet,
        minion,
        proxy,
        scheduler,
    )

    return [all_in_one.server(), apiserver.server(), certs.server(),
            cleanup.server(), controller_manager.server(), dns.server(),
            hollow_node.server(), kubelet.server(), minion.server(), proxy.server(),
            scheduler.server()]


def main(argv: Sequence[str] | None = None) -> int:
    return make_hyperkube().run(sys.argv if argv is None else argv)


if __name__ == "__main__":
    make_hyperkube().run_to_exit()
