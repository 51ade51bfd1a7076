"""tests/support/ports.py: ports that bind, all different, in the range it promises."""

from __future__ import annotations

import socket

from tests.support.ports import FIRST, LAST, free_port, free_ports


def test_free_ports_are_different_bindable_and_in_range() -> None:
    ports = free_ports(8)
    assert len(set(ports)) == 8
    for port in [*ports, free_port()]:
        assert FIRST <= port <= LAST
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
