"""DNS messages in and out: a query's bytes → the zone's answer's bytes, cached per question.

    responder = Responder(zone, forwarding=True)
    reply = responder.respond(data, udp=True)
    if reply.data is None: ...            # not the cluster's name: forward it upstream

The wire format is dnspython's; this module decides only what goes in a message:

* a query that does not parse gets FORMERR (with the query's ID when it has one), an opcode
  other than QUERY gets NOTIMP, a class other than IN or a name outside the zone with no
  upstream gets REFUSED (``--upstream none``);
* answers from the zone are authoritative (AA), echo the question as asked (case included),
  carry an OPT record when the query had one (EDNS0, our payload 1232 as DNS Flag Day 2020);
* over UDP an answer longer than 512 bytes, or than the query's EDNS0 payload size, is cut at
  a record boundary with TC set (dnspython's ``prefer_truncation``, as CoreDNS's
  ``Truncate``), so the client asks again over TCP, where the answer goes whole.

The hot path: the reply to a query depends only on the query's bytes after its ID and on the
zone, so packed replies are kept by those bytes until the zone's ``generation`` moves; a
repeated question costs a dict lookup and one bytes concatenation.
"""

from __future__ import annotations

from typing import NamedTuple

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from servers.dns.zone import Lookup, Zone

__all__ = ["OUR_PAYLOAD", "UDP_LIMIT", "Reply", "Responder", "type_label"]

UDP_LIMIT = 512  # RFC 1035 4.2.1, without EDNS0
OUR_PAYLOAD = 1232  # the EDNS0 buffer size DNS Flag Day 2020 recommends
CACHE_ENTRIES = 10_000  # replies kept; the cache is emptied when full (questions repeat a lot)
# The types CoreDNS's metrics name; every other type counts as "other"
# (coredns plugin/metrics/vars/monitor.go monitorType).
_MONITORED = frozenset(dns.rdatatype.RdataType.make(t) for t in (
    "A", "AAAA", "MX", "SOA", "CNAME", "PTR", "TXT", "NS", "SRV", "DS", "DNSKEY", "RRSIG",
    "NSEC", "NSEC3", "HTTPS", "IXFR", "AXFR", "ANY"))


class Reply(NamedTuple):
    """A reply's bytes (``None``: forward the query), its rcode and the question's type."""

    data: bytes | None
    rcode: int
    qtype: int
    chase: str | None = None  # data None and chase set: ask upstream for this name first


def type_label(qtype: int) -> str:
    """The ``type`` label of CoreDNS's metrics for a question type."""
    return dns.rdatatype.to_text(dns.rdatatype.RdataType(qtype)) if qtype in _MONITORED \
        else "other"


