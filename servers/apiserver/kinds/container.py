"""Containers: defaults and validation of ``spec.containers[*]`` (and init containers).

Defaults follow k8s.io/kubernetes pkg/apis/core/v1/defaults.go (``SetDefaults_Container``,
``_ContainerPort``, ``_Probe``, ``_HTTPGetAction``, ``_ObjectFieldSelector``); rules and
messages follow pkg/apis/core/validation/validation.go (``validateContainers``,
``validateContainerPorts``, ``ValidateEnv``, ``ValidateVolumeMounts``,
``ValidateResourceRequirements``) at v1.32. Environment variable names use the relaxed rule
that 1.32 enables by default.
"""

from __future__ import annotations

from typing import Any

from servers.apimachinery import field, validation
from servers.apimachinery.field import Cause
from servers.apiserver.kinds._common import (
    QUANTITY_MESSAGE,
    Obj,
    as_dict,
    dicts,
    duplicates,
    nonnegative,
    one_of,
    parse_quantity,
    port_name_messages,
    port_num_or_name,
    port_number,
    protocol,
)

PULL_POLICIES = ("Always", "IfNotPresent", "Never")
MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
_PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                   "failureThreshold": 3}
_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_ENV_NAME = ("a valid environment variable name must consist only of printable ASCII "
             "characters other than '='")


def image_tag(image: str) -> str:
    """The tag of an image reference: ``latest`` when it has neither tag nor digest."""
    if "@" in image:
        return ""
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _default_probe(probe: Obj) -> None:
    for key, value in _PROBE_DEFAULTS.items():
        probe.setdefault(key, value)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def default_container(container: Obj) -> None:
    """Apply Kubernetes' container defaults in place."""
    if not container.get("imagePullPolicy"):
        tag = image_tag(str(container.get("image") or ""))
        container["imagePullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in dicts(container.get("ports")):
        port.setdefault("protocol", "TCP")
    for env in dicts(container.get("env")):
        ref = as_dict(as_dict(env.get("valueFrom")).get("fieldRef"))
        if ref:
            ref.setdefault("apiVersion", "v1")
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(kind), dict):
            _default_probe(container[kind])


def _ports(container: Obj, path: str) -> list[Cause]:
    ports = dicts(container.get("ports"))
    causes: list[Cause] = []
    for i, port in enumerate(ports):
        at = f"{path}.ports[{i}]"
        name = port.get("name")
        if name:
            causes += [field.invalid(f"{at}.name", name, m) for m in port_name_messages(name)]
        if not port.get("containerPort"):
            causes.append(field.required(f"{at}.containerPort"))
        else:
            causes += port_number(f"{at}.containerPort", port["containerPort"])
        if port.get("hostPort"):
            causes += port_number(f"{at}.hostPort", port["hostPort"])
        causes += protocol(f"{at}.protocol", port.get("protocol"))
    return causes + duplicates(ports, "name", f"{path}.ports")


def _env(container: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, env in enumerate(dicts(container.get("env"))):
        at = f"{path}.env[{i}]"
        name = env.get("name")
        if not name:
            causes.append(field.required(f"{at}.name"))
        elif any(ord(ch) < 32 or ord(ch) > 126 or ch == "=" for ch in name):
            causes.append(field.invalid(f"{at}.name", name, _ENV_NAME))
        if env.get("value") and env.get("valueFrom"):
            causes.append(field.invalid(f"{at}.valueFrom", "",
                                        "may not be specified when `value` is not empty"))
    return causes


def _volume_mounts(container: Obj, path: str, volumes: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, mount in enumerate(dicts(container.get("volumeMounts"))):
        at = f"{path}.volumeMounts[{i}]"
        name, mount_path = mount.get("name"), mount.get("mountPath")
        if not name:
            causes.append(field.required(f"{at}.name"))
        elif name not in volumes:
            causes.append(field.not_found(f"{at}.name", name))
        if not mount_path:
            causes.append(field.required(f"{at}.mountPath"))
        elif mount_path in seen:
            causes.append(field.invalid(f"{at}.mountPath", mount_path, "must be unique"))
        seen.add(mount_path or "")
    return causes


def _probes(container: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(kind)
        if not isinstance(probe, dict):
            continue
        handlers = [h for h in _HANDLERS if probe.get(h) is not None]
        if not handlers:
            causes.append(field.required(f"{path}.{kind}", "must specify a handler type"))
        elif len(handlers) > 1:
            causes.append(field.forbidden(f"{path}.{kind}.{handlers[1]}",
                                          "may not specify more than 1 handler type"))
        http = as_dict(probe.get("httpGet"))
        if http:
            causes += port_num_or_name(f"{path}.{kind}.httpGet.port", http.get("port"))
        for key in _PROBE_DEFAULTS:
            causes += nonnegative(f"{path}.{kind}.{key}", probe.get(key))
        if kind != "readinessProbe" and probe.get("successThreshold", 1) != 1:
            causes.append(field.invalid(f"{path}.{kind}.successThreshold",
                                        probe["successThreshold"], "must be 1"))
    return causes


def _quantities(values: Obj, path: str) -> tuple[dict[str, Any], list[Cause]]:
    parsed: dict[str, Any] = {}
    causes: list[Cause] = []
    for name, raw in sorted(values.items()):
        amount = parse_quantity(raw)
        if amount is None:
            causes.append(field.invalid(f"{path}[{name}]", raw, QUANTITY_MESSAGE))
        elif amount < 0:
            causes.append(field.invalid(f"{path}[{name}]", raw,
                                        "must be greater than or equal to 0"))
        else:
            parsed[name] = amount
    return parsed, causes


def validate_resources(resources: Obj, path: str) -> list[Cause]:
    """Quantities must parse and be non-negative; a request may not exceed its limit."""
    limits, causes = _quantities(as_dict(resources.get("limits")), f"{path}.limits")
    requests, more = _quantities(as_dict(resources.get("requests")), f"{path}.requests")
    causes += more
    for name, amount in requests.items():
        if name in limits and amount > limits[name]:
            raw_limit = resources["limits"][name]
            causes.append(field.invalid(
                f"{path}.requests[{name}]", resources["requests"][name],
                f"must be less than or equal to {name} limit of {raw_limit}"))
    return causes


def _image(container: Obj, path: str) -> list[Cause]:
    image = container.get("image")
    if not image:
        return [field.required(f"{path}.image")]
    if image.strip() != image:
        return [field.invalid(f"{path}.image", image,
                              "must not have leading or trailing whitespace")]
    return []


def validate_container(container: Obj, path: str, volumes: set[str]) -> list[Cause]:
    """Everything about one container except name uniqueness across the pod."""
    name = container.get("name")
    causes = [field.required(f"{path}.name")] if not name else [
        field.invalid(f"{path}.name", name, m) for m in validation.is_dns1123_label(name)]
    return [
        *causes,
        *_image(container, path),
        *one_of(f"{path}.imagePullPolicy", container.get("imagePullPolicy"), PULL_POLICIES),
        *one_of(f"{path}.terminationMessagePolicy", container.get("terminationMessagePolicy"),
                MESSAGE_POLICIES),
        *_ports(container, path),
        *_env(container, path),
        *_volume_mounts(container, path, volumes),
        *_probes(container, path),
        *validate_resources(as_dict(container.get("resources")), f"{path}.resources"),
    ]
