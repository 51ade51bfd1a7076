"""Admission: what happens to an object between decoding and storage — defaults, validation.

A package of plugins, one module each, run in kube-apiserver's order; ``Admission`` holds
those that keep state for one registry (today ``priority``: the Priority plugin and its view
of PriorityClasses), and the registry awaits ``admit_create`` / calls ``admit_update`` before
the functions below.

The registry also calls the four functions below for every write. Metadata rules (names, labels,
annotations, finalizers) are the same for every kind and live here; each kind's own defaults
and rules live in `servers.apiserver.kinds`; under RBAC, writes of roles and bindings also pass
`servers.apiserver.authz.escalation` (no granting what one does not hold), and under the Node
authorizer every write and delete by a node passes `servers.apiserver.authz.noderestriction`
(its own Node, pods bound to it, its own Lease).
"""

from __future__ import annotations

from servers.apimachinery import field, validation
from servers.apimachinery.meta import Obj
from servers.apiserver import kinds
from servers.apiserver.admission import certificates, defaulttolerationseconds, priority
from servers.apiserver.admission.serviceaccount import ServiceAccountAdmission
from servers.apiserver.authz import escalation, noderestriction
from servers.apiserver.resources import CERTIFICATES, SCHEDULING, Resource
from servers.apiserver.storage import interface as st
from servers.apiserver.watchcache import WatchCache


class Admission:
    """The admission plugins of one registry that keep state or settings (Priority,
    DefaultTolerationSeconds), in kube's order."""

    def __init__(self, storage: st.Storage, watch_cache: WatchCache) -> None:
        self.priority_classes = priority.PriorityClasses(storage, watch_cache)
        # The apiserver's --default-*-toleration-seconds flags replace this at start.
        self.toleration_seconds = defaulttolerationseconds.Settings()
        # ServiceAccount: set by the apiserver when it signs service account tokens.
        self.service_account: ServiceAccountAdmission | None = None

    async def admit_create(self, resource: Resource, obj: Obj) -> None:
        """Mutate or refuse (403) a new object, after its defaults and before validation."""
        if resource.group == "" and resource.plural == "pods":
            if self.service_account is not None:
                await self.service_account.admit_pod_create(obj)
            await self.priority_classes.start()
            await priority.admit_pod_create(self.priority_classes, obj)
            defaulttolerationseconds.admit_pod_create(self.toleration_seconds, obj)
        elif resource.group == SCHEDULING and resource.plural == "priorityclasses":
            await self.priority_classes.start()
            priority.validate_class(self.priority_classes, obj, None)
        elif resource.group == CERTIFICATES:
            certificates.admit_create(obj)

    def admit_update(self, resource: Resource, new: Obj, old: Obj, subresource: str = ""
                     ) -> None:
        """Mutate or refuse (403) an update of the main resource (subresources pass, but
        for CertificateSigningRequests' /approval and /status)."""
        if resource.group == CERTIFICATES:
            certificates.admit_update(new, old, subresource)
        if subresource:
            return
        if resource.group == "" and resource.plural == "pods":
            priority.admit_pod_update(new, old)
        elif resource.group == SCHEDULING and resource.plural == "priorityclasses":
            priority.validate_class(self.priority_classes, new, old)

    async def close(self) -> None:
        await self.priority_classes.close()


def prepare_create(resource: Resource, obj: Obj) -> None:
    kinds.default(resource, obj)


def prepare_update(resource: Resource, new: Obj, old: Obj) -> None:
    kinds.default(resource, new, old)


def validate_create(resource: Resource, obj: Obj) -> list[field.Cause]:
    noderestriction.check(resource, "CREATE", obj, None)  # 403s come before any 422
    escalation.check(resource, obj)  # RBAC objects under RBAC
    return validate_meta(resource, obj["metadata"]) + kinds.validate(resource, obj)


def validate_update(resource: Resource, new: Obj, old: Obj, subresource: str = ""
                    ) -> list[field.Cause]:
    noderestriction.check(resource, "UPDATE", new, old, subresource)
    escalation.check(resource, new)
    return validate_meta(resource, new["metadata"]) + kinds.validate(resource, new, old)


def validate_delete(resource: Resource, obj: Obj) -> None:
    """Raise Forbidden when the requester may not delete the stored ``obj``."""
    noderestriction.check(resource, "DELETE", None, obj)
    if resource.group == SCHEDULING and resource.plural == "priorityclasses":
        priority.validate_delete(obj)


def validate_meta(resource: Resource, meta: Obj) -> list[field.Cause]:
    causes: list[field.Cause] = []
    rule = kinds.name_rule(resource)
    name, prefix = meta.get("name"), meta.get("generateName")
    if not isinstance(name, str) or not name:
        if name is not None and not isinstance(name, str):
            causes.append(field.invalid("metadata.name", name, "must be a string"))
    else:
        causes += [field.invalid("metadata.name", name, m) for m in rule(name, False)]
    if prefix is not None and not isinstance(prefix, str):
        causes.append(field.invalid("metadata.generateName", prefix, "must be a string"))
    elif prefix and not name:
        causes += [field.invalid("metadata.generateName", prefix, m) for m in rule(prefix, True)]
    causes += validation.validate_labels(meta.get("labels"))
    causes += validation.validate_annotations(meta.get("annotations"))
    causes += validation.validate_finalizers(meta.get("finalizers"))
    return causes
