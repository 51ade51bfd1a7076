"""Flush stale UDP conntrack entries with Debian's ``conntrack`` tool.

A UDP flow has no end the kernel can see, so its conntrack entry keeps DNATing to an endpoint
that is gone until it times out (kube-proxy ``pkg/proxy/conntrack/cleanup.go``): when an
endpoint leaves a UDP service port, its entries are deleted; when a UDP service port gets its
first endpoint, entries for the clusterIP made while it had none are deleted too.
"""

from __future__ import annotations

import logging

from servers.kubelet.linux import command
from servers.kubelet.runtime.errors import RuntimeFailure
from servers.proxy.model import ServicePort

__all__ = ["flush", "stale_udp"]

log = logging.getLogger(__name__)
_missing_logged = False


def stale_udp(before: list[ServicePort], after: list[ServicePort]) -> list[list[str]]:
    """The ``conntrack -D`` filters for UDP endpoints that went, and VIPs that got some."""
    old = {p.id: p for p in before if p.protocol == "UDP"}
    filters: list[list[str]] = []
    for port in after:
        if port.protocol != "UDP":
            continue
        previous = old.pop(port.id, None)
        gone = set(previous.endpoints) - set(port.endpoints) if previous else set()
        filters += _for_endpoints(previous or port, gone)
        if port.endpoints and (previous is None or not previous.endpoints):
            filters.append(["--orig-dst", port.cluster_ip, "--orig-port-dst", str(port.port)])
    for previous in old.values():
        filters += _for_endpoints(previous, set(previous.endpoints))
    return filters


def _for_endpoints(port: ServicePort, gone: set) -> list[list[str]]:  # type: ignore[type-arg]
    filters = []
    for endpoint in sorted(gone):
        filters.append(["--orig-dst", port.cluster_ip, "--orig-port-dst", str(port.port),
                        "--dst-nat", endpoint.ip])
        if port.node_port:
            filters.append(["--orig-port-dst", str(port.node_port), "--dst-nat", endpoint.ip])
    return filters


async def flush(filters: list[list[str]]) -> None:
    """Delete the UDP entries each filter matches (none matching is no error)."""
    global _missing_logged
    if not filters:
        return
    try:
        program = command.find_program("conntrack", "conntrack")
    except RuntimeFailure as exc:
        if not _missing_logged:
            log.warning("stale UDP flows are not flushed: %s", exc)
            _missing_logged = True
        return
    for args in filters:
        # exit 1 means "0 flow entries have been deleted": fine
        await command.run([program, "-D", "-p", "udp", *args], check=False)
