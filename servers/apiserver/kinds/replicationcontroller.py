"""ReplicationController: defaults and validation.

Kubernetes references (k8s.io/kubernetes at v1.32): ``SetDefaults_ReplicationController``
(selector and labels default to the template's labels, replicas to 1), the template's pod
defaults, ``rcStrategy.PrepareForCreate`` (status starts empty) and
``ValidateReplicationControllerSpec`` / ``ValidatePodTemplateSpecForRC`` (a non-empty selector
that matches the template's labels, restartPolicy Always, no activeDeadlineSeconds).
"""

from __future__ import annotations

from servers.apimachinery import field, validation
from servers.apimachinery.field import Cause
from servers.apiserver.kinds._common import Obj, as_dict, nonnegative
from servers.apiserver.kinds.podspec import default_pod_spec, validate_pod_spec


def default(rc: Obj, old: Obj | None = None) -> None:
    """Apply ReplicationController defaults in place; a new one starts with an empty status."""
    spec = rc.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    template = spec.get("template")
    labels = as_dict(as_dict(as_dict(template).get("metadata")).get("labels"))
    if labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = rc.setdefault("metadata", {})
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    spec.setdefault("replicas", 1)
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])
    if old is None:
        rc["status"] = {"replicas": 0}


def _template(spec: Obj) -> list[Cause]:
    template = spec.get("template")
    if not isinstance(template, dict):
        return [field.required("spec.template")]
    labels = as_dict(as_dict(template.get("metadata")).get("labels"))
    selector = as_dict(spec.get("selector"))
    causes: list[Cause] = []
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        causes.append(field.invalid("spec.template.metadata.labels", labels,
                                    "`selector` does not match template `labels`"))
    causes += validation.validate_labels(labels, "spec.template.metadata.labels")
    pod_spec = as_dict(template.get("spec"))
    causes += validate_pod_spec(pod_spec, "spec.template.spec")
    policy = pod_spec.get("restartPolicy")
    if policy and policy != "Always":
        causes.append(field.not_supported("spec.template.spec.restartPolicy", policy,
                                          ["Always"]))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        causes.append(field.forbidden("spec.template.spec.activeDeadlineSeconds",
                                      "activeDeadlineSeconds in ReplicationController is not "
                                      "Supported"))
    return causes


def validate(rc: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateReplicationControllerSpec`` (the same rules on create and update)."""
    spec = as_dict(rc.get("spec"))
    selector = spec.get("selector")
    causes = [field.required("spec.selector")] if not selector else []
    return [
        *causes,
        *validation.validate_labels(selector, "spec.selector"),
        *nonnegative("spec.replicas", spec.get("replicas")),
        *nonnegative("spec.minReadySeconds", spec.get("minReadySeconds")),
        *_template(spec),
    ]
