"""daemonset: apps/v1 DaemonSets — one pod on every node that should run one.

After ``pkg/controller/daemon`` (``daemon_controller.go``, ``update.go``, ``util``):

* a node should run the daemon pod when the template's ``nodeName`` (if any), nodeSelector and
  required node affinity select it and its NoSchedule/NoExecute taints are tolerated; a pod
  already there keeps running when only NoSchedule taints are not tolerated
  (``NodeShouldRunDaemonPod``);
* daemon pods get kube's default tolerations (``AddOrUpdateDaemonPodTolerations``: not-ready
  and unreachable NoExecute, disk/memory/pid-pressure and unschedulable NoSchedule,
  network-unavailable with hostNetwork) and are pinned to their node by a required node
  affinity on ``metadata.name`` (``ReplaceDaemonSetPodNodeNameNodeAffinity``); the scheduler
  binds them;
* ``manage``: create the pod on nodes lacking it, delete pods on nodes that should not run
  them, keep the oldest when a node has several, delete Failed pods (the key is retried with
  backoff, so a crashing pod is not recreated in a hot loop);
* ``RollingUpdate``: pods whose ``controller-revision-hash`` is not the template's are
  replaced node by node within ``maxUnavailable``, or surged (new pod first, old pod deleted
  once the new one is available) within ``maxSurge``; ``OnDelete`` replaces only what users
  delete;
* status: desired/current/misscheduled/ready/available/updated/unavailable counts and
  observedGeneration.

Creates and deletes are tracked by expectations (R18), so a cache that is behind never makes
a second pod for a node. Each template the set has had is a ControllerRevision named
``NAME-HASH`` (``history``; the hash, of the template as kube's ``ComputeHash``, is the pods'
``controller-revision-hash``), so ``kubectl rollout history`` and ``undo`` work; the history is
cut to ``revisionHistoryLimit`` besides the revisions live pods carry.
"""

from __future__ import annotations

import asyncio
import copy
import math
import time
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import NotFound, StatusError
from servers.client.events import NORMAL, WARNING
from servers.client.expectations import Expectations
from servers.client.informer import object_key
from servers.client.resources import CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import history
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import namespace_terminating, wait_synced
from servers.controller_manager.controllers.deploymentutil import template_hash
from servers.controller_manager.controllers.refmanager import claim_pods
from servers.controller_manager.controllers.replicaset import slow_start
from servers.controller_manager.controllers.statefulset import REVISION_LABEL, selector_of
from servers.scheduler.framework.nodeaffinity import required_node_selector

if TYPE_CHECKING:
    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
Fits = dict[str, tuple[bool, bool]]  # node name -> (should run, should continue running)

NAME = "daemonset-controller"
COMPONENT = "daemonset-controller"
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
# pkg/controller/daemon/util/daemonset_util.go: AddOrUpdateDaemonPodTolerations.
DEFAULT_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)
NETWORK_UNAVAILABLE = ("node.kubernetes.io/network-unavailable", "NoSchedule")


class FailedPods(Exception):
    """Failed daemon pods were deleted: retry the key with backoff (kube's hot-loop guard)."""


class ManageError(Exception):
    """Creating or deleting daemon pods failed (the key is retried with backoff)."""


