"""host-gw routes: which routes the Nodes ask for, and what ip route shows of km's."""

from __future__ import annotations

from typing import Any

from servers.minion import hostgw


def node(name: str, cidr: str = "", ip: str = "", **extra: Any) -> dict[str, Any]:
    spec = {"podCIDR": cidr} if cidr else {}
    addresses = [{"type": "Hostname", "address": name}]
    if ip:
        addresses.append({"type": "InternalIP", "address": ip})
    return {"metadata": {"name": name}, "spec": {**spec, **extra},
            "status": {"addresses": addresses}}


def test_every_other_node_with_a_podcidr_and_an_internal_ip_gets_a_route() -> None:
    nodes = [node("me", "10.244.0.0/24", "172.31.250.1"),
             node("b", "10.244.1.0/24", "172.31.250.2"),
             node("no-cidr", ip="172.31.250.3"),
             node("no-ip", "10.244.3.0/24"),
             node("v6", "fd00::/64", "fd00::1"),
             node("list-only", "", "172.31.250.5", podCIDRs=["10.244.5.0/24"])]
    assert hostgw.desired(nodes, "me") == {"10.244.1.0/24": "172.31.250.2",
                                           "10.244.5.0/24": "172.31.250.5"}


def test_ip_route_lines_parse_to_cidr_and_next_hop() -> None:
    text = ("10.244.1.0/24 via 172.31.250.2 dev eth0 proto 75 \n"
            "10.244.9.9 via 172.31.250.9 dev eth0 proto 75\n"
            "unreachable 10.244.0.0/16 proto 75\n")
    assert hostgw.parse_routes(text) == {"10.244.1.0/24": "172.31.250.2",
                                         "10.244.9.9/32": "172.31.250.9"}


def test_routes_that_are_not_kms_are_known_so_they_are_never_replaced() -> None:
    text = ("default via 192.0.2.1 dev eth0\n"
            "10.244.1.0/24 dev kmb123 proto kernel scope link src 10.244.1.1\n"
            "unreachable 10.244.0.0/16\n"
            "10.244.2.0/24 via 172.31.250.3 dev eth0 proto 75\n"
            "172.31.250.0/24 dev eth0 proto kernel scope link src 172.31.250.2\n")
    assert hostgw.others(text) == {"10.244.1.0/24", "10.244.0.0/16", "172.31.250.0/24"}


def test_a_next_hop_on_this_host_is_no_route() -> None:
    assert hostgw._local("127.0.0.1")
    assert not hostgw._local("192.0.2.77")
