"""The userspace relay's choice of endpoint (servers.proxy.userspace.balancer)."""

from __future__ import annotations

from servers.proxy.model import Endpoint
from servers.proxy.userspace.balancer import LoadBalancer

A, B, C = (Endpoint(f"127.0.10.{i}", 8080) for i in (1, 2, 3))


def test_round_robin_with_every_other_endpoint_behind_as_fallback() -> None:
    lb = LoadBalancer()
    lb.update((A, B, C))
    assert lb.candidates("127.0.0.1") == [A, B, C]
    assert lb.candidates("127.0.0.1") == [B, C, A]
    assert lb.candidates("127.0.0.2") == [C, A, B]
    assert lb.candidates("127.0.0.1")[0] == A


def test_no_endpoints_no_candidates() -> None:
    lb = LoadBalancer()
    assert lb.candidates("127.0.0.1") == []
    lb.update((A,))
    lb.update(())
    assert lb.candidates("127.0.0.1") == []


def test_client_ip_affinity_sticks_until_timeout_or_endpoint_gone() -> None:
    now = [100.0]
    lb = LoadBalancer(clock=lambda: now[0])
    lb.update((A, B, C), affinity_seconds=10)
    first = lb.candidates("127.0.0.1")[0]
    lb.connected("127.0.0.1", first)
    for _ in range(5):
        assert lb.candidates("127.0.0.1")[0] == first
    other = lb.candidates("127.0.0.2")  # another client is not held to it
    assert sorted(other) == [A, B, C]
    now[0] += 11
    turn = lb.candidates("127.0.0.3")[1]  # the endpoint after the next turn's
    assert lb.candidates("127.0.0.1")[0] == turn  # expired: plain round-robin again
    lb.connected("127.0.0.1", B)
    lb.update((A, C), affinity_seconds=10)  # B went: the client is free again
    assert lb.candidates("127.0.0.1")[0] in (A, C)


def test_refusing_endpoint_falls_to_the_next_in_order() -> None:
    lb = LoadBalancer()
    lb.update((A, B))
    order = lb.candidates("127.0.0.1")
    assert order == [A, B]  # the relay tries A, then B when A refuses
    lb.connected("127.0.0.1", B)  # no affinity configured: nothing remembered
    assert lb.candidates("127.0.0.1") == [B, A]