def scaled(value: Any, total: int, *, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int, or a percent of ``total``."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            percent = int(value[:-1])
        except ValueError:
            return 0
        exact = percent * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def template_revision(ds: Obj) -> str:
    """The hash a new revision of the set's template gets."""
    return revision_digest(ds, {}, history.collision_count(ds))


def revision_digest(ds: Obj, _data: Obj, collisions: int) -> str:
    """A DaemonSet's revision is named by the hash of its template (``ComputeHash``)."""
    return template_hash(o.spec(ds).get("template") or {}, collisions)


def with_tolerations(spec: Obj) -> None:
    """Add kube's daemon tolerations the pod does not already have."""
    tolerations = [t for t in spec.get("tolerations") or () if isinstance(t, dict)]
    wanted = list(DEFAULT_TOLERATIONS)
    if spec.get("hostNetwork"):
        wanted.append(NETWORK_UNAVAILABLE)
    for key, effect in wanted:
        if not any(t.get("key") == key and t.get("effect") == effect for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": effect})
    spec["tolerations"] = tolerations


def pin_to_node(spec: Obj, node: str) -> None:
    """Require ``metadata.name`` = ``node`` in every required term (or in a new one)."""
    pin = [{"key": "metadata.name", "operator": "In", "values": [node]}]
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = [t for t in required.get("nodeSelectorTerms") or () if isinstance(t, dict)]
    terms = [{**t, "matchFields": pin} for t in terms] or [{"matchFields": pin}]
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": terms}


def new_pod(ds: Obj, node: str, revision: str) -> Obj:
    """The daemon pod for ``node`` (``NewPod`` plus the controller's labels)."""
    template = o.spec(ds).get("template") or {}
    tmeta = o.meta(template)
    labels = dict(tmeta.get("labels") or {})
    labels[REVISION_LABEL] = revision
    labels[TEMPLATE_GENERATION_LABEL] = str(o.meta(ds).get("generation", 0))
    metadata: Obj = {"generateName": f"{o.name(ds)}-", "labels": labels,
                     "ownerReferences": [o.new_controller_ref(ds)]}
    if tmeta.get("annotations"):
        metadata["annotations"] = copy.deepcopy(tmeta["annotations"])
    spec = copy.deepcopy(o.spec(template))
    with_tolerations(spec)
    pin_to_node(spec, node)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def target_node(pod: Obj) -> str:
    """The node a daemon pod is for: its nodeName, or the name its affinity pins
    (``util.GetTargetNodeName``)."""
    node = o.spec(pod).get("nodeName")
    if node:
        return str(node)
    affinity = (o.spec(pod).get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or ():
        for field in term.get("matchFields") or ():
            values = field.get("values") or []
            if field.get("key") == "metadata.name" and field.get("operator") == "In" \
                    and len(values) == 1:
                return str(values[0])
    return ""


def _tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if t.get("key") and t.get("key") != taint.get("key"):
            continue
        if t.get("operator") == "Exists" or (t.get("operator") in (None, "", "Equal") and
                                              (t.get("value") or "") == (taint.get("value")
                                                                         or "")):
            return True
    return False


class Placement:
    """Where a DaemonSet's pods belong, parsed once per sync (``NodeShouldRunDaemonPod``)."""

    def __init__(self, ds: Obj) -> None:
        template_spec = o.spec(o.spec(ds).get("template") or {})
        self.node_name = str(template_spec.get("nodeName") or "")
        spec: Obj = {"tolerations": copy.deepcopy(template_spec.get("tolerations") or []),
                     "hostNetwork": template_spec.get("hostNetwork")}
        with_tolerations(spec)
        self.tolerations: list[Obj] = spec["tolerations"]
        affinity = template_spec.get("affinity") or {}
        self.selector = required_node_selector(template_spec.get("nodeSelector"),
                                               affinity.get("nodeAffinity") or {})

    def check(self, node: Obj) -> tuple[bool, bool]:
        """(should run, should continue running) for the daemon pod on ``node``."""
        if self.node_name and self.node_name != o.name(node):
            return False, False
        if self.selector is not None and not self.selector.matches(o.labels(node),
                                                                   o.name(node)):
            return False, False
        taints = [t for t in o.spec(node).get("taints") or () if isinstance(t, dict)]
        untolerated = [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")
                       and not _tolerates(self.tolerations, t)]
        if untolerated:
            return False, not any(t.get("effect") == "NoExecute" for t in untolerated)
        return True, True


def should_run(ds: Obj, node: Obj) -> tuple[bool, bool]:
    """(should run, should continue running) for the daemon pod on ``node``."""
    return Placement(ds).check(node)


def _created(pod: Obj) -> str:
    return str(o.meta(pod).get("creationTimestamp") or "")


class DaemonSetController:
    """Keeps one daemon pod per eligible node; see the module docstring."""

    def __init__(self, ctx: Context, *, workers: int,
                 clock: Any = time.time) -> None:
        self.name = NAME
        self.client = ctx.client
        self.workers = workers
        self.clock = clock
        self.pods = ctx.pods
        self.sets = ctx.factory.informer(DAEMONSETS)
        self.history = history.History(ctx.client, ctx.factory.informer(CONTROLLERREVISIONS))
        self.nodes = ctx.factory.informer(NODES)
        self.recorder = ctx.recorder(COMPONENT)
        self.queue = ctx.queue("daemonset")
        self.expectations = Expectations()
        self.sets.add_handler(self._enqueue, lambda _old, new: self._enqueue(new),
                              self._set_deleted)
        self.nodes.add_handler(self._node_changed, self._node_updated, self._node_changed)
        ctx.pods.informer.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.sets, self.nodes, self.pods.informer,
                                 self.history.informer):
            return
        self._enqueue_all()
        await run_workers(self.queue, self.sync, self.workers, stop)

    # -- handlers ----------------------------------------------------------------------------

    def _enqueue(self, ds: Obj) -> None:
        self.queue.add(object_key(ds))

    def _enqueue_all(self) -> None:
        for ds in self.sets.list():
            self._enqueue(ds)

    def _set_deleted(self, ds: Obj) -> None:
        self.expectations.forget(object_key(ds))
        self._enqueue(ds)

    def _node_changed(self, _node: Obj) -> None:
        self._enqueue_all()

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if (o.labels(old) != o.labels(new) or o.spec(old).get("taints")
                != o.spec(new).get("taints")):
            self._enqueue_all()

    def _owner_key(self, pod: Obj) -> str | None:
        ref = o.controller_ref(pod)
        if ref is None or ref.get("kind") != "DaemonSet":
            return None
        return f"{o.namespace(pod)}/{ref.get('name', '')}"

    def _orphan(self, pod: Obj) -> None:
        if o.controller_ref(pod) is None:
            for ds in self.sets.list():
                if o.namespace(ds) == o.namespace(pod) and \
                        selector_of(ds).matches(o.labels(pod)):
                    self._enqueue(ds)

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is None:
            self._orphan(pod)
            return
        if o.deleting(pod):
            self.expectations.deletion_observed(key, o.uid(pod))
        else:
            self.expectations.creation_observed(key)
        self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = self._owner_key(new)
        if key is None:
            self._orphan(new)
            return
        if o.deleting(new) and not o.deleting(old):
            self.expectations.deletion_observed(key, o.uid(new))
        self.queue.add(key)
        min_ready = 0
        ds = self.sets.get_by_key(key)
        if ds is not None:
            min_ready = int(o.spec(ds).get("minReadySeconds") or 0)
        if min_ready > 0 and o.is_ready(new) and not o.is_ready(old):
            self.queue.add_after(key, float(min_ready) + 1.0)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, o.uid(pod))
            self.queue.add(key)

    # -- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring the DaemonSet ``key`` to one pod per eligible node; write its status."""
        ds = self.sets.get_by_key(key)
        if ds is None:
            self.expectations.forget(key)
            return
        pods = await claim_pods(self.client, DAEMONSETS, ds, selector_of(ds),
                                self.pods.in_namespace(o.namespace(ds)))
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            if not o.deleting(pod):
                by_node.setdefault(target_node(pod), []).append(pod)
        for group in by_node.values():
            group.sort(key=_created)
        revision = template_revision(ds)
        if not o.deleting(ds):
            revision, ds = await self._revisions(ds, pods)
        placement = Placement(ds)  # parsed once: every node is checked with it
        fits = {o.name(node): placement.check(node) for node in self.nodes.list()}
        failed = 0
        if self.expectations.satisfied(key) and not o.deleting(ds):
            create, delete, failed = self._plan(ds, fits, by_node, revision)
            if not create and not delete:
                create, delete = self._roll(ds, fits, by_node, revision)
            await self._apply(key, ds, create, delete, revision)
        await self._write_status(ds, fits, by_node, revision)
        if failed:
            msg = f"found {failed} failed daemon pods of {key}: deleted, will retry"
            raise FailedPods(msg)

    async def _revisions(self, ds: Obj, pods: list[Obj]) -> tuple[str, Obj]:
        """The hash of the set's current revision (made or found) and the set with the
        collision count it was named under; old revisions past the limit go
        (``constructHistory``, ``cleanupHistory``)."""
        revisions = self.history.of(ds)
        current, collisions = await self.history.record(ds, revisions, revision_digest)
        if collisions != history.collision_count(ds):
            ds = {**ds, "status": {**o.status(ds), "collisionCount": collisions}}
        used = {o.labels(p).get(REVISION_LABEL) for p in pods if not o.deleting(p)}
        live = {o.name(r) for r in revisions if history.hash_of(r) in used}
        live.add(o.name(current))
        await self.history.truncate(ds, revisions, live)
        return history.hash_of(current), ds

    def _plan(self, ds: Obj, fits: Fits, by_node: dict[str, list[Obj]],
              revision: str) -> tuple[list[str], list[Obj], int]:
        """``manage``: nodes to create on, pods to delete, how many of them had failed."""
        create: list[str] = []
        delete: list[Obj] = []
        failed = 0
        surge = _limits(ds, _desired(fits))[0] > 0
        for node, (run, keep) in fits.items():
            here = by_node.get(node, [])
            if run and not here:
                create.append(node)
            elif not keep:
                delete += here
            else:
                dead = [p for p in here if o.phase(p) == o.FAILED]
                failed += len(dead)
                delete += dead
                alive = [p for p in here if o.phase(p) != o.FAILED]
                delete += _surplus(alive, revision, surge=surge)
                if run and not alive and not dead:
                    create.append(node)
        for node_name, here in by_node.items():  # pods for nodes that are gone
            if node_name not in fits:
                delete += [p for p in here if not o.spec(p).get("nodeName")]
        return create, delete, failed

    def _roll(self, ds: Obj, fits: Fits, by_node: dict[str, list[Obj]],
              revision: str) -> tuple[list[str], list[Obj]]:
        """``rollingUpdate``: replace old-revision pods within maxUnavailable/maxSurge."""
        strategy = o.spec(ds).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return [], []
        max_surge, max_unavailable = _limits(ds, _desired(fits))
        min_ready = int(o.spec(ds).get("minReadySeconds") or 0)
        now = self.clock()

        def available(pod: Obj | None) -> bool:
            return pod is not None and o.ready_for(pod, min_ready, now)

        nodes = {name: by_node.get(name, []) for name in sorted(fits) if fits[name][0]}
        if max_surge > 0:
            return _surge(nodes, revision, max_surge, available)
        return [], _replace(nodes, revision, max_unavailable, available)

    async def _apply(self, key: str, ds: Obj, create: list[str], delete: list[Obj],
                     revision: str) -> None:
        self.expectations.expect_deletions(key, [o.uid(p) for p in delete])
        self.expectations.creation_observed(key, -len(create))  # both, in one record
        errors: list[str] = []
        targets = iter(create)

        async def create_one() -> bool:
            try:
                pod = await self.client.create(PODS, new_pod(ds, next(targets), revision),
                                               o.namespace(ds))
            except StatusError as exc:
                if namespace_terminating(exc):
                    return False
                errors.append(str(exc))
                self.recorder.event(ds, WARNING, "FailedCreate", f"Error creating: {exc}")
                return False
            self.recorder.event(ds, NORMAL, "SuccessfulCreate", f"Created pod: {o.name(pod)}")
            return True

        async def delete_one(pod: Obj) -> None:
            try:
                await self.client.delete(PODS, o.name(pod), o.namespace(pod), uid=o.uid(pod))
            except StatusError as exc:
                self.expectations.deletion_observed(key, o.uid(pod))
                if not isinstance(exc, NotFound):
                    errors.append(str(exc))
                    self.recorder.event(ds, WARNING, "FailedDelete", f"Error deleting: {exc}")
                return
            self.recorder.event(ds, NORMAL, "SuccessfulDelete", f"Deleted pod: {o.name(pod)}")

        made = await slow_start(len(create), create_one)  # 1, 2, 4, ... as kube's syncNodes
        if made < len(create):
            self.expectations.creation_observed(key, len(create) - made)
        await asyncio.gather(*(delete_one(pod) for pod in delete))
        if errors:
            raise ManageError(errors[0])

    # -- status ------------------------------------------------------------------------------

    def calculate_status(self, ds: Obj, fits: Fits, by_node: dict[str, list[Obj]],
                         revision: str) -> Obj:
        """``updateDaemonSetStatus``'s counts over the oldest pod of each node."""
        desired = scheduled = misscheduled = ready = available = updated = 0
        min_ready = int(o.spec(ds).get("minReadySeconds") or 0)
        now = self.clock()
        for node, (run, _) in fits.items():
            here = by_node.get(node, [])
            if run:
                desired += 1
            if here and not run:
                misscheduled += 1
            if not (here and run):
                continue
            scheduled += 1
            pod = here[0]
            if o.is_ready(pod):
                ready += 1
                available += 1 if o.ready_for(pod, min_ready, now) else 0
            if o.labels(pod).get(REVISION_LABEL) == revision:
                updated += 1
        status: Obj = {**o.status(ds), "desiredNumberScheduled": desired,
                       "currentNumberScheduled": scheduled, "numberMisscheduled": misscheduled,
                       "numberReady": ready, "numberAvailable": available,
                       "updatedNumberScheduled": updated,
                       "observedGeneration": o.meta(ds).get("generation", 0)}
        if desired - available > 0:
            status["numberUnavailable"] = desired - available
        else:
            status.pop("numberUnavailable", None)
        return status

    async def _write_status(self, ds: Obj, fits: Fits, by_node: dict[str, list[Obj]],
                            revision: str) -> None:
        new = self.calculate_status(ds, fits, by_node, revision)
        # Against the cached set: ``ds`` may carry a collision count not yet written.
        if new == o.status(self.sets.get_by_key(object_key(ds)) or ds):
            return
        try:
            await self.client.update(DAEMONSETS, {**ds, "status": new}, "status")
        except NotFound:
            return
        except StatusError:
            self.queue.add(object_key(ds))


def _desired(fits: Fits) -> int:
    return sum(1 for run, _ in fits.values() if run)


def _limits(ds: Obj, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate, scaled to ``desired`` nodes and
    rounded up; both 0 means maxUnavailable 1 (``util.UnavailableCount``/``SurgeCount``)."""
    strategy = o.spec(ds).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    max_surge = scaled(rolling.get("maxSurge") or 0, desired, round_up=True)
    max_unavailable = scaled(rolling.get("maxUnavailable", 1), desired, round_up=True)
    if max_surge == 0 and max_unavailable == 0:
        max_unavailable = 1
    return max_surge, max_unavailable


def _surplus(pods: list[Obj], revision: str, *, surge: bool) -> list[Obj]:
    """Extra pods on one node (oldest first in ``pods``): keep the oldest, or with surge the
    oldest of the new revision and the oldest of the old ones."""
    if len(pods) <= 1:
        return []
    if not surge:
        return pods[1:]
    keep_new = next((p for p in pods if o.labels(p).get(REVISION_LABEL) == revision), None)
    keep_old = next((p for p in pods if o.labels(p).get(REVISION_LABEL) != revision), None)
    return [p for p in pods if p is not keep_new and p is not keep_old]


def _split(pods: list[Obj], revision: str) -> tuple[Obj | None, Obj | None]:
    new = next((p for p in pods if o.labels(p).get(REVISION_LABEL) == revision), None)
    old = next((p for p in pods if o.labels(p).get(REVISION_LABEL) != revision), None)
    return new, old


def _replace(nodes: dict[str, list[Obj]], revision: str, max_unavailable: int,
             available: Any) -> list[Obj]:
    """maxSurge 0: delete old pods, unavailable ones always, others while the count of
    unavailable nodes stays within ``max_unavailable``."""
    unavailable = 0
    forced: list[Obj] = []
    candidates: list[Obj] = []
    for pods in nodes.values():
        new, old = _split(pods, revision)
        if old is None or new is not None:  # both: manage settles it; counted unavailable
            if old is not None or not available(new):
                unavailable += 1
        elif not available(old):
            forced.append(old)
        else:
            candidates.append(old)
    room = max(max_unavailable - unavailable - len(forced), 0)
    return forced + candidates[:room]


def _surge(nodes: dict[str, list[Obj]], revision: str, max_surge: int,
           available: Any) -> tuple[list[str], list[Obj]]:
    """maxSurge > 0: a new pod beside the old one, the old deleted once the new is
    available, at most ``max_surge`` surging at once."""
    surging = 0
    forced: list[str] = []
    candidates: list[str] = []
    delete: list[Obj] = []
    for name, pods in nodes.items():
        new, old = _split(pods, revision)
        if old is None:
            continue
        if new is None:
            (candidates if available(old) else forced).append(name)
        elif not available(new):
            surging += 1
        else:
            delete.append(old)
    room = max(max_surge - surging, 0)
    return forced + candidates[:room], delete


def new(ctx: Context) -> DaemonSetController:
    return DaemonSetController(ctx, workers=ctx.opts.concurrent_daemonset_syncs)
