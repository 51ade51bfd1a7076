"""Per-kind table rows: the cells kube-apiserver's printers compute for ``kubectl get``.

One function per kind returns the *wide* row (every column, priority 0 and 1) for one
object; ``servers.apiserver.tables`` pairs them with their column definitions. Rules follow
k8s.io/kubernetes pkg/printers/internalversion/printers.go at v1.32 (``printNode``,
``printService``, ``formatEndpoints``, ``printEvent``, ...). Also here: AGE formatting
(``duration.HumanDuration``) and ``labels.FormatLabels``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from servers.apimachinery.meta import parse_rfc3339
from servers.apiserver.kinds import podprint

Obj = dict[str, Any]
Cell = Any

NONE = "<none>"


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}
# Below each limit (seconds), HumanDuration prints the big unit and, if not zero, the small one.
_STEPS: tuple[tuple[int, str, str], ...] = (
    (2 * 60, "s", ""),
    (10 * 60, "m", "s"),
    (3 * 3600, "m", ""),
    (8 * 3600, "h", "m"),
    (48 * 3600, "h", ""),
    (8 * 86400, "d", "h"),
    (2 * 365 * 86400, "d", ""),
    (8 * 365 * 86400, "y", "d"),
)


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration``: ``5s``, ``3m2s``, ``45m``, ``5h3m``, ``2d3h``.

    Up to two seconds in the future counts as now (clock skew); further is ``<invalid>``.
    """
    whole = int(seconds)  # truncates toward zero, like Go's int(d.Seconds())
    if whole < -1:
        return "<invalid>"
    whole = max(whole, 0)
    big, small = next(((b, s) for limit, b, s in _STEPS if whole < limit), ("y", ""))
    text = f"{whole // _UNITS[big]}{big}"
    rest = (whole % _UNITS[big]) // _UNITS[small] if small else 0
    return f"{text}{rest}{small}" if rest else text


def age(timestamp: str | None, now: datetime) -> str:
    """The AGE cell: time since an RFC 3339 ``timestamp``, ``<unknown>`` when unset."""
    if not timestamp:
        return "<unknown>"
    try:
        moment = parse_rfc3339(timestamp)
    except ValueError:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())


def format_labels(labels: dict[str, str] | None) -> str:
    """``a=b,c=d`` sorted by key, ``<none>`` when empty (``labels.FormatLabels``)."""
    if not labels:
        return NONE
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _created(obj: Obj, now: datetime) -> str:
    return age(_meta(obj).get("creationTimestamp"), now)


def pod_row(pod: Obj, now: datetime) -> list[Cell]:
    """The wide row of a pod: Name, Ready, Status, Restarts, Age, IP, Node, Nominated
    Node, Readiness Gates."""
    meta, spec, status = _meta(pod), pod.get("spec") or {}, pod.get("status") or {}
    ready, reason, restarts, last_restart = podprint.pod_summary(pod)
    restarts_cell = str(restarts)
    if restarts and last_restart is not None:
        restarts_cell = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"
    ips = status.get("podIPs") or []
    ip = (ips[0].get("ip") if ips else status.get("podIP")) or NONE
    return [
        meta.get("name", ""), ready, reason, restarts_cell, _created(pod, now), ip,
        spec.get("nodeName") or NONE, status.get("nominatedNodeName") or NONE,
        podprint.readiness_gates(pod),
    ]


def _node_address(node: Obj, kind: str) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == kind:
            return str(address.get("address", ""))
    return NONE


