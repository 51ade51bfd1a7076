"""A container's environment as the kubelet makes it, and ``$(VAR)`` expansion.

Order as kube's ``makeEnvironmentVariables`` (kubernetes ``pkg/kubelet/kubelet_pods.go``):
``envFrom`` (ConfigMaps and Secrets, with ``prefix``), then ``env`` in order (values expanded
from what came before and the service variables; ``$$`` escapes; an unknown ``$(X)`` stays as
written — ``third_party/forked/golang/expansion``), then the service variables
(``pkg/kubelet/envvars/envvars.go``). A missing, non-optional source is a ``ConfigError``:
the container waits with CreateContainerConfigError and that message.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from servers.apimachinery.quantity import parse_quantity

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj

__all__ = ["ConfigError", "Sources", "expand", "make_env", "service_env"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_FIELD = re.compile(r"metadata\.(labels|annotations)\['(.+)'\]")


class ConfigError(Exception):
    """The container cannot be configured (its waiting message)."""


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """``$(VAR)`` references replaced from ``lookup``; ``$$`` is a ``$``; unknown stay."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    value = lookup(name)
                    out.append(f"$({name})" if value is None else value)
                    i = end + 1
                    continue
        out.append(char)
        i += 1
    return "".join(out)


def _prefix(name: str) -> str:
    upper = re.sub(r"[-.]", "_", name.upper())
    return f"_{upper}" if upper[:1].isdigit() else upper


def service_env(services: list[Obj]) -> dict[str, str]:
    """Docker-links-style variables of the Services with a ClusterIP."""
    env: dict[str, str] = {}
    for svc in services:
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        ports = spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        pre = _prefix(svc["metadata"]["name"])
        env[f"{pre}_SERVICE_HOST"] = ip
        env[f"{pre}_SERVICE_PORT"] = str(ports[0].get("port"))
        for port in ports:
            if port.get("name"):
                env[f"{pre}_SERVICE_PORT_{_prefix(port['name'])}"] = str(port.get("port"))
        first = ports[0]
        proto = (first.get("protocol") or "TCP").lower()
        env[f"{pre}_PORT"] = f"{proto}://{ip}:{first.get('port')}"
        for port in ports:
            proto = (port.get("protocol") or "TCP")
            base = f"{pre}_PORT_{port.get('port')}_{proto.upper()}"
            env[base] = f"{proto.lower()}://{ip}:{port.get('port')}"
            env[f"{base}_PROTO"] = proto.lower()
            env[f"{base}_PORT"] = str(port.get("port"))
            env[f"{base}_ADDR"] = ip
    return env


class Sources:
    """What env refers to, fetched beforehand: ConfigMaps and Secrets by name (``None``:
    not found), the Services for links, the node's allocatable and the pod's IPs, and the
    service account tokens of projected volumes by (audience, expirationSeconds)."""

    def __init__(self, configmaps: Mapping[str, Obj | None], secrets: Mapping[str, Obj | None],
                 services: list[Obj], *, host_ip: str = "", pod_ip: str = "",
                 allocatable: Mapping[str, str] | None = None) -> None:
        self.configmaps = configmaps
        self.secrets = secrets
        self.services = services
        self.host_ip = host_ip
        self.pod_ip = pod_ip
        self.allocatable = allocatable or {}
        self.tokens: Mapping[tuple[str, int], str] = {}

    def configmap_data(self, namespace: str, name: str, optional: bool) -> dict[str, str] | None:
        obj = self.configmaps.get(name)
        if obj is None:
            if optional:
                return None
            raise ConfigError(f'configmap "{name}" not found')
        return {**(obj.get("data") or {}),
                **{k: base64.b64decode(v).decode("utf-8", "replace")
                   for k, v in (obj.get("binaryData") or {}).items()}}

    def secret_data(self, namespace: str, name: str, optional: bool) -> dict[str, str] | None:
        obj = self.secrets.get(name)
        if obj is None:
            if optional:
                return None
            raise ConfigError(f'secret "{name}" not found')
        return {k: base64.b64decode(v).decode("utf-8", "replace")
                for k, v in (obj.get("data") or {}).items()}


