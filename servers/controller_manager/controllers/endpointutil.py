"""endpointutil: what the Endpoints and the EndpointSlice controllers both ask of a pod.

Which pods count for a Service, the port number a Service port means for one pod, and whether
the pod's hostname is published (``pkg/controller/util/endpoint`` and
``staging/src/k8s.io/endpointslice/util``: ``ShouldPodBeInEndpoints``, ``ShouldSetHostname``,
``podutil.FindPort``).
"""

from __future__ import annotations

from typing import Any

from servers.client.informer import object_key
from servers.controller_manager.controllers import objects as o

Obj = dict[str, Any]


def selector(service: Obj) -> dict[str, str]:
    """The Service's selector as a dict (empty: a selector-less Service)."""
    found = o.spec(service).get("selector")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def selects(service: Obj, pod: Obj) -> bool:
    """Whether ``service`` has a selector and it matches ``pod`` (same namespace)."""
    wanted = selector(service)
    if not wanted or o.namespace(service) != o.namespace(pod):
        return False
    labels = o.labels(pod)
    return all(labels.get(k) == v for k, v in wanted.items())


def services_selecting(services: list[Obj], pod: Obj) -> list[str]:
    """The keys of the ``services`` whose selector matches ``pod``."""
    return [object_key(s) for s in services if selects(s, pod)]


def include(pod: Obj, *, include_terminating: bool) -> bool:
    """``ShouldPodBeInEndpoints``: has an IP, is not terminal, and is not being deleted unless
    ``include_terminating``."""
    if o.phase(pod) in (o.SUCCEEDED, o.FAILED):
        return False
    if not o.status(pod).get("podIP"):
        return False
    return include_terminating or not o.deleting(pod)


def hostname(pod: Obj, service: Obj) -> str | None:
    """``ShouldSetHostname``: the pod's hostname when its subdomain names the service."""
    spec = o.spec(pod)
    if spec.get("hostname") and spec.get("subdomain") == o.name(service):
        return str(spec["hostname"])
    return None


def target_ref(pod: Obj) -> Obj:
    return {"kind": "Pod", "namespace": o.namespace(pod), "name": o.name(pod),
            "uid": o.uid(pod)}


def find_port(pod: Obj, port: Obj) -> int | None:
    """The number ``port``'s targetPort means for ``pod`` (``podutil.FindPort``)."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = port.get("protocol", "TCP")
    # Sidecars (init containers that restart Always) serve ports too.
    sidecars = [c for c in o.spec(pod).get("initContainers") or ()
                if c.get("restartPolicy") == "Always"]
    for container in [*(o.spec(pod).get("containers") or ()), *sidecars]:
        for container_port in container.get("ports") or ():
            if (container_port.get("name") == target
                    and container_port.get("protocol", "TCP") == protocol):
                return int(container_port.get("containerPort", 0))
    return None


def resolved_ports(pod: Obj, service: Obj) -> list[Obj]:
    """The service's ports with numbers resolved for ``pod`` (a port the pod lacks is left
    out): ``{port, protocol[, name][, appProtocol]}`` each."""
    found = []
    for port in o.spec(service).get("ports") or ():
        number = find_port(pod, port)
        if number is None:
            continue
        entry: Obj = {"port": number, "protocol": port.get("protocol", "TCP")}
        if port.get("name"):
            entry["name"] = port["name"]
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        found.append(entry)
    return found


def _endpoint_view(pod: Obj) -> tuple[Any, ...]:
    spec, status = o.spec(pod), o.status(pod)
    return (o.labels(pod), status.get("podIP"), status.get("podIPs"), o.is_ready(pod),
            o.deleting(pod), o.phase(pod), spec.get("nodeName"), spec.get("hostname"),
            spec.get("subdomain"), [c.get("ports") for c in spec.get("containers") or ()],
            [c.get("ports") for c in spec.get("initContainers") or ()])


def endpoints_changed(old: Obj, new: Obj) -> bool:
    """Whether a pod update can change any endpoint made of it (kube's
    ``podEndpointsChanged``): a kubelet's status writes that touch none of it cost no sync."""
    return _endpoint_view(old) != _endpoint_view(new)
