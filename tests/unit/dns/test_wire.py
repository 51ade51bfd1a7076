"""Queries to reply bytes: flags, rcodes, EDNS0, truncation over UDP, the reply cache."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype as T
import dns.rrset
import pytest

from servers.dns.wire import OUR_PAYLOAD, UDP_LIMIT, Responder
from servers.dns.zone import Zone


def big_headless(zone: Zone, count: int) -> None:
    zone.set_service({"metadata": {"name": "big", "namespace": "default"},
                      "spec": {"clusterIP": "None"}})
    zone.set_endpoints({"metadata": {"name": "big", "namespace": "default"}, "subsets": [
        {"addresses": [{"ip": f"10.2.{i // 250}.{i % 250 + 1}"} for i in range(count)]}]})


@pytest.fixture
def zone() -> Zone:
    zone = Zone("cluster.local")
    zone.set_service({"metadata": {"name": "web", "namespace": "default"},
                      "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"]}})
    return zone


def ask(responder: Responder, name: str, qtype: str = "A", *, udp: bool = True,
        **kwargs: object) -> dns.message.Message:
    query = dns.message.make_query(name, qtype, **kwargs)  # type: ignore[arg-type]
    reply = responder.respond(query.to_wire(), udp=udp)
    assert reply.data
    message = dns.message.from_wire(reply.data)
    assert message.id == query.id
    return message


def test_answer_is_authoritative_and_echoes_the_question_case(zone: Zone) -> None:
    message = ask(Responder(zone, forwarding=False), "WeB.default.svc.cluster.local")
    assert message.flags & dns.flags.AA and message.flags & dns.flags.QR
    assert message.flags & dns.flags.RD
    assert message.question[0].name.to_text() == "WeB.default.svc.cluster.local."
    assert message.answer[0].name.to_text() == "WeB.default.svc.cluster.local."
    assert message.answer[0].ttl == 30


def test_nxdomain_and_nodata_on_the_wire(zone: Zone) -> None:
    responder = Responder(zone, forwarding=False)
    missing = ask(responder, "nope.default.svc.cluster.local")
    assert missing.rcode() == dns.rcode.NXDOMAIN and missing.authority[0].rdtype == T.SOA
    nodata = ask(responder, "web.default.svc.cluster.local", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == T.SOA


def test_outside_names_refused_without_upstream_and_forwarded_with(zone: Zone) -> None:
    refused = ask(Responder(zone, forwarding=False), "example.org")
    assert refused.rcode() == dns.rcode.REFUSED
    query = dns.message.make_query("example.org", "A")
    assert Responder(zone, forwarding=True).respond(query.to_wire(), udp=True).data is None


def test_edns_query_gets_opt_back(zone: Zone) -> None:
    message = ask(Responder(zone, forwarding=False), "web.default.svc.cluster.local",
                  use_edns=0, payload=4096)
    assert message.edns == 0 and message.payload == OUR_PAYLOAD
    plain = ask(Responder(zone, forwarding=False), "web.default.svc.cluster.local")
    assert plain.edns == -1


def test_udp_reply_over_512_bytes_is_truncated_with_tc(zone: Zone) -> None:
    big_headless(zone, 60)  # 60 A records: ~1 KiB
    responder = Responder(zone, forwarding=False)
    query = dns.message.make_query("big.default.svc.cluster.local", "A")
    reply = responder.respond(query.to_wire(), udp=True)
    assert reply.data and len(reply.data) <= UDP_LIMIT
    message = dns.message.from_wire(reply.data, ignore_trailing=True)
    assert message.flags & dns.flags.TC
    assert sum(len(rrset) for rrset in message.answer) < 60


def test_edns_payload_raises_the_udp_limit(zone: Zone) -> None:
    big_headless(zone, 60)
    message = ask(Responder(zone, forwarding=False), "big.default.svc.cluster.local",
                  use_edns=0, payload=4096)
    assert not message.flags & dns.flags.TC and len(message.answer[0]) == 60


def test_tcp_reply_goes_whole(zone: Zone) -> None:
    big_headless(zone, 600)  # ~10 KiB
    message = ask(Responder(zone, forwarding=False), "big.default.svc.cluster.local",
                  udp=False)
    assert not message.flags & dns.flags.TC and len(message.answer[0]) == 600


def test_garbage_gets_formerr_with_its_id_and_short_garbage_nothing(zone: Zone) -> None:
    responder = Responder(zone, forwarding=False)
    reply = responder.respond(b"\x12\x34\x01\x00" + b"\x00\x01" + b"\xff" * 20, udp=True)
    assert reply.data and reply.data[:2] == b"\x12\x34"
    assert dns.message.from_wire(reply.data).rcode() == dns.rcode.FORMERR
    assert responder.respond(b"\x00\x01", udp=True).data == b""


def test_responses_are_not_answered(zone: Zone) -> None:
    query = dns.message.make_query("web.default.svc.cluster.local", "A")
    response = dns.message.make_response(query)
    assert Responder(zone, forwarding=False).respond(response.to_wire(), udp=True).data == b""


def test_other_opcodes_are_not_implemented(zone: Zone) -> None:
    query = dns.message.make_query("web.default.svc.cluster.local", "A")
    query.set_opcode(dns.opcode.NOTIFY)
    reply = Responder(zone, forwarding=False).respond(query.to_wire(), udp=True)
    assert reply.data and dns.message.from_wire(reply.data).rcode() == dns.rcode.NOTIMP


def test_cached_reply_keeps_each_querys_id_and_follows_the_zone(zone: Zone) -> None:
    responder = Responder(zone, forwarding=False)
    first = ask(responder, "web.default.svc.cluster.local")
    second = ask(responder, "web.default.svc.cluster.local")  # a new ID, from the cache
    assert first.answer == second.answer
    zone.set_service({"metadata": {"name": "web", "namespace": "default"},
                      "spec": {"clusterIP": "10.96.0.99", "clusterIPs": ["10.96.0.99"]}})
    third = ask(responder, "web.default.svc.cluster.local")
    assert [r.to_text() for r in third.answer[0]] == ["10.96.0.99"]


def test_external_name_chase_adds_upstreams_answer(zone: Zone) -> None:
    zone.set_service({"metadata": {"name": "ext", "namespace": "default"},
                      "spec": {"type": "ExternalName", "externalName": "www.example.org"}})
    responder = Responder(zone, forwarding=True)
    query = dns.message.make_query("ext.default.svc.cluster.local", "A")
    reply = responder.respond(query.to_wire(), udp=True)
    assert reply.data is None and reply.chase == "www.example.org."
    upstream_query = dns.message.from_wire(responder.chase_query(reply.chase, reply.qtype))
    upstream = dns.message.make_response(upstream_query)
    upstream.answer.append(dns.rrset.from_text("www.example.org.", 60, "IN", "A", "192.0.2.1"))
    chased = responder.chased(query.to_wire(), upstream.to_wire(), udp=True)
    assert chased.data
    message = dns.message.from_wire(chased.data)
    assert [rrset.to_text() for rrset in message.answer] == [
        "ext.default.svc.cluster.local. 30 IN CNAME www.example.org.",
        "www.example.org. 60 IN A 192.0.2.1"]
    alone = dns.message.from_wire(responder.chased(query.to_wire(), None, udp=True).data or b"")
    assert len(alone.answer) == 1 and alone.rcode() == dns.rcode.NOERROR


@pytest.mark.parametrize("seed", range(3))
def test_random_and_mangled_queries_never_raise(zone: Zone, seed: int) -> None:
    import random

    rng = random.Random(seed)
    responder = Responder(zone, forwarding=False)
    good = dns.message.make_query("web.default.svc.cluster.local", "A", use_edns=0).to_wire()
    for _ in range(300):
        data = bytearray(good)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        cut = bytes(data[: rng.randrange(len(data) + 1)]) if rng.random() < 0.3 else bytes(data)
        reply = responder.respond(cut, udp=True)
        if reply.data:
            assert reply.data[:2] == cut[:2] and reply.data[2] & 0x80
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        responder.respond(noise, udp=False)
