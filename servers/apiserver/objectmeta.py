"""Object metadata the server owns: set on create, kept on update, checked against the URL.

uid, creationTimestamp, generation (for the kinds that keep one: ``kinds.tracks_generation``),
deletionTimestamp and deletionGracePeriodSeconds are the server's; a client's values for
them are ignored on create. On update the name must be the URL's (400, as kube's
``checkName``), a PUT's uid is a precondition (409) and a patch may not change the uid (422,
immutable). The namespace comes from the URL (a body that names another one is a
BadRequest), and a /status write changes only status (plus labels and annotations, as
Kubernetes allows). metadata.managedFields (server-side apply's
record, see apply.py) is kept across writes that do not send their own.
"""

from __future__ import annotations

from typing import Any

from servers.apimachinery import errors, field
from servers.apimachinery.meta import Obj, new_uid, now_rfc3339
from servers.apimachinery.validation import FIELD_IMMUTABLE
from servers.apiserver import kinds
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


def check_name(target: Target, meta: Obj) -> None:
    """An update's object must carry the URL's name (kube's ``checkName``)."""
    name = meta.get("name")
    if name != target.name:
        shown = "" if name is None else name
        raise errors.BadRequest(f"the name of the object ({shown}) does not match the name on "
                                f"the URL ({target.name})")


def check_uid_precondition(target: Target, current: Obj, uid: Any) -> None:
    """409 when a PUT names a uid other than the stored object's (a precondition)."""
    stored = current["metadata"].get("uid")
    if uid is not None and uid != stored:
        raise errors.Conflict(target.resource.plural, target.name,
                              f"Precondition failed: UID in precondition: {uid}, UID in object "
                              f"meta: {stored}", group=target.resource.group)


def check_uid_unchanged(target: Target, current: Obj, meta: Obj) -> None:
    """422 when a patch changes the uid (``ValidateObjectMetaUpdate``: immutable)."""
    uid, stored = meta.get("uid"), current["metadata"].get("uid")
    if uid not in (None, "") and uid != stored:
        raise errors.Invalid(target.resource.kind, target.name, [
            field.invalid("metadata.uid", uid, FIELD_IMMUTABLE)], group=target.resource.group)


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
    if kinds.tracks_generation(target.resource):
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
