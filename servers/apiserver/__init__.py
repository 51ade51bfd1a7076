"""km apiserver: the cluster's API, the one component that touches storage."""

from __future__ import annotations

from hyperkube import Server
from servers.apiserver import options

LONG = """\
The apiserver serves the cluster's API (Kubernetes core/v1) to kubectl, the Python client and
km's own servers, and is the only component that touches storage: an embedded SQLite file by
default (--data-dir), or an etcd cluster (--storage-backend etcd --etcd-servers URL)."""


def server() -> Server:
    return Server(
        "apiserver", run="servers.apiserver.app:run", usage="serve the cluster's API",
        long=LONG, aliases=("kube-apiserver",), add_flags=options.add_flags)