def field_value(pod: Obj, path: str, sources: Sources) -> str:
    """A downward-API ``fieldRef`` value (kube's ``podFieldSelectorRuntimeValue``)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    simple = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
              "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
              "spec.serviceAccountName": spec.get("serviceAccountName"),
              "status.hostIP": sources.host_ip, "status.hostIPs": sources.host_ip,
              "status.podIP": sources.pod_ip, "status.podIPs": sources.pod_ip}
    if path in simple:
        return str(simple[path] or "")
    match = _FIELD.fullmatch(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise ConfigError(f"unsupported fieldRef path {path!r}")


def resource_value(pod: Obj, container_name: str, ref: Obj, sources: Sources) -> str:
    """A ``resourceFieldRef`` value: the limit (node allocatable when unset) or request,
    divided by ``divisor`` and rounded up (kube's ``ExtractContainerResourceValue``)."""
    resource = ref.get("resource", "")
    name = ref.get("containerName") or container_name
    spec = pod.get("spec") or {}
    container = next((c for c in [*(spec.get("containers") or ()),
                                  *(spec.get("initContainers") or ())]
                      if c.get("name") == name), {})
    kind, _, what = resource.partition(".")
    amounts = ((container.get("resources") or {}).get(kind) or {})
    amount = amounts.get(what)
    if amount is None:
        amount = sources.allocatable.get(what, "0") if kind == "limits" else "0"
    divisor = parse_quantity(ref.get("divisor") or "1")
    if divisor <= 0:
        raise ConfigError(f"invalid divisor for {resource}")
    return str(math.ceil(parse_quantity(amount) / divisor))


def make_env(pod: Obj, container: Obj, sources: Sources) -> dict[str, str]:
    """The container's environment, in kube's order; raises ``ConfigError``."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    services = service_env(sources.services) if (pod.get("spec") or {}).get(
        "enableServiceLinks", True) is not False else service_env(
        [s for s in sources.services if s["metadata"].get("namespace") == "default"
         and s["metadata"]["name"] == "kubernetes"])
    env: dict[str, str] = {}
    for source in container.get("envFrom") or ():
        prefix = source.get("prefix") or ""
        if "configMapRef" in source:
            ref = source["configMapRef"]
            data = sources.configmap_data(namespace, ref.get("name", ""),
                                          bool(ref.get("optional")))
        else:
            ref = source.get("secretRef") or {}
            data = sources.secret_data(namespace, ref.get("name", ""), bool(ref.get("optional")))
        for key, value in (data or {}).items():
            env[prefix + key] = value

    def lookup(name: str) -> str | None:
        return env.get(name, services.get(name))

    for var in container.get("env") or ():
        name = var.get("name", "")
        source = var.get("valueFrom")
        if source is None:
            env[name] = expand(var.get("value") or "", lookup)
            continue
        value = _value_from(pod, container, source, namespace, sources)
        if value is not None:
            env[name] = value
    for key, value in services.items():
        env.setdefault(key, value)
    return env


def _value_from(pod: Obj, container: Obj, source: Obj, namespace: str,
                sources: Sources) -> str | None:
    if "fieldRef" in source:
        return field_value(pod, source["fieldRef"].get("fieldPath", ""), sources)
    if "resourceFieldRef" in source:
        return resource_value(pod, container.get("name", ""), source["resourceFieldRef"],
                              sources)
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        kind, data = "ConfigMap", sources.configmap_data(namespace, ref.get("name", ""),
                                                         bool(ref.get("optional")))
    else:
        ref = source.get("secretKeyRef") or {}
        kind, data = "Secret", sources.secret_data(namespace, ref.get("name", ""),
                                                   bool(ref.get("optional")))
    if data is None:
        return None
    key = ref.get("key", "")
    if key not in data:
        if ref.get("optional"):
            return None
        raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{ref.get('name')}")
    return data[key]
