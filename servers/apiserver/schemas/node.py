"""OpenAPI v3 schemas of core/v1 Node and Event.

Field names follow k8s.io/api/core/v1/types.go at v0.32.
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import (
    META,
    Obj,
    array,
    boolean,
    free,
    integer,
    kind_header,
    obj,
    quantities,
    ref,
    refs,
    string,
    strings,
    time,
)

_NODE_SPEC = obj(
    "NodeSpec describes the attributes that a node is created with.",
    {
        "podCIDR": string("Pod IP range assigned to the node."),
        "podCIDRs": strings("Pod IP ranges assigned to the node."),
        "providerID": string("ID of the node assigned by the cloud provider."),
        "unschedulable": boolean("When true, new pods are not scheduled on the node."),
        "taints": refs("Taint", "Taints that repel pods not tolerating them."),
        "configSource": free("Deprecated: dynamic kubelet configuration."),
        "externalID": string("Deprecated."),
    },
)

_TAINT = obj(
    "A taint repels pods that do not tolerate it.",
    {
        "key": string("Taint key."),
        "value": string("Taint value."),
        "effect": string("NoSchedule, PreferNoSchedule or NoExecute.",
                         enum=("NoExecute", "NoSchedule", "PreferNoSchedule")),
        "timeAdded": time("When a NoExecute taint was added."),
    },
    ("key", "effect"),
)

_NODE_SYSTEM_INFO = obj(
    "NodeSystemInfo is a set of IDs and versions that identify the node.",
    {
        "machineID": string("Machine ID reported by the node."),
        "systemUUID": string("System UUID reported by the node."),
        "bootID": string("Boot ID reported by the node."),
        "kernelVersion": string("Kernel version (uname -r)."),
        "osImage": string("OS image (/etc/os-release PRETTY_NAME)."),
        "containerRuntimeVersion": string("Runtime version, <type>://<version>."),
        "kubeletVersion": string("Kubelet version."),
        "kubeProxyVersion": string("Deprecated: kube-proxy version."),
        "operatingSystem": string("Operating system, such as linux."),
        "architecture": string("Architecture, such as amd64."),
        "swap": free("Swap information."),
    },
    ("machineID", "systemUUID", "bootID", "kernelVersion", "osImage",
     "containerRuntimeVersion", "kubeletVersion", "kubeProxyVersion", "operatingSystem",
     "architecture"),
)

_NODE_CONDITION = obj(
    "NodeCondition contains condition information for a node.",
    {
        "type": string("Ready, MemoryPressure, DiskPressure, PIDPressure, ..."),
        "status": string("True, False or Unknown."),
        "lastHeartbeatTime": time("Last time the condition was reported."),
        "lastTransitionTime": time("Last time the condition changed status."),
        "reason": string("Reason of the last transition."),
        "message": string("Details of the last transition."),
    },
    ("type", "status"),
)

_NODE_STATUS = obj(
    "NodeStatus is information about the current status of a node.",
    {
        "capacity": quantities("Total resources of the node."),
        "allocatable": quantities("Resources available for scheduling."),
        "phase": string("Deprecated: Pending, Running or Terminated."),
        "conditions": refs("NodeCondition", "Current observed conditions.", key="type",
                           patch="merge"),
        "addresses": refs("NodeAddress", "Addresses reachable to the node.", key="type",
                          patch="merge"),
        "daemonEndpoints": ref("NodeDaemonEndpoints", "Endpoints of daemons on the node."),
        "nodeInfo": ref("NodeSystemInfo", "IDs and versions of the node."),
        "images": array(free(), "Container images on the node."),
        "volumesInUse": strings("Volumes in use on the node."),
        "volumesAttached": array(free(), "Volumes attached to the node."),
        "config": free("Status of the node's configuration."),
        "runtimeHandlers": array(free(), "Available runtime handlers."),
        "features": free("Features implemented by the node."),
    },
)

_EVENT = obj(
    "Event is a report of an event somewhere in the cluster.",
    {
        **kind_header("In CamelCase."),
        "involvedObject": ref("ObjectReference", "The object this event is about."),
        "reason": string("Short, machine-understandable reason, such as Scheduled."),
        "message": string("Human-readable description of the event."),
        "source": ref("EventSource", "The component reporting this event."),
        "firstTimestamp": time("When the event was first recorded."),
        "lastTimestamp": time("When the most recent occurrence was recorded."),
        "count": integer("Number of times the event has occurred."),
        "type": string("Normal or Warning."),
        "eventTime": ref(META + "MicroTime", "When the event was first observed."),
        "series": ref("EventSeries", "Data about the event series, if any."),
        "action": string("What action was taken or failed."),
        "related": ref("ObjectReference", "A secondary object, if any."),
        "reportingComponent": string("Controller that emitted the event."),
        "reportingInstance": string("ID of the controller instance."),
    },
    ("metadata", "involvedObject"),
    gvk=("", "v1", "Event"),
)

#: Node, Event and their parts, by full name.
SCHEMAS: dict[str, Obj] = {
    "io.k8s.api.core.v1.Node": obj(
        "Node is a worker node; km's kubelet registers one per host.",
        {**kind_header("In CamelCase."),
         "spec": ref("NodeSpec", "Behavior of the node."),
         "status": ref("NodeStatus", "Most recently observed status of the node.")},
        gvk=("", "v1", "Node"),
    ),
    "io.k8s.api.core.v1.NodeSpec": _NODE_SPEC,
    "io.k8s.api.core.v1.NodeStatus": _NODE_STATUS,
    "io.k8s.api.core.v1.NodeSystemInfo": _NODE_SYSTEM_INFO,
    "io.k8s.api.core.v1.NodeCondition": _NODE_CONDITION,
    "io.k8s.api.core.v1.NodeAddress": obj(
        "An address of the node.",
        {"type": string("Hostname, InternalIP, ExternalIP, InternalDNS or ExternalDNS."),
         "address": string("The address.")},
        ("type", "address")),
    "io.k8s.api.core.v1.NodeDaemonEndpoints": obj(
        "Ports of daemons running on the node.",
        {"kubeletEndpoint": ref("DaemonEndpoint", "Endpoint of the kubelet.")}),
    "io.k8s.api.core.v1.DaemonEndpoint": obj(
        "A port a daemon listens on.", {"Port": integer("Port number.")}, ("Port",)),
    "io.k8s.api.core.v1.Taint": _TAINT,
    "io.k8s.api.core.v1.Event": _EVENT,
    "io.k8s.api.core.v1.EventSource": obj(
        "The component that reported an event.",
        {"component": string("Component name."), "host": string("Node name.")}),
    "io.k8s.api.core.v1.EventSeries": obj(
        "A series of repeated events.",
        {"count": integer("Occurrences in this series."),
         "lastObservedTime": ref(META + "MicroTime", "Time of the last occurrence.")}),
}
