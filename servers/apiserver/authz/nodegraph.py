"""The Node authorizer's graph: which node may read which object, kept current from pods.

    node <- pod                      a pod bound to the node (spec.nodeName)
    node <- pod <- secret            a secret the pod uses (volumes, env, envFrom,
                                     imagePullSecrets, projected sources, volume secretRefs)
    node <- pod <- configmap         a configmap the pod uses (volumes, env, envFrom, projected)
    node <- pod <- serviceaccount    spec.serviceAccountName
    node <- pod <- pvc               persistentVolumeClaim volumes, ephemeral volumes

Pods not bound to a node add nothing. ``NodeGraph`` is pure: ``put``/``remove`` a pod, ask
``related(node, kind, namespace, name)``; ``feed`` is the ``Mirror`` that keeps one current
by listing pods and following their watch over the registry's watch cache (no storage read
per request), as kube's graph populator follows the pod informer. Secrets are indexed by name
although km serves no secrets yet, so the rule holds the day they arrive.
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/plugin/pkg/auth/authorizer/node/graph.go
and ``VisitPodSecretNames``/``VisitPodConfigmapNames`` in pkg/api/v1/pod/util.go.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from servers.apiserver import resources
from servers.apiserver.mirror import Mirror
from servers.apiserver.routing import Target

if TYPE_CHECKING:
    from servers.apiserver.registry import Registry

Obj = dict[str, Any]
Ref = tuple[str, str, str]  # (kind, namespace, name); kind as the authorizer names it
PodKey = tuple[str, str]  # (namespace, name)
SECRET, CONFIGMAP, SERVICEACCOUNT, PVC = ("secret", "configmap", "serviceaccount",
                                          "persistentvolumeclaim")

#: Volume sources that name a secret in a ``secretRef`` (kube's VisitPodSecretNames).
_SECRET_REF_VOLUMES = ("cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "iscsi",
                       "storageos")


class NodeGraph:
    """Pods bound to nodes and the objects each uses, indexed both ways."""

    def __init__(self) -> None:
        self._pods: dict[PodKey, tuple[str, frozenset[Ref]]] = {}
        self._users: dict[Ref, set[PodKey]] = {}

    def __len__(self) -> int:
        return len(self._pods)

    def put(self, pod: Obj) -> None:
        """Add or update a pod (an unbound pod is removed: it relates to no node yet)."""
        key = _pod_key(pod)
        node = str(_dict(pod.get("spec")).get("nodeName") or "")
        self.remove_key(key)
        if not node:
            return
        refs = frozenset(pod_references(pod, key[0]))
        self._pods[key] = (node, refs)
        for ref in refs:
            self._users.setdefault(ref, set()).add(key)

    def remove(self, pod: Obj) -> None:
        self.remove_key(_pod_key(pod))

    def remove_key(self, key: PodKey) -> None:
        old = self._pods.pop(key, None)
        if old is None:
            return
        for ref in old[1]:
            users = self._users.get(ref)
            if users is not None:
                users.discard(key)
                if not users:
                    del self._users[ref]

    def replace(self, pods: list[Obj]) -> None:
        """Start over from a full list of pods."""
        self._pods.clear()
        self._users.clear()
        for pod in pods:
            self.put(pod)

    def related(self, node: str, kind: str, namespace: str, name: str) -> bool:
        """Is there a path from object ``kind`` ``namespace/name`` to ``node``?"""
        if kind == "pod":
            bound = self._pods.get((namespace, name))
            return bound is not None and bound[0] == node
        return any(self._pods[pod][0] == node
                   for pod in self._users.get((kind, namespace, name), ()))


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _pod_key(pod: Obj) -> PodKey:
    meta = _dict(pod.get("metadata"))
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _name(value: Any, key: str = "name") -> str:
    name = _dict(value).get(key)
    return name if isinstance(name, str) else ""


def pod_references(pod: Obj, namespace: str) -> Iterator[Ref]:
    """Every secret, configmap, service account and claim a pod uses, by name."""
    spec = _dict(pod.get("spec"))
    refs: list[tuple[str, str]] = []
    for secret in _list(spec.get("imagePullSecrets")):
        refs.append((SECRET, _name(secret)))
    containers = [*_list(spec.get("initContainers")), *_list(spec.get("containers")),
                  *_list(spec.get("ephemeralContainers"))]
    for container in containers:
        for source in _list(_dict(container).get("envFrom")):
            refs.append((SECRET, _name(_dict(source).get("secretRef"))))
            refs.append((CONFIGMAP, _name(_dict(source).get("configMapRef"))))
        for env in _list(_dict(container).get("env")):
            value_from = _dict(_dict(env).get("valueFrom"))
            refs.append((SECRET, _name(value_from.get("secretKeyRef"))))
            refs.append((CONFIGMAP, _name(value_from.get("configMapKeyRef"))))
    for volume in _list(spec.get("volumes")):
        refs.extend(_volume_references(_dict(volume), _name(pod.get("metadata"))))
    if isinstance(spec.get("serviceAccountName"), str):
        refs.append((SERVICEACCOUNT, spec["serviceAccountName"]))
    for kind, name in refs:
        if name:
            yield kind, namespace, name


def _volume_references(volume: Obj, pod_name: str) -> Iterator[tuple[str, str]]:
    yield SECRET, _name(volume.get("secret"), "secretName")
    yield SECRET, _name(volume.get("azureFile"), "secretName")
    yield SECRET, _name(_dict(volume.get("csi")).get("nodePublishSecretRef"))
    for source in _SECRET_REF_VOLUMES:
        yield SECRET, _name(_dict(volume.get(source)).get("secretRef"))
    yield CONFIGMAP, _name(volume.get("configMap"))
    for projected in _list(_dict(volume.get("projected")).get("sources")):
        yield SECRET, _name(_dict(projected).get("secret"))
        yield CONFIGMAP, _name(_dict(projected).get("configMap"))
    yield PVC, _name(volume.get("persistentVolumeClaim"), "claimName")
    if "ephemeral" in volume and pod_name:  # the claim kube creates: <pod>-<volume>
        yield PVC, f"{pod_name}-{_name(volume)}"


def feed(registry: Registry, graph: NodeGraph) -> Mirror:
    """The mirror that keeps ``graph`` current from every pod (start it, await synced)."""
    pods = resources.by_plural("", "v1", "pods")
    assert pods is not None
    return Mirror(registry, Target(pods, None), graph, "node graph")
