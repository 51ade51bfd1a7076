"""TCP ports for servers a test starts on a fixed port (etcd, a restarted server, a URL that
must be known before its server runs).

    port = free_port()            # free a moment ago on 127.0.0.1
    client, peer = free_ports(2)  # two different ones

A port is picked below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768 and
up here), so no outgoing connection of the suite is handed it between the pick and the
server's bind, as one picked with bind(0) can be; and below kube's NodePort range
(30000-32767), where a userspace proxy listens. Each candidate is bound to prove it free,
all of one call held together so that none is given twice.
"""

from __future__ import annotations

import contextlib
import random
import socket

__all__ = ["LOOPBACK", "free_port", "free_ports"]

LOOPBACK = "127.0.0.1"
FIRST, LAST = 20000, 29999  # under NodePorts (30000-32767) and the ephemeral range (32768-)
TRIES = 200


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that was free a moment ago."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` different TCP ports on ``host`` that were free a moment ago."""
    picked: list[int] = []
    with contextlib.ExitStack() as held:
        for port in random.sample(range(FIRST, LAST + 1), TRIES):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind((host, port))
            except OSError:
                continue
            picked.append(port)
            if len(picked) == count:
                return picked
    msg = f"no {count} free ports on {host} among {TRIES} tried in {FIRST}-{LAST}"
    raise RuntimeError(msg)
