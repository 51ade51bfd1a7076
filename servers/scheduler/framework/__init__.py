"""The scheduling algorithm of km's scheduler: kube-scheduler's default plugins in Python.

Pure Python (no aiohttp, no I/O); the server (``servers.scheduler.app``) feeds it from its
cache and acts on the answers. The public API, as landed:

* ``PodInfo.of(pod) -> PodInfo`` — a pod parsed once: ``cpu`` (millicores), ``memory``,
  ``ephemeral``, ``scalar`` (requests as kube's ``PodRequests``: init containers, sidecars,
  overhead), ``nz_cpu``/``nz_memory`` (100m/200Mi for containers without requests),
  ``priority``, ``tolerations``, ``host_ports``, ``node_affinity``, affinity terms,
  ``spread_constraints``, ``uid`` (metadata.uid, else ``namespace/name``), ``key``, ``pod``.
* ``NodeInfo(node | None)`` — ``set_node(node)``, ``add_pod(info)``, ``remove_pod(info)``
  (by uid), ``pods`` (list), ``pod_count``, ``requested``/``non_zero_requested``/
  ``allocatable`` (dicts: cpu in millicores, memory in bytes, pods), ``used_ports``,
  ``generation`` (grows on every change), ``clone()``.
* ``Snapshot(nodes: Mapping[str, NodeInfo] | Iterable[NodeInfo])`` — shares the NodeInfos
  (pod changes show without a refresh); ``set_node(info)``, ``remove_node(name)``,
  ``get(name)``, ``node_list``, ``len()``. Node-less slots (``NodeInfo(None)``) are skipped.
* ``Profile`` (``scheduler_name``, ``filters``, ``scores`` {name: weight}, ``post_filters``,
  ``scoring_strategy``, ``scoring_resources``, ``percentage_of_nodes_to_score``,
  ``pod_initial_backoff_seconds``, ``pod_max_backoff_seconds``, ``preemption``),
  ``default_profile(name="default-scheduler")``, ``load_config(path) -> list[Profile]``
  and ``parse_config(doc) -> list[Profile]`` (raise ``ConfigError``, a ``ValueError`` of one
  line naming the field); ``load_configuration(path) -> Configuration`` (``profiles``,
  ``leader_election`` and ``client_connection`` dicts as written, ``parallelism``).
* ``schedule(profile, pod_info, snapshot, *, start_index=0, lister=None, rng=None)
  -> ScheduleResult(node_name, evaluated_nodes, feasible_nodes, next_start_index)``; raises
  ``FitError`` (``message`` is kube's text, "no nodes available to schedule pods" for zero
  nodes; ``diagnosis`` {node: Status}; ``next_start_index``).
* ``preempt(profile, pod_info, snapshot, fit_error, pdbs=(), *, lister=None, rng=None)
  -> Preemption | None`` — ``Preemption(node_name, victims: list[PodInfo], pdb_violations)``,
  victims lowest priority first. Either way it sets ``fit_error.post_filter_msg``
  ("preemption: ..." or "" when a node was found), so ``fit_error.message`` is then the full
  FailedScheduling text. It checks eligibility itself (``preemptionPolicy: Never`` gives
  "preemption: not eligible due to preemptionPolicy=Never.", as kube), so call it for every
  pod that fits nowhere when ``profile.preemption``.
  ``pdbs`` are PodDisruptionBudget dicts (spec.selector, status.disruptionsAllowed,
  status.disruptedPods).
* ``Lister`` (protocol: namespace_labels, namespaces, services, controller) and ``Objects``
  (plain lists) for namespaceSelector and the default topology spread of owned pods.

Not done: the volume plugins and DynamicResources are accepted names that do nothing (km
has no volume scheduling). Pods nominated to a node by an earlier preemption are the
server's to count there (``servers/scheduler/cycle.py`` adds them to a copy of the node).
"""

from __future__ import annotations

from servers.scheduler.framework.algorithm import (
    NO_NODES,
    FitError,
    ScheduleResult,
    num_feasible_nodes_to_find,
    schedule,
)
from servers.scheduler.framework.config import (
    ConfigError,
    Configuration,
    load_config,
    load_configuration,
    parse_config,
    parse_configuration,
)
from servers.scheduler.framework.lister import NO_OBJECTS, Lister, Objects
from servers.scheduler.framework.nodeinfo import NodeInfo, Snapshot
from servers.scheduler.framework.podinfo import PodInfo
from servers.scheduler.framework.preemption import Preemption, preempt
from servers.scheduler.framework.profile import Profile, default_profile
from servers.scheduler.framework.status import Status

__all__ = [
    "NO_NODES", "NO_OBJECTS", "ConfigError", "Configuration", "FitError", "Lister", "NodeInfo",
    "Objects", "PodInfo", "Preemption", "Profile", "ScheduleResult", "Snapshot", "Status",
    "default_profile", "load_config", "load_configuration", "num_feasible_nodes_to_find",
    "parse_config", "parse_configuration", "preempt", "schedule",
]
