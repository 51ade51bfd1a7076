"""What a hollow kubelet does with a pod bound to its node, and the status it writes.

    decide(pod) -> RUN | DELETE | NOTHING
    running_patch(pod, host_ip=..., pod_ip=...)   # strategic merge patch of pods/NAME/status

A pod that is not being deleted and not yet Running gets, in one status write, what a
kubelet reports once its containers run (kubernetes ``pkg/kubelet/kubelet_pods.go``
``generateAPIPodStatus``, ``pkg/kubelet/status/generate.go``; KWOK's ``pod-ready`` stage):
phase Running, the conditions PodReadyToStartContainers, Initialized, Ready, ContainersReady
and PodScheduled True, every container running and ready, init containers Completed (exit
0), sidecars (init containers with restartPolicy Always) running, hostIP(s), podIP(s) and
startTime. The patch carries ``metadata.uid``, as the kubelet's does, so it cannot land on a
new pod of the same name. A pod being deleted gets the kubelet's final DELETE (grace period
0, uid precondition); terminal and running pods are left alone. Pure functions.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from servers.apimachinery.meta import now_rfc3339

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj

__all__ = ["DELETE", "NOTHING", "RUN", "decide", "rejected_patch", "running_patch"]

RUN, DELETE, NOTHING = "run", "delete", "nothing"
_TERMINAL = ("Succeeded", "Failed")
# Kube 1.32 lists them in this order (kubectl describe shows the same).
_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
               "PodScheduled")


def decide(pod: Obj) -> str:
    """The kubelet's next step for ``pod``: run it, finish its deletion, or nothing."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return DELETE
    status = pod.get("status") or {}
    if status.get("phase") in _TERMINAL:
        return NOTHING
    if status.get("phase") == "Running" and status.get("podIP") and _ready(status):
        return NOTHING
    # Pending; or Running but made unready by someone else (the node lifecycle controller
    # while this node was silent): a kubelet's status sync puts Ready back.
    return RUN


def _ready(status: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in status.get("conditions") or ())


def _container_id(uid: str, name: str) -> str:
    return "hollow://" + hashlib.sha256(f"{uid}/{name}".encode()).hexdigest()


def _image_id(image: str) -> str:
    return f"{image}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _running(uid: str, container: Obj, now: str) -> Obj:
    name, image = container.get("name", ""), container.get("image", "")
    return {"name": name, "image": image, "imageID": _image_id(image),
            "containerID": _container_id(uid, name), "ready": True, "started": True,
            "restartCount": 0, "state": {"running": {"startedAt": now}}, "lastState": {}}


def _completed(uid: str, container: Obj, now: str) -> Obj:
    name, image = container.get("name", ""), container.get("image", "")
    cid = _container_id(uid, name)
    return {"name": name, "image": image, "imageID": _image_id(image), "containerID": cid,
            "ready": True, "started": False, "restartCount": 0, "lastState": {},
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now,
                                     "finishedAt": now, "containerID": cid}}}


def _init_status(uid: str, container: Obj, now: str) -> Obj:
    if container.get("restartPolicy") == "Always":  # a sidecar keeps running
        return _running(uid, container, now)
    return _completed(uid, container, now)


def _conditions(pod: Obj, now: str) -> list[Obj]:
    since = {c.get("type"): c.get("lastTransitionTime")
             for c in (pod.get("status") or {}).get("conditions") or ()
             if c.get("status") == "True"}
    return [{"type": kind, "status": "True", "lastProbeTime": None,
             "lastTransitionTime": since.get(kind) or now} for kind in _CONDITIONS]


def running_patch(pod: Obj, *, host_ip: str, pod_ip: str, now: str | None = None) -> Obj:
    """The status patch that makes ``pod`` Running on a node at ``host_ip``, at ``pod_ip``."""
    now = now or now_rfc3339()
    uid = (pod.get("metadata") or {}).get("uid", "")
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    body: Obj = {
        "phase": "Running", "conditions": _conditions(pod, now),
        "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
        "startTime": status.get("startTime") or now,
        "containerStatuses": [_running(uid, c, now) for c in spec.get("containers") or ()],
    }
    if spec.get("initContainers"):
        body["initContainerStatuses"] = [_init_status(uid, c, now)
                                         for c in spec["initContainers"]]
    return {"metadata": {"uid": uid}, "status": body}


def rejected_patch(pod: Obj, *, used: int, capacity: int, host_ip: str) -> Obj:
    """The kubelet's admission refusal when the node already runs --max-pods pods.

    kubernetes ``pkg/kubelet/lifecycle/predicate.go``: phase Failed, reason ``OutOfpods``.
    """
    uid = (pod.get("metadata") or {}).get("uid", "")
    message = (f"Pod was rejected: Node didn't have enough resource: pods, requested: 1, "
               f"used: {used}, capacity: {capacity}")
    return {"metadata": {"uid": uid},
            "status": {"phase": "Failed", "reason": "OutOfpods", "message": message,
                       "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                       "startTime": (pod.get("status") or {}).get("startTime") or now_rfc3339()}}
