"""The nftables JSON transaction for a set of service ports (servers.proxy.nftables.ruleset)."""

from __future__ import annotations

import json
from typing import Any

from servers.proxy.model import Endpoint, ServicePort
from servers.proxy.nftables.ruleset import Ruleset, table_name

TABLE = "km-proxy-node-a"
WEB = ServicePort("default", "web", "http", "TCP", "10.96.0.10", 80, 30080, 0,
                  (Endpoint("10.244.0.2", 8080), Endpoint("10.244.0.3", 8080)))
DNS = ServicePort("default", "dns", "", "UDP", "10.96.0.11", 53, 0, 60,
                  (Endpoint("10.244.0.2", 5353),))
EMPTY = ServicePort("default", "none", "", "TCP", "10.96.0.12", 80, 30081, 0, ())


def verbs(commands: list[dict[str, Any]], verb: str, kind: str) -> list[dict[str, Any]]:
    return [c[verb][kind] for c in commands if verb in c and kind in c[verb]]


def elements(commands: list[dict[str, Any]], name: str) -> list[Any]:
    return [e for el in verbs(commands, "add", "element") if el["name"] == name
            for e in el["elem"]]


def chain_rules(commands: list[dict[str, Any]], prefix: str) -> list[list[Any]]:
    return [r["expr"] for r in verbs(commands, "add", "rule") if r["chain"].startswith(prefix)]


def test_table_names_follow_the_node_and_never_collide() -> None:
    assert table_name("node-a") == "km-proxy-node-a"
    assert table_name("node-b") != table_name("node-a")
    assert table_name("Node_A") != table_name("node-a")


def test_takeover_deletes_and_recreates_the_table_in_the_same_transaction() -> None:
    commands = Ruleset.build(TABLE, [WEB]).transaction(None)
    assert commands[:3] == [{"add": {"table": {"family": "ip", "name": TABLE}}},
                            {"delete": {"table": {"family": "ip", "name": TABLE}}},
                            {"add": {"table": {"family": "ip", "name": TABLE}}}]
    hooks = {c["name"]: (c["hook"], c["prio"]) for c in verbs(commands, "add", "chain")
             if "hook" in c}
    assert hooks["nat-output"] == ("output", -100) and hooks["filter-output"] == ("output", -110)
    assert hooks["nat-postrouting"] == ("postrouting", 100)


def test_service_vip_map_numgen_and_dnat() -> None:
    commands = Ruleset.build(TABLE, [WEB]).transaction(None)
    (key, verdict), = elements(commands, "service-ips")
    assert key == {"concat": ["10.96.0.10", "tcp", 80]}
    service = verdict["goto"]["target"]
    assert service.startswith("service-") and service.endswith("-default/web/tcp/http")
    hairpin, pick = chain_rules(commands, service)
    assert hairpin == [{"match": {"op": "==", "left": {"payload": {"protocol": "ip",
                                                                   "field": "saddr"}},
                                  "right": {"set": ["10.244.0.2", "10.244.0.3"]}}},
                       {"jump": {"target": "mark-for-masquerade"}}]
    assert pick[0]["match"]["right"] == "tcp"
    assert pick[1] == {"dnat": {"family": "ip", "addr": {"map": {
        "key": {"numgen": {"mode": "random", "mod": 2, "offset": 0}},
        "data": {"set": [[0, {"concat": ["10.244.0.2", 8080]}],
                         [1, {"concat": ["10.244.0.3", 8080]}]]}}}}}
    # no chain per endpoint without affinity: fewer kernel objects, faster syncs
    assert not [c for c in verbs(commands, "add", "chain") if c["name"].startswith("endpoint-")]


def test_one_endpoint_is_a_plain_dnat() -> None:
    one = ServicePort("default", "one", "", "UDP", "10.96.0.13", 53, 0, 0,
                      (Endpoint("10.244.0.2", 5353),))
    commands = Ruleset.build(TABLE, [one]).transaction(None)
    service = next(c["name"] for c in verbs(commands, "add", "chain")
                   if c["name"].startswith("service-"))
    assert chain_rules(commands, service)[-1] == [
        {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "udp"}},
        {"dnat": {"addr": "10.244.0.2", "port": 5353}}]


def test_node_port_goes_through_an_external_chain_that_masquerades() -> None:
    commands = Ruleset.build(TABLE, [WEB]).transaction(None)
    (key, verdict), = elements(commands, "service-nodeports")
    assert key == {"concat": ["tcp", 30080]}
    external = verdict["goto"]["target"]
    assert chain_rules(commands, external)[0] == [{"jump": {"target": "mark-for-masquerade"}}]
    services = chain_rules(commands, "services")
    assert services[1][0]["match"]["left"] == {"fib": {"result": "type", "flags": ["daddr"]}}
    assert services[1][1]["match"]["op"] == "!="  # never 127/8


