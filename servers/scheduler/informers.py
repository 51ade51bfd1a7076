"""What the scheduler watches, and what each change does to its queue and cache.

After ``pkg/scheduler/eventhandlers.go`` (``addAllEventHandlers``). One pod informer sees every
pod that is not finished (``status.phase!=Succeeded,status.phase!=Failed``, as kube-scheduler's
pod informer): unassigned pods of this scheduler's profiles go to the queue, assigned pods to
the cache (a binding is an update from one to the other). One node informer feeds the cache.
A policy/v1 PodDisruptionBudget informer gives preemption the budgets it weighs victims
against (kube's ``pdbLister`` in ``defaultpreemption``); budgets move no pods.

Cluster events that may let an unschedulable pod fit move pods back to the queue:

====================  =========================================================
node added            all unschedulable pods
node changed          all, when allocatable, labels, taints, cordon, conditions or
                      annotations changed (``nodeSchedulingPropertiesChange``); a
                      heartbeat alone moves nothing
assigned pod deleted  all (its resources and ports are free again)
assigned pod added    pods with pod (anti-)affinity or topology spread constraints
or relabelled         (``AssignedPodAdded``: only those look at other pods)
====================  =========================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from servers.client.resources import NODES, PODDISRUPTIONBUDGETS, PODS

if TYPE_CHECKING:
    from servers.client.informer import Informer, SharedInformerFactory
    from servers.scheduler.cycle import Scheduler

Obj = dict[str, Any]

NOT_FINISHED = "status.phase!=Succeeded,status.phase!=Failed"


def assigned(pod: Obj) -> bool:
    """Whether the pod is bound to a node."""
    return bool((pod.get("spec") or {}).get("nodeName"))


def looks_at_other_pods(pod: Obj) -> bool:
    """Pods whose fit depends on other pods' labels and places."""
    spec = pod.get("spec") or {}
    affinity = spec.get("affinity") or {}
    return bool(affinity.get("podAffinity") or affinity.get("podAntiAffinity")
                or spec.get("topologySpreadConstraints"))


def _conditions(node: Obj) -> list[tuple[Any, Any]]:
    return sorted((c.get("type"), c.get("status"))
                  for c in (node.get("status") or {}).get("conditions") or ()
                  if isinstance(c, dict))


def node_scheduling_properties_changed(old: Obj, new: Obj) -> bool:
    """``nodeSchedulingPropertiesChange``: a change that may let a pod fit."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    return (bool(old_spec.get("unschedulable")) != bool(new_spec.get("unschedulable"))
            or old_spec.get("taints") != new_spec.get("taints")
            or old_meta.get("labels") != new_meta.get("labels")
            or old_meta.get("annotations") != new_meta.get("annotations")
            or (old.get("status") or {}).get("allocatable")
            != (new.get("status") or {}).get("allocatable")
            or _conditions(old) != _conditions(new))


class ClusterWatch:
    """The informer handlers of one scheduler (see the module docstring)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.queue = scheduler.queue
        self.cache = scheduler.cache

    def connect(self, factory: SharedInformerFactory) -> tuple[Informer, Informer]:
        """Register the handlers on the factory's pod and node informers; return them."""
        pods = factory.informer(PODS, field_selector=NOT_FINISHED)
        nodes = factory.informer(NODES)
        pods.add_handler(self.pod_added, self.pod_updated, self.pod_deleted)
        nodes.add_handler(self.node_added, self.node_updated, self.node_deleted)
        self.scheduler.pdbs = factory.informer(PODDISRUPTIONBUDGETS).list
        return pods, nodes

    # -- pods ----------------------------------------------------------------------------

    def pod_added(self, pod: Obj) -> None:
        if assigned(pod):
            self.cache.add_pod(pod)
            self.queue.move_all("AssignedPodAdd", only=looks_at_other_pods)
        elif self.scheduler.responsible_for(pod):
            self.queue.add(pod)

    def pod_updated(self, old: Obj, new: Obj) -> None:
        if assigned(new):
            if not assigned(old):  # just bound (by us or another scheduler)
                self.queue.delete(old)
                self.scheduler.forget_pod(old)
            self.cache.update_pod(new)
            if not assigned(old) or _labels(old) != _labels(new):
                self.queue.move_all("AssignedPodUpdate", only=looks_at_other_pods)
        elif self.scheduler.responsible_for(new):
            if not self.cache.is_assumed(new):  # kube skips updates of assumed pods
                self.queue.update(new)
        else:  # its schedulerName changed away from us
            self.queue.delete(new)

    def pod_deleted(self, pod: Obj) -> None:
        if assigned(pod):
            self.cache.remove_pod(pod)
            self.queue.move_all("AssignedPodDelete")
        else:
            self.queue.delete(pod)
            self.scheduler.forget_pod(pod)

    # -- nodes ---------------------------------------------------------------------------

    def node_added(self, node: Obj) -> None:
        self.cache.add_node(node)
        self.queue.move_all("NodeAdd")

    def node_updated(self, old: Obj, new: Obj) -> None:
        self.cache.update_node(new)
        if node_scheduling_properties_changed(old, new):
            self.queue.move_all("NodeUpdate")

    def node_deleted(self, node: Obj) -> None:
        self.cache.remove_node(node)


def _labels(obj: Obj) -> Any:
    return (obj.get("metadata") or {}).get("labels")
