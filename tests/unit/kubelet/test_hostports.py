"""The kubelet's hostPort mappings and the nft transaction that installs them (no kernel)."""

from __future__ import annotations

from typing import Any

import pytest

from servers.kubelet.linux.hostports import (
    HostPort,
    HostPorts,
    mappings,
    stale_udp,
    table_name,
    transaction,
)


def pod(name: str, ip: str, ports: list[dict[str, Any]], *, created: str = "2026-01-01T00:00:00Z",
        phase: str = "Running", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "uid": name,
                         "creationTimestamp": created},
            "spec": {"containers": [{"name": "c", "ports": ports}], **spec},
            "status": {"podIP": ip, "phase": phase}}


def test_each_host_port_maps_to_the_pod_ip_and_container_port() -> None:
    found = mappings([pod("a", "10.244.0.2", [
        {"containerPort": 8000, "hostPort": 18080},
        {"containerPort": 53, "hostPort": 1053, "protocol": "UDP", "hostIP": "0.0.0.0"},
        {"containerPort": 81, "hostPort": 18081, "hostIP": "10.250.0.10"},
        {"containerPort": 9000},  # no hostPort: not mapped
        {"containerPort": 7, "hostPort": 7, "protocol": "SCTP"},
        {"containerPort": 8, "hostPort": 8, "hostIP": "127.0.0.1"},  # loopback: not mapped
        {"containerPort": 9, "hostPort": 9, "hostIP": "fd00::1"}])])
    assert found == [
        HostPort("tcp", 18080, "", "10.244.0.2", 8000, "default/a"),
        HostPort("tcp", 18081, "10.250.0.10", "10.244.0.2", 81, "default/a"),
        HostPort("udp", 1053, "", "10.244.0.2", 53, "default/a")]


def test_pods_without_an_ip_on_the_host_network_or_finished_map_nothing() -> None:
    ports = [{"containerPort": 80, "hostPort": 8080}]
    assert mappings([pod("pending", "", ports), pod("host", "10.0.0.1", ports, hostNetwork=True),
                     pod("done", "10.244.0.3", ports, phase="Succeeded"),
                     pod("failed", "10.244.0.4", ports, phase="Failed")]) == []


def test_the_older_pod_keeps_a_contested_port() -> None:
    ports = [{"containerPort": 80, "hostPort": 8080}]
    found = mappings([pod("young", "10.244.0.3", ports, created="2026-01-02T00:00:00Z"),
                      pod("old", "10.244.0.2", ports)])
    assert [(m.pod, m.pod_ip) for m in found] == [("default/old", "10.244.0.2")]


def commands(document: dict[str, Any]) -> list[dict[str, Any]]:
    return document["nftables"][1:]


def test_the_transaction_replaces_the_table_atomically() -> None:
    ports = mappings([pod("a", "10.244.0.2", [{"containerPort": 8000, "hostPort": 18080}])])
    table = table_name("node-1")
    assert table == "km-hostports-node-1"
    done = commands(transaction(table, ports))
    # add + delete first: whatever an earlier kubelet left goes, in the same transaction
    assert done[:3] == [{"add": {"table": {"family": "ip", "name": table}}},
                        {"delete": {"table": {"family": "ip", "name": table}}},
                        {"add": {"table": {"family": "ip", "name": table}}}]
    rules = [c["add"]["rule"] for c in done if "rule" in c.get("add", {})]
    chain = [r["expr"] for r in rules if r["chain"] == "hostport-tcp-18080"]
    assert chain[-1][-1] == {"dnat": {"addr": "10.244.0.2", "port": 8000}}
    assert chain[0][0]["match"]["right"] == "10.244.0.2"  # hairpin: marked for masquerade
    elements = [c["add"]["element"] for c in done if "element" in c.get("add", {})]
    assert elements == [{"family": "ip", "table": table, "name": "host-ports", "elem": [[
        {"concat": ["tcp", 18080]}, {"goto": {"target": "hostport-tcp-18080"}}]]}]


def test_no_ports_only_deletes_the_table() -> None:
    done = commands(transaction("km-hostports-n", []))
    assert [next(iter(c)) for c in done] == ["add", "delete"]


async def test_sync_writes_only_changes_and_a_missing_nft_is_quiet_without_host_ports(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from servers.proxy.nftables import nft

    written: list[dict[str, Any]] = []

    async def refuse(document: dict[str, Any]) -> None:
        raise nft.NftError("nft not found: install the Debian package nftables")

    monkeypatch.setattr(nft, "apply", refuse)
    ports = HostPorts("n")
    await ports.sync([])  # the start-up clearing of an old table: no nft, no error
    assert ports.applied == []
    with pytest.raises(nft.NftError):  # a pod that wants a hostPort: the failure shows
        await ports.sync([pod("a", "10.244.0.2", [{"containerPort": 80, "hostPort": 8080}])])

    async def record(document: dict[str, Any]) -> None:
        written.append(document)

    monkeypatch.setattr(nft, "apply", record)
    pods = [pod("a", "10.244.0.2", [{"containerPort": 80, "hostPort": 8080}])]
    await ports.sync(pods)
    await ports.sync(pods)  # unchanged: nothing written
    assert len(written) == 1
    await ports.sync(pods, full=True)
    await ports.sync([])  # the pod went: the table goes
    assert len(written) == 3
    assert [next(iter(c)) for c in written[-1]["nftables"][1:]] == ["add", "delete"]


def test_stale_udp_flows_of_new_and_gone_mappings() -> None:
    a = HostPort("udp", 1053, "", "10.244.0.2", 53)
    b = HostPort("udp", 1053, "", "10.244.0.3", 53)  # the same port, a new pod
    tcp = HostPort("tcp", 8080, "", "10.244.0.2", 80)
    assert stale_udp(None, [a, tcp]) == [["--orig-port-dst", "1053"]]
    assert stale_udp([a, tcp], [a, tcp]) == []
    assert stale_udp([a], [b]) == [["--orig-port-dst", "1053"],
                                   ["--orig-port-dst", "1053", "--dst-nat", "10.244.0.2"]]
    assert stale_udp([a, tcp], []) == [["--orig-port-dst", "1053", "--dst-nat", "10.244.0.2"]]


class FakePods:
    """The informer's side the loop uses: a synced cache of this node's pods."""

    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods

    async def wait_synced(self, timeout: float | None = None) -> bool:
        return True

    def list(self) -> list[dict[str, Any]]:
        return self.pods


async def test_the_loop_retries_a_refused_write_and_says_so_once(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    from servers.kubelet.linux import hostports
    from servers.proxy.nftables import nft

    monkeypatch.setattr(hostports, "RETRY", 0.01)
    halt = asyncio.Event()
    tries: list[int] = []

    async def flaky(document: dict[str, Any]) -> None:
        tries.append(1)
        if len(tries) < 4:
            raise nft.NftError("nft : exit 1: Error: Could not process rule")
        halt.set()

    monkeypatch.setattr(nft, "apply", flaky)
    ports = HostPorts("n")
    pods = FakePods([pod("a", "10.244.0.2", [{"containerPort": 80, "hostPort": 8080}])])
    await asyncio.wait_for(ports.run(pods, halt), 5)  # type: ignore[arg-type]
    assert len(tries) == 4 and ports.applied and ports.applied[0].host_port == 8080
    warned = [r for r in caplog.records if "Could not process rule" in r.getMessage()]
    assert len(warned) == 1
