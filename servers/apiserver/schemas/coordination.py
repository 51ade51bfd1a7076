"""OpenAPI v3 schemas of coordination.k8s.io/v1: Lease (node heartbeats, leader election).

Field names follow k8s.io/api coordination/v1 types.go at v0.32. ``acquireTime`` and
``renewTime`` are ``MicroTime``s: RFC 3339 with six fraction digits.
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import META, Obj, integer, kind_header, obj, ref, string

COORDINATION = "io.k8s.api.coordination.v1."
_GROUP = "coordination.k8s.io"

_LEASE_SPEC = obj(
    "LeaseSpec is the specification of a Lease.",
    {
        "holderIdentity": string("The identity of the holder of the current lease (for a "
                                 "node lease: the node's name)."),
        "leaseDurationSeconds": integer("Seconds candidates wait to force-acquire the lease "
                                        "after its last renewal."),
        "acquireTime": ref(META + "MicroTime", "When the current lease was acquired."),
        "renewTime": ref(META + "MicroTime", "When the current holder last renewed the lease."),
        "leaseTransitions": integer("How many times the lease changed holders."),
        "strategy": string("The strategy for picking the leader in coordinated leader "
                           "election (OldestEmulationVersion, or a qualified custom name)."),
        "preferredHolder": string("A hint to the holder to release the lease in favour of "
                                  "this identity; only with strategy."),
    },
)

#: Lease and its spec, by full name.
SCHEMAS: dict[str, Obj] = {
    COORDINATION + "Lease": obj(
        "Lease defines a lease concept.",
        {**kind_header("In CamelCase."),
         "spec": ref(COORDINATION + "LeaseSpec", "The specification of the Lease.")},
        gvk=(_GROUP, "v1", "Lease"),
    ),
    COORDINATION + "LeaseSpec": _LEASE_SPEC,
}
