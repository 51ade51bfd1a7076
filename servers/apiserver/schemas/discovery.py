"""OpenAPI v3 schemas of discovery.k8s.io/v1 EndpointSlice and core/v1 ServiceAccount.

Field names follow k8s.io/api discovery/v1 and core/v1 types.go at v0.32.
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import (
    CORE,
    Obj,
    array,
    boolean,
    integer,
    kind_header,
    obj,
    ref,
    refs,
    string,
    string_map,
)

DISCOVERY = "io.k8s.api.discovery.v1."
_GROUP = "discovery.k8s.io"

#: EndpointSlice, its parts and ServiceAccount, by full name.
SCHEMAS: dict[str, Obj] = {
    DISCOVERY + "EndpointSlice": obj(
        "EndpointSlice represents a subset of the endpoints that implement a service.",
        {**kind_header("In CamelCase."),
         "addressType": string("The type of address carried by this EndpointSlice: IPv4, "
                               "IPv6 or FQDN.", enum=("FQDN", "IPv4", "IPv6")),
         "endpoints": array(ref(DISCOVERY + "Endpoint"), "A list of unique endpoints in this "
                            "slice.", list_type="atomic"),
         "ports": array(ref(DISCOVERY + "EndpointPort"), "The network ports exposed by each "
                        "endpoint in this slice.", list_type="atomic")},
        ("addressType", "endpoints"), gvk=(_GROUP, "v1", "EndpointSlice")),
    DISCOVERY + "Endpoint": obj(
        "Endpoint represents a single logical \"backend\" implementing a service.",
        {"addresses": array(string(), "Addresses of this endpoint.", list_type="set"),
         "conditions": ref(DISCOVERY + "EndpointConditions", "The current state of the "
                           "endpoint."),
         "hostname": string("Hostname of this endpoint."),
         "targetRef": ref("ObjectReference", "A reference to a Kubernetes object that "
                          "represents this endpoint."),
         "deprecatedTopology": string_map("Deprecated topology information."),
         "nodeName": string("The name of the Node hosting this endpoint."),
         "zone": string("The name of the Zone this endpoint exists in."),
         "hints": ref(DISCOVERY + "EndpointHints", "Information about how an endpoint should "
                      "be consumed.")},
        ("addresses",)),
    DISCOVERY + "EndpointConditions": obj(
        "EndpointConditions represents the current condition of an endpoint.",
        {"ready": boolean("Indicates that this endpoint is ready to receive traffic."),
         "serving": boolean("Identical to ready except that it is set regardless of the "
                            "terminating state of endpoints."),
         "terminating": boolean("Indicates that this endpoint is terminating.")}),
    DISCOVERY + "EndpointHints": obj(
        "EndpointHints provides hints describing how an endpoint should be consumed.",
        {"forZones": refs(DISCOVERY + "ForZone", "Zone(s) this endpoint should be consumed "
                          "by.")}),
    DISCOVERY + "ForZone": obj("ForZone provides information about which zones should consume "
                               "this endpoint.", {"name": string("The name of the zone.")},
                               ("name",)),
    DISCOVERY + "EndpointPort": obj(
        "EndpointPort represents a Port used by an EndpointSlice",
        {"name": string("The name of this port."),
         "protocol": string("The IP protocol for this port: TCP, UDP or SCTP. Default is "
                            "TCP.", enum=("SCTP", "TCP", "UDP")),
         "port": integer("The port number of the endpoint."),
         "appProtocol": string("The application protocol for this port.")}),
    CORE + "ServiceAccount": obj(
        "ServiceAccount binds together: a name, understood by users, and perhaps by "
        "peripheral systems, for an identity; a principal that can be authenticated and "
        "authorized; a set of secrets.",
        {**kind_header("In CamelCase."),
         "secrets": refs("ObjectReference", "Secrets is a list of the secrets in the same "
                         "namespace that pods running using this ServiceAccount are allowed "
                         "to use.", key="name", patch="merge"),
         "imagePullSecrets": refs("LocalObjectReference", "A list of references to secrets "
                                  "in the same namespace to use for pulling any images in "
                                  "pods that reference this ServiceAccount."),
         "automountServiceAccountToken": boolean("Indicates whether pods running as this "
                                                 "service account should have an API token "
                                                 "automatically mounted.")},
        gvk=("", "v1", "ServiceAccount")),
}
