"""km cleanup: remove what km made on this host, as k3s-killall.sh does (the light face)."""

from __future__ import annotations

from hyperkube import Server

LONG = """\
cleanup removes what km's node servers made on this host, as k3s-killall.sh does for k3s:
it stops the km minion or all-in-one recorded in each --dir (by the pid and start time in
its km-node.json, never by matching process names), removes its pods (their processes,
network namespaces, veths, cgroups, mounts and /run/km pins, through the kubelet runtime's
own removal), its nftables tables, its node bridge and routes; then, in this network
namespace, every link and nftables table km names (kmb*, kmv*, km-proxy*, km-hostports*).
Credentials and the cluster's data stay (delete the folders to uninstall).

It is idempotent: a second run finds nothing. --dry-run lists what it would remove.

Then:  km cleanup --dry-run
       km cleanup --dir /var/lib/km/minion"""


def server() -> Server:
    from servers.cleanup import options

    return Server(
        "cleanup", run="servers.cleanup.app:run",
        usage="remove what km made on this host: processes, pods, links, tables, mounts",
        long=LONG, add_flags=options.add_flags)
