"""The name → record logic of ``km dns``: every record type, NXDOMAIN and NODATA."""

from __future__ import annotations

from typing import Any

import dns.rcode
import dns.rdatatype as T
import pytest

from servers.dns.zone import SCHEMA_VERSION, TTL, Zone

Obj = dict[str, Any]


def service(name: str, ns: str = "default", *, cluster_ip: str | None = "10.96.0.10",
            ports: list[Obj] | None = None, **spec: Any) -> Obj:
    spec = {"clusterIP": cluster_ip or "None", "ports": ports or [], **spec}
    if cluster_ip:
        spec.setdefault("clusterIPs", [cluster_ip])
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def endpoints(name: str, ready: list[Obj], not_ready: list[Obj] | None = None,
              ns: str = "default", ports: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "namespace": ns},
            "subsets": [{"addresses": ready, "notReadyAddresses": not_ready or [],
                         "ports": ports or [{"name": "pg", "port": 5432, "protocol": "TCP"}]}]}


def endpoint_slice(name: str, service_name: str, eps: list[Obj], ns: str = "default") -> Obj:
    return {"metadata": {"name": name, "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4", "endpoints": eps,
            "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}


def texts(zone: Zone, qname: str, qtype: int) -> list[str]:
    result = zone.lookup(qname, qtype)
    return sorted(r.to_text() for _, rdatas in result.answer for r in rdatas)


@pytest.fixture
def zone() -> Zone:
    return Zone("cluster.local")


def test_cluster_ip_service_has_a_record(zone: Zone) -> None:
    zone.set_service(service("web"))
    assert texts(zone, "web.default.svc.cluster.local.", T.A) == ["10.96.0.10"]


def test_names_compare_case_insensitively(zone: Zone) -> None:
    zone.set_service(service("web"))
    assert texts(zone, "WEB.Default.SVC.cluster.LOCAL.", T.A) == ["10.96.0.10"]


def test_dual_stack_service_has_a_and_aaaa(zone: Zone) -> None:
    zone.set_service(service("web", clusterIPs=["10.96.0.10", "fd00::10"]))
    assert texts(zone, "web.default.svc.cluster.local.", T.A) == ["10.96.0.10"]
    assert texts(zone, "web.default.svc.cluster.local.", T.AAAA) == ["fd00::10"]


def test_named_port_has_srv_with_service_address_additional(zone: Zone) -> None:
    zone.set_service(service("web", ports=[{"name": "http", "port": 80, "protocol": "TCP"},
                                           {"port": 81}]))
    result = zone.lookup("_http._tcp.web.default.svc.cluster.local.", T.SRV)
    srvs = [r for _, rdatas in result.answer for r in rdatas]
    assert [(s.port, s.target.to_text()) for s in srvs] == [
        (80, "web.default.svc.cluster.local.")]
    assert [(name, [r.to_text() for r in rdatas]) for name, rdatas in result.additional] == [
        ("web.default.svc.cluster.local.", ["10.96.0.10"])]


def test_unnamed_port_has_no_srv_and_unknown_port_is_nxdomain(zone: Zone) -> None:
    zone.set_service(service("web", ports=[{"port": 81}]))
    assert zone.lookup("_81._tcp.web.default.svc.cluster.local.", T.SRV).rcode == \
        dns.rcode.NXDOMAIN


def test_udp_port_srv_uses_udp_label(zone: Zone) -> None:
    zone.set_service(service("dns", ports=[{"name": "dns", "port": 53, "protocol": "UDP"}]))
    assert texts(zone, "_dns._udp.dns.default.svc.cluster.local.", T.SRV) == [
        "0 100 53 dns.default.svc.cluster.local."]
    assert zone.lookup("_dns._tcp.dns.default.svc.cluster.local.", T.SRV).rcode == \
        dns.rcode.NXDOMAIN


def test_ptr_for_cluster_ip(zone: Zone) -> None:
    zone.set_service(service("web"))
    assert texts(zone, "10.0.96.10.in-addr.arpa.", T.PTR) == ["web.default.svc.cluster.local."]


def test_headless_service_answers_ready_endpoints_only(zone: Zone) -> None:
    zone.set_service(service("db", cluster_ip=None))
    zone.set_endpoints(endpoints("db", [{"ip": "10.1.0.5", "hostname": "db-0"},
                                        {"ip": "10.1.0.6", "hostname": "db-1"}],
                                 not_ready=[{"ip": "10.1.0.7", "hostname": "db-2"}]))
    assert texts(zone, "db.default.svc.cluster.local.", T.A) == ["10.1.0.5", "10.1.0.6"]
    assert texts(zone, "db-1.db.default.svc.cluster.local.", T.A) == ["10.1.0.6"]
    assert zone.lookup("db-2.db.default.svc.cluster.local.", T.A).rcode == dns.rcode.NXDOMAIN


def test_headless_srv_per_endpoint_and_ptr(zone: Zone) -> None:
    zone.set_service(service("db", cluster_ip=None))
    zone.set_endpoints(endpoints("db", [{"ip": "10.1.0.5", "hostname": "db-0"},
                                        {"ip": "10.1.0.6"}]))
    assert texts(zone, "_pg._tcp.db.default.svc.cluster.local.", T.SRV) == [
        "0 50 5432 10-1-0-6.db.default.svc.cluster.local.",
        "0 50 5432 db-0.db.default.svc.cluster.local."]
    assert texts(zone, "5.0.1.10.in-addr.arpa.", T.PTR) == ["db-0.db.default.svc.cluster.local."]
    assert texts(zone, "10-1-0-6.db.default.svc.cluster.local.", T.A) == ["10.1.0.6"]


def test_headless_without_ready_endpoints_is_nxdomain(zone: Zone) -> None:
    # kubernetes/dns specification 2.4.1: "the answer should be NXDOMAIN".
    zone.set_service(service("db", cluster_ip=None))
    zone.set_endpoints(endpoints("db", [], not_ready=[{"ip": "10.1.0.7"}]))
    assert zone.lookup("db.default.svc.cluster.local.", T.A).rcode == dns.rcode.NXDOMAIN


def test_endpoint_slices_win_over_endpoints(zone: Zone) -> None:
    zone.set_service(service("db", cluster_ip=None))
    zone.set_endpoints(endpoints("db", [{"ip": "10.1.0.9"}]))
    zone.set_slice(endpoint_slice("db-abc", "db", [
        {"addresses": ["10.1.0.5"], "hostname": "db-0", "conditions": {"ready": True}},
        {"addresses": ["10.1.0.6"], "conditions": {"ready": False}},
        {"addresses": ["10.1.0.8"]}]))
    assert texts(zone, "db.default.svc.cluster.local.", T.A) == ["10.1.0.5", "10.1.0.8"]
    zone.delete_slice(endpoint_slice("db-abc", "db", []))
    assert texts(zone, "db.default.svc.cluster.local.", T.A) == ["10.1.0.9"]


def test_slices_of_one_service_add_up(zone: Zone) -> None:
    zone.set_service(service("db", cluster_ip=None))
    zone.set_slice(endpoint_slice("db-a", "db", [{"addresses": ["10.1.0.5"]}]))
    zone.set_slice(endpoint_slice("db-b", "db", [{"addresses": ["10.1.0.6"]}]))
    assert texts(zone, "db.default.svc.cluster.local.", T.A) == ["10.1.0.5", "10.1.0.6"]


def test_external_name_is_cname_for_any_type(zone: Zone) -> None:
    zone.set_service(service("ext", cluster_ip=None, type="ExternalName",
                             externalName="www.example.org"))
    for qtype in (T.A, T.AAAA, T.CNAME, T.TXT):
        assert texts(zone, "ext.default.svc.cluster.local.", qtype) == ["www.example.org."]


def test_pod_records_from_the_name(zone: Zone) -> None:
    assert texts(zone, "10-244-1-7.any.pod.cluster.local.", T.A) == ["10.244.1.7"]
    assert texts(zone, "fd00--7.any.pod.cluster.local.", T.AAAA) == ["fd00::7"]
    assert zone.lookup("10-244-1-7.any.pod.cluster.local.", T.AAAA).answer == []
    assert zone.lookup("not-an-ip.any.pod.cluster.local.", T.A).rcode == dns.rcode.NXDOMAIN


def test_dns_version_txt(zone: Zone) -> None:
    assert texts(zone, "dns-version.cluster.local.", T.TXT) == [f'"{SCHEMA_VERSION}"']


def test_nodata_is_noerror_with_soa(zone: Zone) -> None:
    zone.set_service(service("web"))
    result = zone.lookup("web.default.svc.cluster.local.", T.AAAA)
    assert (result.rcode, result.answer) == (dns.rcode.NOERROR, [])
    [(owner, [soa])] = result.authority
    assert owner == "cluster.local." and soa.minimum == TTL


@pytest.mark.parametrize("name", ["default.svc.cluster.local.", "svc.cluster.local.",
                                  "cluster.local.", "_tcp.web.default.svc.cluster.local."])
def test_names_above_records_are_nodata(zone: Zone, name: str) -> None:
    zone.set_service(service("web", ports=[{"name": "http", "port": 80}]))
    result = zone.lookup(name, T.A)
    assert (result.rcode, result.answer, result.forward) == (dns.rcode.NOERROR, [], False)


def test_missing_names_are_nxdomain_with_soa(zone: Zone) -> None:
    zone.set_service(service("web"))
    for name in ("nope.default.svc.cluster.local.", "web.other.svc.cluster.local.",
                 "x.web.default.svc.cluster.local.", "other.svc.cluster.local."):
        result = zone.lookup(name, T.A)
        assert result.rcode == dns.rcode.NXDOMAIN, name
        assert result.authority


def test_apex_has_soa_and_ns(zone: Zone) -> None:
    assert texts(zone, "cluster.local.", T.NS) == ["ns.dns.cluster.local."]
    [soa] = texts(zone, "cluster.local.", T.SOA)
    assert soa.startswith("ns.dns.cluster.local. hostmaster.cluster.local.")


def test_outside_names_are_forwarded(zone: Zone) -> None:
    assert zone.lookup("example.org.", T.A).forward
    assert zone.lookup("1.2.0.192.in-addr.arpa.", T.PTR).forward


def test_deleting_a_service_removes_its_names_and_parents(zone: Zone) -> None:
    zone.set_service(service("web", ns="shop"))
    zone.delete_service(service("web", ns="shop"))
    assert zone.lookup("web.shop.svc.cluster.local.", T.A).rcode == dns.rcode.NXDOMAIN
    assert zone.lookup("shop.svc.cluster.local.", T.A).rcode == dns.rcode.NXDOMAIN
    assert zone.lookup("10.0.96.10.in-addr.arpa.", T.PTR).forward
    assert zone.size() == 0


def test_updates_replace_old_records_and_move_the_generation(zone: Zone) -> None:
    zone.set_service(service("web"))
    generation, serial = zone.generation, zone.serial
    zone.set_service(service("web", cluster_ip="10.96.0.11"))
    assert texts(zone, "web.default.svc.cluster.local.", T.A) == ["10.96.0.11"]
    assert zone.lookup("10.0.96.10.in-addr.arpa.", T.PTR).forward
    assert zone.generation > generation and zone.serial > serial


def test_two_services_sharing_an_endpoint_ip_both_keep_ptr(zone: Zone) -> None:
    for name in ("a", "b"):
        zone.set_service(service(name, cluster_ip=None))
        zone.set_endpoints(endpoints(name, [{"ip": "10.1.0.5", "hostname": "p"}]))
    assert texts(zone, "5.0.1.10.in-addr.arpa.", T.PTR) == [
        "p.a.default.svc.cluster.local.", "p.b.default.svc.cluster.local."]
    zone.delete_service(service("a", cluster_ip=None))
    assert texts(zone, "5.0.1.10.in-addr.arpa.", T.PTR) == ["p.b.default.svc.cluster.local."]


def test_another_cluster_domain(zone: Zone) -> None:
    other = Zone("Example.Test.")
    other.set_service(service("web"))
    assert texts(other, "web.default.svc.example.test.", T.A) == ["10.96.0.10"]
    assert other.lookup("web.default.svc.cluster.local.", T.A).forward


def test_external_name_outside_the_zone_is_chased_upstream(zone: Zone) -> None:
    zone.set_service(service("ext", cluster_ip=None, type="ExternalName",
                             externalName="www.example.org"))
    assert zone.lookup("ext.default.svc.cluster.local.", T.A).chase == "www.example.org."
    assert zone.lookup("ext.default.svc.cluster.local.", T.CNAME).chase is None


def test_external_name_inside_the_zone_is_followed_here(zone: Zone) -> None:
    zone.set_service(service("web"))
    zone.set_service(service("alias", cluster_ip=None, type="ExternalName",
                             externalName="web.default.svc.cluster.local"))
    result = zone.lookup("alias.default.svc.cluster.local.", T.A)
    assert [(name, [r.to_text() for r in rdatas]) for name, rdatas in result.answer] == [
        ("alias.default.svc.cluster.local.", ["web.default.svc.cluster.local."]),
        ("web.default.svc.cluster.local.", ["10.96.0.10"])]
    assert result.chase is None


def test_external_name_loop_stops(zone: Zone) -> None:
    zone.set_service(service("a", cluster_ip=None, type="ExternalName",
                             externalName="b.default.svc.cluster.local"))
    zone.set_service(service("b", cluster_ip=None, type="ExternalName",
                             externalName="a.default.svc.cluster.local"))
    result = zone.lookup("a.default.svc.cluster.local.", T.A)
    assert len(result.answer) == 1 and result.chase is None


def test_changes_dns_does_not_show_keep_the_generation(zone: Zone) -> None:
    zone.set_service(service("web", ports=[{"name": "http", "port": 80}]))
    generation = zone.generation
    zone.set_endpoints(endpoints("web", [{"ip": "10.1.0.5"}]))  # a ClusterIP: not shown
    zone.set_service({**service("web", ports=[{"name": "http", "port": 80}]),
                      "status": {"loadBalancer": {}}})
    assert zone.generation == generation


def test_srv_of_the_service_name_lists_every_named_port(zone: Zone) -> None:
    zone.set_service(service("web", ports=[{"name": "http", "port": 80},
                                           {"name": "https", "port": 443}, {"port": 8080}]))
    assert texts(zone, "web.default.svc.cluster.local.", T.SRV) == [
        "0 100 443 web.default.svc.cluster.local.", "0 100 80 web.default.svc.cluster.local."]


def test_ipv6_headless_endpoint_has_aaaa_and_ip6_arpa_ptr(zone: Zone) -> None:
    zone.set_service(service("v6", cluster_ip=None))
    zone.set_endpoints(endpoints("v6", [{"ip": "fd00::5", "hostname": "p"}]))
    assert texts(zone, "v6.default.svc.cluster.local.", T.AAAA) == ["fd00::5"]
    assert zone.lookup("v6.default.svc.cluster.local.", T.A).answer == []
    ptr = "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa."
    assert texts(zone, ptr, T.PTR) == ["p.v6.default.svc.cluster.local."]
