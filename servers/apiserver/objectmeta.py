"""Object metadata the server owns: set on create, kept on update, checked against the URL.

uid, creationTimestamp, generation, deletionTimestamp and deletionGracePeriodSeconds are the
server's; a client's values for them are ignored. The namespace comes from the URL (a body
that names another one is a BadRequest), and a /status write changes only status (plus
labels and annotations, as Kubernetes allows). metadata.managedFields (server-side apply's
record, see apply.py) is kept across writes that do not send their own.
"""

from __future__ import annotations

from typing import Any

from servers.apimachinery import errors, field
from servers.apimachinery.meta import Obj, new_uid, now_rfc3339
from servers.apiserver.routing import Target

SERVER_OWNED = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                "generation")


def require_meta(obj: Any) -> Obj:
    if not isinstance(obj, dict):
        raise errors.BadRequest("the request body is not a JSON object")
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise errors.BadRequest("metadata must be a JSON object")
    return meta


def check_namespace(target: Target, meta: Obj) -> None:
    if not target.resource.namespaced:
        meta.pop("namespace", None)
        return
    given = meta.get("namespace")
    if given and given != target.namespace:
        raise errors.BadRequest("the namespace of the provided object does not match the "
                                "namespace sent on the request")
    meta["namespace"] = target.namespace


def prepare_for_create(target: Target, obj: Obj) -> Obj:
    meta = require_meta(obj)
    check_namespace(target, meta)
    if target.resource.namespaced and not target.namespace:
        raise errors.BadRequest("a namespace is required to create " + target.resource.plural)
    obj["apiVersion"], obj["kind"] = target.resource.api_version, target.resource.kind
    if not meta.get("name") and not meta.get("generateName"):
        raise errors.Invalid(target.resource.kind, "", [
            field.required("metadata.name", "name or generateName is required")])
    for key in (*SERVER_OWNED, "resourceVersion", "selfLink"):
        meta.pop(key, None)
    meta["uid"] = new_uid()
    meta["creationTimestamp"] = now_rfc3339()
    meta["generation"] = 1
    return meta


def keep_server_meta(current: Obj, new: Obj, target: Target) -> None:
    old, meta = current["metadata"], new["metadata"]
    for key in SERVER_OWNED:
        if key in old:
            meta[key] = old[key]
        else:
            meta.pop(key, None)
    meta["name"] = target.name
    if "managedFields" not in meta and "managedFields" in old:
        meta["managedFields"] = old["managedFields"]  # kept unless the writer replaces them
    meta.pop("selfLink", None)


def keep_all_but_status(current: Obj, new: Obj) -> Obj:
    """A /status write changes status (and labels/annotations, as Kubernetes allows) only."""
    result = {k: v for k, v in current.items() if k != "status"}
    if "status" in new:
        result["status"] = new["status"]
    meta = dict(current["metadata"])
    for key in ("labels", "annotations"):
        if key in new["metadata"]:
            meta[key] = new["metadata"][key]
    meta["resourceVersion"] = new["metadata"].get("resourceVersion")
    result["metadata"] = meta
    return result
