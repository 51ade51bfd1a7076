"""The ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount/admission.go).

On a pod's create: ``spec.serviceAccountName`` defaults to ``default``; the account must exist
(403 ``error looking up service account NS/NAME: serviceaccount "NAME" not found``; the
``default`` one is asked for up to ten times, a tenth of a second apart, since the
serviceaccount controller makes it moments after its namespace); and unless
``automountServiceAccountToken`` says false (the pod's, else the account's), the pod gets
the projected volume ``kube-api-access-XXXXX`` (a bound token of 3607 s, the
``kube-root-ca.crt`` ConfigMap's ``ca.crt`` and the namespace from the downward API) mounted
read-only at /var/run/secrets/kubernetes.io/serviceaccount in every container that has
nothing mounted there. Mirror pods are left alone (kube refuses those naming an account).

km runs the plugin only when the apiserver signs service account tokens
(--service-account-signing-key-file): without a signer no pod could get its token.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from servers.apimachinery import errors

Obj = dict[str, Any]
#: ``lookup(namespace, name)``: the ServiceAccount, or raises ``errors.NotFound``.
Lookup = Callable[[str, str], Awaitable[Obj]]

DEFAULT_NAME = "default"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
#: kube's WarnOnlyBoundTokenExpirationSeconds: the apiserver may extend such tokens.
TOKEN_EXPIRATION_SECONDS = 3607
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
DEFAULT_ATTEMPTS = 10
# utilrand.String's alphabet: no vowels, no confusable digits.
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class ServiceAccountAdmission:
    """The plugin over a ServiceAccount lookup; ``retry_seconds`` spaces the default's tries."""

    def __init__(self, lookup: Lookup, *, retry_seconds: float = 0.1) -> None:
        self.lookup = lookup
        self.retry_seconds = retry_seconds

    async def admit_pod_create(self, pod: Obj) -> None:
        """Default the account, refuse a missing one, add and mount the token volume."""
        meta = pod.setdefault("metadata", {})
        spec = pod.setdefault("spec", {})
        if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
            return
        name = spec.get("serviceAccountName") or DEFAULT_NAME
        spec["serviceAccountName"] = name
        namespace = str(meta.get("namespace", ""))
        account = await self._account(namespace, name, pod)
        if should_automount(account, pod):
            mount_token(pod)

    async def _account(self, namespace: str, name: str, pod: Obj) -> Obj:
        attempts = DEFAULT_ATTEMPTS if name == DEFAULT_NAME else 1
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.retry_seconds)
            try:
                return await self.lookup(namespace, name)
            except errors.NotFound:
                continue
        pod_name = pod["metadata"].get("name") or pod["metadata"].get("generateName", "")
        raise errors.Forbidden("pods", pod_name, f"error looking up service account "
                               f'{namespace}/{name}: serviceaccount "{name}" not found')


def should_automount(account: Obj, pod: Obj) -> bool:
    """The pod's automountServiceAccountToken, else the account's, else true."""
    for owner in (pod.get("spec") or {}, account):
        value = owner.get("automountServiceAccountToken")
        if isinstance(value, bool):
            return value
    return True


def token_volume(name: str) -> Obj:
    """kube's projected token volume (admission.go TokenVolumeSource)."""
    return {"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                                 "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIGMAP,
                       "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}}


def mount_token(pod: Obj, rng: random.Random | None = None) -> None:
    """Add the token volume (unless one is there) and mount it where nothing else is."""
    spec = pod["spec"]
    volumes = spec.setdefault("volumes", [])
    names = {v.get("name") for v in volumes if isinstance(v, dict)}
    existing = next((n for n in names if isinstance(n, str) and n.startswith(VOLUME_PREFIX)),
                    None)
    volume = existing
    if volume is None:  # no other volume can have this name: it would be the existing one
        pick = rng or random.SystemRandom()
        volume = VOLUME_PREFIX + "".join(pick.choice(_ALPHABET) for _ in range(5))
    mounted = False
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            mounts = container.setdefault("volumeMounts", [])
            if any(m.get("mountPath") == MOUNT_PATH for m in mounts if isinstance(m, dict)):
                continue
            mounts.append({"name": volume, "readOnly": True, "mountPath": MOUNT_PATH})
            mounted = True
    if mounted and existing is None:
        volumes.append(token_volume(volume))
    if not volumes:
        del spec["volumes"]
