"""Services and EndpointSlices reduced to service ports (servers.proxy.model)."""

from __future__ import annotations

from typing import Any

from servers.proxy.model import Endpoint, service_ports


def svc(name: str, ip: str = "10.96.0.10", **spec: Any) -> dict[str, Any]:
    spec.setdefault("ports", [{"name": "http", "port": 80, "protocol": "TCP"}])
    return {"metadata": {"namespace": "default", "name": name},
            "spec": {"clusterIP": ip, "type": "ClusterIP", **spec}}


def eps(service: str, endpoints: list[dict[str, Any]], ports: list[dict[str, Any]] | None = None,
        name: str = "") -> dict[str, Any]:
    return {"metadata": {"namespace": "default", "name": name or f"{service}-abc",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": ports if ports is not None else [{"name": "http", "port": 8080,
                                                      "protocol": "TCP"}]}


def ep(ip: str, **conditions: bool) -> dict[str, Any]:
    return {"addresses": [ip], "conditions": conditions}


def test_ready_endpoints_only_and_sorted_across_slices() -> None:
    ports = service_ports([svc("web")], [
        eps("web", [ep("10.244.0.3", ready=True), ep("10.244.0.9", ready=False)], name="a"),
        eps("web", [ep("10.244.0.2"), ep("10.244.0.3", ready=True)], name="b")])
    assert len(ports) == 1
    assert ports[0].endpoints == (Endpoint("10.244.0.2", 8080), Endpoint("10.244.0.3", 8080))
    assert ports[0].id == "default/web/tcp/http"


def test_terminating_fallback_and_publish_not_ready() -> None:
    slices = [eps("web", [ep("10.244.0.4", ready=False, serving=True, terminating=True),
                          ep("10.244.0.5", ready=False, serving=False)])]
    assert [e.ip for e in service_ports([svc("web")], slices)[0].endpoints] == ["10.244.0.4"]
    published = service_ports([svc("web", publishNotReadyAddresses=True)], slices)
    assert [e.ip for e in published[0].endpoints] == ["10.244.0.4", "10.244.0.5"]


def test_headless_external_name_and_other_services_program_nothing() -> None:
    services = [svc("h", ip="None"), svc("x", ip="", type="ExternalName",
                                         externalName="example.invalid")]
    assert service_ports(services, [eps("h", [ep("10.244.0.2")])]) == []


def test_ports_match_by_name_and_protocol_with_node_port_and_affinity() -> None:
    service = svc("dns", type="NodePort", sessionAffinity="ClientIP",
                  sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}},
                  ports=[{"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
                         {"name": "dns-tcp", "port": 53, "protocol": "TCP",
                          "nodePort": 30054}])
    slices = [eps("dns", [ep("10.244.0.2")], ports=[
        {"name": "dns", "port": 5353, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 5354, "protocol": "TCP"}])]
    udp, tcp = sorted(service_ports([service], slices), key=lambda p: p.protocol, reverse=True)
    assert (udp.protocol, udp.node_port, udp.endpoints) == ("UDP", 30053,
                                                            (Endpoint("10.244.0.2", 5353),))
    assert (tcp.protocol, tcp.endpoints[0].port, tcp.affinity_seconds) == ("TCP", 5354, 60)


def test_cluster_ip_service_has_no_node_port_and_no_slice_means_no_endpoints() -> None:
    ports = service_ports([svc("web", ports=[{"port": 80, "nodePort": 30001}])], [])
    assert ports[0].node_port == 0 and ports[0].endpoints == ()
    assert ports[0].port_name == "" and ports[0].id == "default/web/tcp/"


def test_default_affinity_timeout_is_kubes() -> None:
    ports = service_ports([svc("web", sessionAffinity="ClientIP")], [])
    assert ports[0].affinity_seconds == 10800
