"""The DefaultTolerationSeconds admission plugin: how long pods stay on a dead node.

On pod create (not on subresources or updates) a pod that does not already tolerate the
``node.kubernetes.io/not-ready`` or ``node.kubernetes.io/unreachable`` NoExecute taint gets
``{key, operator: Exists, effect: NoExecute, tolerationSeconds: N}`` for it, N from the
apiserver's ``--default-not-ready-toleration-seconds`` and
``--default-unreachable-toleration-seconds`` (300 each). The taint-eviction controller evicts
a pod once its toleration runs out, so pods leave a dead node about five minutes after the
node lifecycle controller taints it.
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/plugin/pkg/admission/defaulttolerationseconds/admission.go
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
NO_EXECUTE = "NoExecute"
DEFAULT_SECONDS = 300


@dataclass(frozen=True)
class Settings:
    """The two flags' values, in seconds."""

    not_ready_seconds: int = DEFAULT_SECONDS
    unreachable_seconds: int = DEFAULT_SECONDS


def _tolerates(tolerations: list[Any], key: str) -> bool:
    """kube's test: a toleration with this key or none, for NoExecute or any effect."""
    return any(isinstance(t, dict) and t.get("key") in (key, None, "") and
               t.get("effect") in (NO_EXECUTE, None, "") for t in tolerations)


def admit_pod_create(settings: Settings, pod: dict[str, Any]) -> None:
    """Add the missing not-ready/unreachable tolerations to a new pod, in place."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        tolerations = []
    added = [{"key": key, "operator": "Exists", "effect": NO_EXECUTE, "tolerationSeconds": n}
             for key, n in ((NOT_READY, settings.not_ready_seconds),
                            (UNREACHABLE, settings.unreachable_seconds))
             if not _tolerates(tolerations, key)]
    if added:
        spec["tolerations"] = [*tolerations, *added]
