"""The ``/scale`` subresource of every scalable kind: one mapping to ``autoscaling/v1`` Scale.

Kube gives each scalable kind its own ``ScaleREST`` (pkg/registry/core/replicationcontroller/
storage, pkg/registry/apps/{deployment,replicaset,statefulset}/storage); they differ only in
how ``status.selector`` is written: a ReplicationController's selector is a plain map
(``labels.SelectorFromSet``), the apps kinds' a ``metav1.LabelSelector``
(``LabelSelectorAsSelector(...).String()``). ``spec.replicas`` and ``status.replicas`` map one
to one. A write of the Scale changes only the object's ``spec.replicas``.
"""

from __future__ import annotations

from servers.apimachinery import errors, field, selectors
from servers.apimachinery.validation import expect_type
from servers.apiserver.kinds._common import Obj, as_dict

SCALE_API_VERSION = "autoscaling/v1"
_META_KEPT = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
#: (group, kind) of every kind with a ``/scale``, and whether its selector is a plain map.
SCALABLE: dict[tuple[str, str], bool] = {
    ("", "ReplicationController"): True,
    ("apps", "Deployment"): False,
    ("apps", "ReplicaSet"): False,
    ("apps", "StatefulSet"): False,
}


def _selector_text(selector: object, plain_map: bool) -> str:
    try:
        if plain_map:
            return str(selectors.label_selector_from_dict(as_dict(selector)))
        return str(selectors.label_selector_from_object(as_dict(selector)))
    except errors.StatusError:
        return ""


def to_scale(group: str, kind: str, obj: Obj) -> Obj:
    """The Scale view of a scalable object (``group``/``kind`` say which mapping)."""
    meta, spec = as_dict(obj.get("metadata")), as_dict(obj.get("spec"))
    plain = SCALABLE.get((group, kind), True)
    return {
        "kind": "Scale", "apiVersion": SCALE_API_VERSION,
        "metadata": {k: meta[k] for k in _META_KEPT if k in meta},
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": as_dict(obj.get("status")).get("replicas", 0),
                   "selector": _selector_text(spec.get("selector"), plain)},
    }


def apply_scale(obj: Obj, given: object, name: str) -> Obj:
    """Write a (changed) Scale back onto ``obj``: its ``spec.replicas`` and, when the Scale
    names one, its resourceVersion as the precondition. 422 for a negative count."""
    scale: Obj = expect_type(given, (dict,), "Scale")
    spec = expect_type(scale.get("spec"), (dict, type(None)), "Scale.spec") or {}
    meta = expect_type(scale.get("metadata"), (dict, type(None)), "Scale.metadata") or {}
    replicas = spec.get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.Invalid("Scale", name, [field.invalid(
            "spec.replicas", replicas, "must be greater than or equal to 0")],
            group="autoscaling")
    obj.setdefault("spec", {})["replicas"] = replicas
    if meta.get("resourceVersion"):
        obj["metadata"]["resourceVersion"] = meta["resourceVersion"]
    return obj