def test_nodeport_addresses_use_a_set_of_this_nodes_ips() -> None:
    commands = Ruleset.build(TABLE, [WEB], nodeport_ips=["10.244.0.1"]).transaction(None)
    assert elements(commands, "nodeport-ips") == ["10.244.0.1"]
    assert chain_rules(commands, "services")[1][0]["match"]["right"] == "@nodeport-ips"


def test_no_endpoints_reject_at_once_for_vip_and_node_port() -> None:
    commands = Ruleset.build(TABLE, [EMPTY]).transaction(None)
    assert elements(commands, "service-ips") == []
    assert elements(commands, "no-endpoint-services") == [
        [{"concat": ["10.96.0.12", "tcp", 80]}, {"goto": {"target": "reject-chain"}}]]
    assert elements(commands, "no-endpoint-nodeports") == [
        [{"concat": ["tcp", 30081]}, {"goto": {"target": "reject-chain"}}]]
    assert chain_rules(commands, "reject-chain") == [[{"reject": None}]]
    new_only = chain_rules(commands, "filter-output")[0][0]["match"]
    assert (new_only["left"], new_only["right"]) == ({"ct": {"key": "state"}}, "new")


def test_client_ip_affinity_sets_with_timeout() -> None:
    commands = Ruleset.build(TABLE, [DNS]).transaction(None)
    (affinity,) = verbs(commands, "add", "set")
    assert affinity["timeout"] == 60 and affinity["flags"] == ["timeout"]
    service = [c for c in verbs(commands, "add", "chain") if c["name"].startswith("service-")]
    rules = chain_rules(commands, service[0]["name"])
    assert rules[0][0]["match"]["right"] == f"@{affinity['name']}"
    endpoint = rules[0][1]["goto"]["target"]
    assert {"set": {"op": "update", "elem": {"payload": {"protocol": "ip", "field": "saddr"}},
                    "set": f"@{affinity['name']}"}} in chain_rules(commands, endpoint)[1]


def test_cluster_cidr_masquerades_off_cluster_sources_only() -> None:
    commands = Ruleset.build(TABLE, [WEB], cluster_cidr="10.244.0.0/16").transaction(None)
    service = next(c["name"] for c in verbs(commands, "add", "chain")
               if c["name"].startswith("service-"))
    first = chain_rules(commands, service)[0]
    assert first[1]["match"] == {"op": "!=", "left": {"payload": {"protocol": "ip",
                                                                  "field": "saddr"}},
                                 "right": {"prefix": {"addr": "10.244.0.0", "len": 16}}}
    assert first[2] == {"jump": {"target": "mark-for-masquerade"}}


def test_incremental_sync_rewrites_only_what_changed_and_drops_what_went() -> None:
    first = Ruleset.build(TABLE, [WEB, DNS])
    moved = ServicePort("default", "dns", "", "UDP", "10.96.0.11", 53, 0, 60,
                        (Endpoint("10.244.0.4", 5353),))
    second = Ruleset.build(TABLE, [WEB, moved])
    commands = second.transaction(first)
    assert {"delete": {"table": {"family": "ip", "name": TABLE}}} not in commands
    written = {r["chain"] for r in verbs(commands, "add", "rule")}
    assert not any("/web/" in name for name in written)  # unchanged: not rewritten
    assert any("/dns/" in name and "10.244.0.4" in name for name in written)  # affinity: per ep
    deleted = [c["name"] for c in verbs(commands, "delete", "chain")]
    assert len(deleted) == 1 and "10.244.0.2/5353" in deleted[0]
    assert [s["name"] for s in verbs(commands, "delete", "set")] == list(first.affinity)
    # the maps are refilled in full every time, so they never hold stale entries
    assert {"flush": {"map": {"family": "ip", "table": TABLE, "name": "service-ips"}}} in commands
    full = second.transaction(first, full=True)
    assert any("/web/" in r["chain"] for r in verbs(full, "add", "rule"))


def test_document_is_json_for_nft() -> None:
    rules = Ruleset.build(TABLE, [WEB, DNS, EMPTY])
    document = rules.document(rules.transaction(None))
    assert document["nftables"][0] == {"metainfo": {"json_schema_version": 1}}
    assert json.loads(json.dumps(document)) == document
