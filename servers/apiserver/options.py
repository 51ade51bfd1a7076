"""The apiserver's flags, in Kubernetes' spelling where it has one (standard library only)."""

from __future__ import annotations

import argparse

from servers.apiserver.storage import BACKENDS, DEFAULT_BACKEND

DEFAULT_PORT = 8080
DEFAULT_DATA_DIR = "./km-data"
AUTHORIZATION_MODES = ("AlwaysAllow", "RBAC")  # servers.apiserver.authz.MODES, kept stdlib-only


def add_flags(parser: argparse.ArgumentParser) -> None:
    serving = parser.add_argument_group("serving")
    serving.add_argument(
        "--bind-address", default="127.0.0.1", metavar="IP",
        help="address to serve plain HTTP on; loopback only (default: %(default)s)")
    serving.add_argument(
        "--port", type=int, default=DEFAULT_PORT,
        help="port to serve plain HTTP on; 0 picks a free one (default: %(default)s)")
    authz = parser.add_argument_group("authorization")
    authz.add_argument(
        "--authorization-mode", choices=AUTHORIZATION_MODES, default="AlwaysAllow",
        help="AlwaysAllow lets every request through; RBAC allows what the Roles and "
        "ClusterRoles bound to the user grant (default: %(default)s)")
    storage = parser.add_argument_group("storage")
    storage.add_argument(
        "--storage-backend", choices=sorted(BACKENDS), default=DEFAULT_BACKEND,
        help="where objects live: an embedded SQLite file, or an etcd cluster "
        "(default: %(default)s)")
    storage.add_argument(
        "--data-dir", default=DEFAULT_DATA_DIR, metavar="DIR",
        help="folder of the SQLite store (default: %(default)s)")
    storage.add_argument(
        "--etcd-servers", type=_urls, default=[], metavar="URL[,URL...]",
        help="etcd client URLs for --storage-backend etcd, e.g. http://127.0.0.1:2379")
    storage.add_argument(
        "--compaction-interval", type=float, default=300.0, metavar="SECONDS",
        help="how often history older than one interval is compacted away; 0 never "
        "(default: %(default)s)")


def _urls(text: str) -> list[str]:
    urls = [u.strip() for u in text.split(",") if u.strip()]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise argparse.ArgumentTypeError(f"not an http(s) URL: {url}")
    return urls
