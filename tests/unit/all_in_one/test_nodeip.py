"""The node IP without --node-ip (servers/kubelet/nodeip.py), as k3s picks it: the default
route's interface, else the first up interface with a global address, never loopback only
because the host name resolves there; loopback only when nothing else has an address."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from servers.all_in_one import app
from servers.kubelet import nodeip
from servers.kubelet.nodeip import Choice, Link, choose, default_route_interfaces
from tests.unit.all_in_one.test_flags import parse

HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"
ROUTES = "\n".join([
    HEADER,
    "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0",
    "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0",
    "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
    "tun0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0",  # no gateway flag
])
LO = Link("lo", up=True, loopback=True, address="127.0.0.1")
ETH0 = Link("eth0", up=True, loopback=False, address="192.0.2.2")
WLAN0 = Link("wlan0", up=True, loopback=False, address="192.0.2.77")


def to_loopback(name: str) -> str:
    return "127.0.1.1"  # Debian's /etc/hosts line for the host name


def test_default_routes_lowest_metric_first() -> None:
    assert default_route_interfaces(ROUTES) == ["eth0", "wlan0"]
    assert default_route_interfaces("") == []
    assert default_route_interfaces(HEADER + "\ngarbage line\n") == []


def test_the_default_route_s_interface_wins_over_the_host_name() -> None:
    got = choose("vm", ROUTES, [LO, WLAN0, ETH0], to_loopback)
    assert got == Choice("192.0.2.2", "the default route's interface eth0")


def test_without_a_default_route_the_first_up_global_address() -> None:
    links = [LO, Link("eth1", up=False, loopback=False, address="192.0.2.9"),
             Link("kmb1f3a9c02d4", up=True, loopback=False, address="10.244.0.1"),
             Link("ll0", up=True, loopback=False, address="169.254.3.4"), WLAN0]
    assert choose("vm", HEADER, links, to_loopback).ip == "192.0.2.77"


def test_a_default_route_on_a_down_interface_is_passed_over() -> None:
    links = [LO, Link("eth0", up=False, loopback=False, address="192.0.2.2"), WLAN0]
    assert choose("vm", ROUTES, links, to_loopback).ip == "192.0.2.77"


def test_only_loopback_falls_back_to_the_host_name_then_127_0_0_1() -> None:
    assert choose("vm", HEADER, [LO], to_loopback) == Choice(
        "127.0.1.1", "the host name vm's address", fallback=True)
    # a name resolving to an address not on this host (a netns without it) is no node IP
    assert choose("vm", HEADER, [LO], lambda n: "192.0.2.2").ip == "127.0.0.1"
    assert choose("vm", HEADER, [LO], lambda n: "").ip == "127.0.0.1"


def test_this_host_s_links_are_read_from_the_kernel() -> None:
    links = nodeip.host_links()
    assert any(link.loopback and link.name == "lo" for link in links)
    assert all(link.address.count(".") == 3 for link in links if link.address)


def test_all_in_one_takes_it_and_says_a_fallback_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    table = tmp_path / "route"
    table.write_text(ROUTES + "\n")
    monkeypatch.setattr(nodeip, "ROUTE_TABLE", str(table))
    monkeypatch.setattr(nodeip, "host_links", lambda: [LO, ETH0])
    opts = parse("--data-dir", str(tmp_path), "--node-name", "n1", "--isolation", "none",
                 "--secure-port", "0")
    assert app.settings(opts).node_ip == "192.0.2.2"
    assert app.settings(parse("--node-ip", "192.0.2.9", "--isolation", "none",
                              "--secure-port", "0")).node_ip == "192.0.2.9"
    monkeypatch.setattr(nodeip, "host_links", lambda: [LO])
    monkeypatch.setattr(nodeip, "_resolve", to_loopback)  # no name lookup leaves the test
    table.write_text(HEADER + "\n")
    with caplog.at_level(logging.WARNING):
        assert app.settings(opts).node_ip == "127.0.1.1"
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert line.startswith("no interface but loopback has an address: node IP 127.")
