"""OpenAPI v3 schemas of core/v1 Service, Endpoints, ReplicationController, ConfigMap,
Namespace, Binding, ObjectReference, and autoscaling/v1 Scale.

Field names follow k8s.io/api at v0.32.
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import (
    INT_OR_STRING,
    Obj,
    array,
    boolean,
    free,
    integer,
    kind_header,
    map_of,
    obj,
    ref,
    refs,
    string,
    string_map,
    strings,
)

_SERVICE_PORT = obj(
    "ServicePort contains information on a service's port.",
    {
        "name": string("Name of the port, required when there is more than one."),
        "protocol": string("TCP (default), UDP or SCTP.", enum=("SCTP", "TCP", "UDP")),
        "appProtocol": string("Application protocol, such as http."),
        "port": integer("Port exposed by the service."),
        "targetPort": ref(INT_OR_STRING, "Number or name of the port on the pods "
                          "(default: the same as port)."),
        "nodePort": integer("Port on each node, for NodePort and LoadBalancer services."),
    },
    ("port",),
)

_SERVICE_SPEC = obj(
    "ServiceSpec describes the attributes that a user creates on a service.",
    {
        "ports": array(ref("ServicePort"), "Ports exposed by the service.", list_type="map",
                       keys=("port", "protocol"), patch="merge", merge_key="port"),
        "selector": string_map("Routes traffic to pods whose labels match."),
        "clusterIP": string("Virtual IP of the service; allocated when empty, None for "
                            "headless."),
        "clusterIPs": strings("Cluster IPs, one per IP family."),
        "type": string("ClusterIP (default), NodePort, LoadBalancer or ExternalName.",
                       enum=("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")),
        "externalIPs": strings("Extra IPs the service accepts traffic on."),
        "sessionAffinity": string("None (default) or ClientIP.", enum=("ClientIP", "None")),
        "sessionAffinityConfig": free("Session affinity settings."),
        "loadBalancerIP": string("Deprecated: IP requested from the load balancer."),
        "loadBalancerSourceRanges": strings("Client CIDRs allowed through the load balancer."),
        "loadBalancerClass": string("Class of the load balancer implementation."),
        "externalName": string("DNS name returned for ExternalName services."),
        "externalTrafficPolicy": string("Cluster (default) or Local."),
        "internalTrafficPolicy": string("Cluster (default) or Local."),
        "healthCheckNodePort": integer("Health check port for Local traffic policy."),
        "publishNotReadyAddresses": boolean("Include not-ready endpoints."),
        "ipFamilies": strings("IPv4 and/or IPv6."),
        "ipFamilyPolicy": string("SingleStack, PreferDualStack or RequireDualStack."),
        "allocateLoadBalancerNodePorts": boolean("Allocate node ports for LoadBalancer."),
        "trafficDistribution": string("Preference for how traffic is distributed."),
    },
)

_LOAD_BALANCER_INGRESS = obj(
    "An ingress point of a load balancer.",
    {"ip": string("IP address."), "hostname": string("Host name."),
     "ipMode": string("VIP or Proxy."), "ports": array(free(), "Ports of the ingress.")},
)

_ENDPOINT_ADDRESS = obj(
    "EndpointAddress is a single IP address of an endpoint.",
    {
        "ip": string("The IP of this endpoint."),
        "hostname": string("Host name of this endpoint."),
        "nodeName": string("Node hosting this endpoint."),
        "targetRef": ref("ObjectReference", "The object providing the endpoint (a pod)."),
    },
    ("ip",),
)

_ENDPOINT_SUBSET = obj(
    "EndpointSubset is a group of addresses with a common set of ports.",
    {
        "addresses": refs("EndpointAddress", "Ready addresses."),
        "notReadyAddresses": refs("EndpointAddress", "Addresses not ready yet."),
        "ports": refs("EndpointPort", "Ports available on the addresses."),
    },
)

_RC_SPEC = obj(
    "ReplicationControllerSpec is the specification of a replication controller.",
    {
        "replicas": integer("Desired number of pods (default 1)."),
        "minReadySeconds": integer("Seconds a pod must be ready to count as available."),
        "selector": string_map("Label query over the pods; defaults to the template's labels."),
        "template": ref("PodTemplateSpec", "The pods created when there are too few."),
    },
)

_RC_STATUS = obj(
    "ReplicationControllerStatus is the most recently observed status.",
    {
        "replicas": integer("Most recently observed number of pods."),
        "fullyLabeledReplicas": integer("Pods whose labels match the template's."),
        "readyReplicas": integer("Ready pods."),
        "availableReplicas": integer("Available pods (ready for minReadySeconds)."),
        "observedGeneration": integer("Most recent generation observed.", "int64"),
        "conditions": array(free(), "Latest observations of the controller's state.",
                            patch="merge", merge_key="type"),
    },
    ("replicas",),
)

_OBJECT_REFERENCE = obj(
    "ObjectReference contains enough information to find the referred object.",
    {
        "apiVersion": string("API version of the referent."),
        "kind": string("Kind of the referent."),
        "namespace": string("Namespace of the referent."),
        "name": string("Name of the referent."),
        "uid": string("UID of the referent."),
        "resourceVersion": string("Specific resourceVersion the reference is to."),
        "fieldPath": string("A part of the object, such as spec.containers{name}."),
    },
)

_SCALE = "io.k8s.api.autoscaling.v1."

#: Services, endpoints, controllers, config maps, namespaces, bindings, scale.
SCHEMAS: dict[str, Obj] = {
    "io.k8s.api.core.v1.Service": obj(
        "Service is a named abstraction of a software service: a port the proxy listens on "
        "and a selector of the pods that serve it.",
        {**kind_header("In CamelCase."),
         "spec": ref("ServiceSpec", "Behavior of the service."),
         "status": ref("ServiceStatus", "Most recently observed status.")},
        gvk=("", "v1", "Service"),
    ),
    "io.k8s.api.core.v1.ServiceSpec": _SERVICE_SPEC,
    "io.k8s.api.core.v1.ServicePort": _SERVICE_PORT,
    "io.k8s.api.core.v1.ServiceStatus": obj(
        "ServiceStatus is the current status of a service.",
        {"loadBalancer": ref("LoadBalancerStatus", "Status of the load balancer."),
         "conditions": array(free(), "Current service state.")}),
    "io.k8s.api.core.v1.LoadBalancerStatus": obj(
        "Status of a load balancer.",
        {"ingress": refs("LoadBalancerIngress", "Ingress points of the load balancer.")}),
    "io.k8s.api.core.v1.LoadBalancerIngress": _LOAD_BALANCER_INGRESS,
    "io.k8s.api.core.v1.Endpoints": obj(
        "Endpoints is the set of addresses and ports that implement a service.",
        {**kind_header("In CamelCase."),
         "subsets": refs("EndpointSubset", "Sets of addresses and ports.")},
        gvk=("", "v1", "Endpoints"),
    ),
    "io.k8s.api.core.v1.EndpointSubset": _ENDPOINT_SUBSET,
    "io.k8s.api.core.v1.EndpointAddress": _ENDPOINT_ADDRESS,
    "io.k8s.api.core.v1.EndpointPort": obj(
        "EndpointPort is a port of an endpoint.",
        {"name": string("Name of the port; matches the service port's name."),
         "port": integer("Port number."),
         "protocol": string("TCP (default), UDP or SCTP."),
         "appProtocol": string("Application protocol.")},
        ("port",)),
    "io.k8s.api.core.v1.ReplicationController": obj(
        "ReplicationController keeps a number of pod replicas running.",
        {**kind_header("In CamelCase."),
         "spec": ref("ReplicationControllerSpec", "Desired behavior."),
         "status": ref("ReplicationControllerStatus", "Most recently observed status.")},
        gvk=("", "v1", "ReplicationController"),
    ),
    "io.k8s.api.core.v1.ReplicationControllerSpec": _RC_SPEC,
    "io.k8s.api.core.v1.ReplicationControllerStatus": _RC_STATUS,
    "io.k8s.api.core.v1.ConfigMap": obj(
        "ConfigMap holds configuration data for pods to consume.",
        {**kind_header("In CamelCase."),
         "data": string_map("UTF-8 configuration data; keys are [-._a-zA-Z0-9]+."),
         "binaryData": map_of(string(fmt="byte"), "Base64-encoded binary data."),
         "immutable": boolean("If true, data cannot be changed.")},
        gvk=("", "v1", "ConfigMap"),
    ),
    "io.k8s.api.core.v1.Namespace": obj(
        "Namespace provides a scope for names.",
        {**kind_header("In CamelCase."),
         "spec": ref("NamespaceSpec", "Behavior of the namespace."),
         "status": ref("NamespaceStatus", "Status of the namespace.")},
        gvk=("", "v1", "Namespace"),
    ),
    "io.k8s.api.core.v1.NamespaceSpec": obj(
        "NamespaceSpec describes the attributes of a namespace.",
        {"finalizers": strings("Must be empty before the namespace is removed.")}),
    "io.k8s.api.core.v1.NamespaceStatus": obj(
        "NamespaceStatus is the status of a namespace.",
        {"phase": string("Active or Terminating.", enum=("Active", "Terminating")),
         "conditions": array(free(), "Latest observations of the namespace's state.")}),
    "io.k8s.api.core.v1.Binding": obj(
        "Binding ties one object to another, such as a pod to a node by a scheduler.",
        {**kind_header("In CamelCase."),
         "target": ref("ObjectReference", "The object to bind to (a Node).")},
        ("target",),
        gvk=("", "v1", "Binding"),
    ),
    "io.k8s.api.core.v1.ObjectReference": _OBJECT_REFERENCE,
    _SCALE + "Scale": obj(
        "Scale represents a scaling request for a resource.",
        {**kind_header("In CamelCase."),
         "spec": ref(_SCALE + "ScaleSpec", "Desired scale."),
         "status": ref(_SCALE + "ScaleStatus", "Current scale; read-only.")},
        gvk=("autoscaling", "v1", "Scale"),
    ),
    _SCALE + "ScaleSpec": obj(
        "ScaleSpec describes the attributes of a scale subresource.",
        {"replicas": integer("Desired number of instances.")}),
    _SCALE + "ScaleStatus": obj(
        "ScaleStatus represents the current status of a scale subresource.",
        {"replicas": integer("Actual number of observed instances."),
         "selector": string("Label query over the pods, in string form.")},
        ("replicas",)),
}