def _node_roles(node: Obj) -> str:
    roles: set[str] = set()
    for key, value in (_meta(node).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key.split("/", 1)[1]:
            roles.add(key.split("/", 1)[1])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or NONE


def node_row(node: Obj, now: datetime) -> list[Cell]:
    """The wide row of a node: Name, Status, Roles, Age, Version, Internal-IP, External-IP,
    OS-Image, Kernel-Version, Container-Runtime."""
    status, spec = node.get("status") or {}, node.get("spec") or {}
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    states = ["Ready" if ready[-1].get("status") == "True" else "NotReady"] if ready else [
        "Unknown"]
    if spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    info = status.get("nodeInfo") or {}
    return [
        _meta(node).get("name", ""), ",".join(states), _node_roles(node), _created(node, now),
        info.get("kubeletVersion", ""), _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"), info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _ports(ports: list[Obj]) -> str:
    pieces = []
    for p in ports:
        node_port = f":{p['nodePort']}" if p.get("nodePort") else ""
        pieces.append(f"{p.get('port')}{node_port}/{p.get('protocol', 'TCP')}")
    return ",".join(pieces) or NONE


def _external_ip(svc: Obj) -> str:
    spec = svc.get("spec") or {}
    external = list(spec.get("externalIPs") or [])
    kind = spec.get("type", "ClusterIP")
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or NONE
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    if kind != "LoadBalancer":
        return "<unknown>"
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    balancer = [i.get("ip") or i.get("hostname") or "" for i in ingress]
    return ",".join([b for b in balancer if b] + external) or "<pending>"


def service_row(svc: Obj, now: datetime) -> list[Cell]:
    """The wide row of a service: Name, Type, Cluster-IP, External-IP, Port(s), Age,
    Selector."""
    spec = svc.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [
        _meta(svc).get("name", ""), spec.get("type", ""), cluster_ips[0] if cluster_ips else NONE,
        _external_ip(svc), _ports(spec.get("ports") or []), _created(svc, now),
        format_labels(spec.get("selector")),
    ]


def format_endpoints(endpoints: Obj, limit: int = 3) -> str:
    """``10.0.0.1:80,10.0.0.2:80 + 2 more...`` as ``formatEndpoints`` prints it."""
    shown: list[str] = []
    total = 0
    for subset in endpoints.get("subsets") or []:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = [p.get("port") for p in subset.get("ports") or []] or [None]
        for port in ports:
            total += len(addresses)
            shown += [ip if port is None else _host_port(ip, port) for ip in addresses]
    text = ",".join(shown[:limit])
    if total > limit:
        return f"{text} + {total - limit} more..."
    return text or NONE


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def rc_row(rc: Obj, now: datetime) -> list[Cell]:
    """The wide row of a replication controller: Name, Desired, Current, Ready, Age,
    Containers, Images, Selector."""
    spec, status = rc.get("spec") or {}, rc.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [
        _meta(rc).get("name", ""), int(spec.get("replicas", 1)), int(status.get("replicas", 0)),
        int(status.get("readyReplicas", 0)), _created(rc, now),
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers), format_labels(spec.get("selector")),
    ]


def event_row(ev: Obj, now: datetime) -> list[Cell]:
    """The wide row of an event: Last Seen, Type, Reason, Object, Subobject, Source,
    Message, First Seen, Count, Name."""
    first = age(ev.get("firstTimestamp") or ev.get("eventTime"), now)
    last = age(ev["lastTimestamp"], now) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 1
    if ev.get("series"):
        last = age(ev["series"].get("lastObservedTime"), now)
        count = ev["series"].get("count", count)
    involved, source = ev.get("involvedObject") or {}, ev.get("source") or {}
    target = str(involved.get("kind", "")).lower()
    if involved.get("name"):
        target += "/" + involved["name"]
    component = source.get("component") or ev.get("reportingComponent", "")
    instance = source.get("host") or ev.get("reportingInstance", "")
    return [
        last, ev.get("type", ""), ev.get("reason", ""), target, involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        str(ev.get("message", "")).strip(), first, int(count), _meta(ev).get("name", ""),
    ]


def namespace_row(ns: Obj, now: datetime) -> list[Cell]:
    """The row of a namespace: Name, Status, Age."""
    return [_meta(ns).get("name", ""), (ns.get("status") or {}).get("phase", ""),
            _created(ns, now)]


def configmap_row(cm: Obj, now: datetime) -> list[Cell]:
    """The row of a config map: Name, Data (number of keys), Age."""
    data = len(cm.get("data") or {}) + len(cm.get("binaryData") or {})
    return [_meta(cm).get("name", ""), data, _created(cm, now)]


def endpoints_row(ep: Obj, now: datetime) -> list[Cell]:
    """The row of an Endpoints object: Name, Endpoints, Age."""
    return [_meta(ep).get("name", ""), format_endpoints(ep), _created(ep, now)]


def lease_row(lease: Obj, now: datetime) -> list[Cell]:
    """The row of a lease: Name, Holder (``spec.holderIdentity``, empty when unset), Age."""
    holder = (lease.get("spec") or {}).get("holderIdentity") or ""
    return [_meta(lease).get("name", ""), holder, _created(lease, now)]


def default_row(obj: Obj, now: datetime) -> list[Cell]:
    """The fallback row of any object: Name, Age."""
    return [_meta(obj).get("name", ""), _created(obj, now)]