class Responder:
    """Turns query bytes into reply bytes from one ``Zone`` (see the module docstring)."""

    def __init__(self, zone: Zone, *, forwarding: bool) -> None:
        self.zone = zone
        self.forwarding = forwarding
        self._cache: dict[bytes, tuple[bytes, int, int]] = {}
        self._generation = zone.generation

    def respond(self, data: bytes, *, udp: bool) -> Reply:
        """The reply to ``data`` (over UDP: cut to the client's size with TC)."""
        if self._generation != self.zone.generation:
            self._cache.clear()
            self._generation = self.zone.generation
        key = (b"u" if udp else b"t") + data[2:]
        hit = self._cache.get(key)
        if hit is not None:
            return Reply(data[:2] + hit[0], hit[1], hit[2])
        reply = self._respond(data, udp)
        if reply.data:  # neither forwarded nor dropped
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()
            self._cache[key] = (reply.data[2:], reply.rcode, reply.qtype)
        return reply

    def _respond(self, data: bytes, udp: bool) -> Reply:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return _format_error(data)
        if query.flags & dns.flags.QR:  # a response sent to us: answering it could loop
            return Reply(b"", dns.rcode.FORMERR, 0)
        if query.opcode() != dns.opcode.QUERY:
            return _rcode_only(query, dns.rcode.NOTIMP)
        if len(query.question) != 1:
            return _rcode_only(query, dns.rcode.FORMERR)
        question = query.question[0]
        if question.rdclass not in (dns.rdataclass.IN, dns.rdataclass.ANY):
            return _rcode_only(query, dns.rcode.REFUSED)
        lookup = self.zone.lookup(question.name.to_text(), question.rdtype)
        if lookup.forward:
            if self.forwarding:
                return Reply(None, dns.rcode.NOERROR, question.rdtype)
            return _rcode_only(query, dns.rcode.REFUSED)
        if lookup.chase and self.forwarding:
            return Reply(None, dns.rcode.NOERROR, question.rdtype, chase=lookup.chase)
        return self._pack(query, question.name, lookup, udp)

    def chase_query(self, target: str, qtype: int) -> bytes:
        """The query to send upstream for an ExternalName's target."""
        return dns.message.make_query(target, dns.rdatatype.RdataType(qtype)).to_wire()

    def chased(self, data: bytes, upstream: bytes | None, *, udp: bool) -> Reply:
        """An ExternalName's CNAME followed by upstream's answer for its target (not cached).

        The rcode is upstream's (it speaks of the last name in the chain, RFC 6604); with no
        answer from upstream the CNAME goes alone.
        """
        query = dns.message.from_wire(data)
        question = query.question[0]
        lookup = self.zone.lookup(question.name.to_text(), question.rdtype)
        extra: list[dns.rrset.RRset] = []
        if upstream:
            try:
                message = dns.message.from_wire(upstream)
            except dns.exception.DNSException:
                message = None
            if message is not None:
                extra, lookup.rcode = list(message.answer), message.rcode()
        return self._pack(query, question.name, lookup, udp, extra)

    def _pack(self, query: dns.message.Message, qname: dns.name.Name, lookup: Lookup,
              udp: bool, extra: list[dns.rrset.RRset] | None = None) -> Reply:
        response = dns.message.make_response(query, recursion_available=self.forwarding,
                                             our_payload=OUR_PAYLOAD)
        response.flags |= dns.flags.AA
        response.set_rcode(dns.rcode.Rcode(lookup.rcode))
        ttl = self.zone.ttl
        asked = qname.to_text().lower()
        for section, records in ((response.answer, lookup.answer),
                                 (response.authority, lookup.authority),
                                 (response.additional, lookup.additional)):
            for name, rdatas in records:
                owner = qname if name == asked else dns.name.from_text(name)
                section.append(dns.rrset.from_rdata_list(owner, ttl, rdatas))
        response.answer += extra or []
        limit = 65535
        if udp:
            limit = max(UDP_LIMIT, query.payload) if query.edns >= 0 else UDP_LIMIT
        wire = response.to_wire(max_size=min(limit, 65535), prefer_truncation=True)
        return Reply(wire, lookup.rcode, query.question[0].rdtype)


def _rcode_only(query: dns.message.Message, rcode: int) -> Reply:
    response = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
    response.set_rcode(dns.rcode.Rcode(rcode))
    qtype = query.question[0].rdtype if query.question else 0
    return Reply(response.to_wire(), rcode, qtype)


def _format_error(data: bytes) -> Reply:
    """FORMERR for bytes that are no query; nothing at all for fewer than a header's bytes."""
    if len(data) < 12 or data[2] & 0x80:  # no header, or a response: never answer those
        return Reply(b"", dns.rcode.FORMERR, 0)
    response = dns.message.Message(id=int.from_bytes(data[:2], "big"))
    response.flags = dns.flags.QR | (int.from_bytes(data[2:4], "big") & dns.flags.RD)
    response.set_rcode(dns.rcode.FORMERR)
    return Reply(response.to_wire(), dns.rcode.FORMERR, 0)
