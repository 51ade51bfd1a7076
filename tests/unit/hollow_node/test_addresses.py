"""Fake addresses: fixed per node index, pod addresses lowest-free and recycled."""

from __future__ import annotations

import ipaddress

import pytest

from servers.hollow_node.addresses import (
    AddressesExhausted,
    PodAddresses,
    check_capacity,
    node_ip,
    pod_block_size,
)

SHARED = ipaddress.ip_network("100.64.0.0/10")


def test_node_addresses_are_fixed_by_index_inside_the_shared_range() -> None:
    assert node_ip(0) == "100.64.0.1"
    assert node_ip(4999) == "100.64.19.136"
    assert ipaddress.ip_address(node_ip(65533)) in SHARED
    with pytest.raises(AddressesExhausted):
        node_ip(65534)


def test_blocks_are_a_slash_24_unless_max_pods_needs_more() -> None:
    assert pod_block_size(110) == 256
    assert pod_block_size(254) == 256
    assert pod_block_size(255) == 512


def test_capacity_check_names_the_limit() -> None:
    check_capacity(5000, 110)
    check_capacity(16128, 110)
    with pytest.raises(AddressesExhausted, match="at most 16128 nodes"):
        check_capacity(16129, 110)


def test_pod_addresses_of_a_node_come_from_its_own_block() -> None:
    pool = PodAddresses(3, 256)
    assert pool.allocate() == "100.65.3.1"
    assert pool.allocate() == "100.65.3.2"
    assert ipaddress.ip_address(PodAddresses(16127, 256).allocate() or "") in SHARED


def test_released_addresses_are_reused_lowest_first() -> None:
    pool = PodAddresses(0, 256)
    first, second, third = pool.allocate(), pool.allocate(), pool.allocate()
    pool.release(third or "")
    pool.release(first or "")
    assert len(pool) == 1
    assert pool.allocate() == first
    assert pool.allocate() == third
    assert pool.allocate() == "100.65.0.4"
    assert second == "100.65.0.2"


def test_a_full_block_gives_none_and_never_the_network_or_last_address() -> None:
    pool = PodAddresses(0, 256)
    got = [pool.allocate() for _ in range(254)]
    assert got[0] == "100.65.0.1" and got[-1] == "100.65.0.254"
    assert pool.allocate() is None
    pool.release("100.65.0.77")
    assert pool.allocate() == "100.65.0.77"


def test_reserved_addresses_of_adopted_pods_are_skipped() -> None:
    pool = PodAddresses(1, 256)
    assert pool.reserve("100.65.1.2")
    assert not pool.reserve("100.65.1.2")          # taken
    assert not pool.reserve("100.65.2.2")          # another node's block
    assert not pool.reserve("100.65.1.0")          # the network address
    assert not pool.reserve("not an address")
    assert [pool.allocate() for _ in range(3)] == ["100.65.1.1", "100.65.1.3", "100.65.1.4"]
    pool.release("100.65.1.2")
    assert pool.allocate() == "100.65.1.2"


def test_releasing_unknown_addresses_changes_nothing() -> None:
    pool = PodAddresses(0, 256)
    pool.release("100.65.0.9")
    pool.release("10.0.0.1")
    assert pool.allocate() == "100.65.0.1"
    assert len(pool) == 1
