"""The steps of one Deployment sync: kube's ``pkg/controller/deployment`` ``sync.go``
(new and old RSs, revisions, proportional scaling, history cleanup, rollout status),
``rolling.go`` (RollingUpdate) and ``recreate.go`` (Recreate), ``progress.go`` (the
Progressing condition and the progress deadline).

Each function takes the ``Sync`` of one Deployment (its working copy ``s.d``, its RSs
``s.rss`` kept fresh after every write) and returns when the step is done; the status is
written once, by ``sync_rollout_status`` or ``Sync.sync_status``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from servers.client.informer import object_key
from servers.controller_manager.controllers import deploymentutil as du
from servers.controller_manager.controllers import objects as o

if TYPE_CHECKING:
    from servers.controller_manager.controllers.deployment import Sync

Obj = dict[str, Any]


# -- new and old ReplicaSets (sync.go) -----------------------------------------------------------

def split(s: Sync, new_uid: str | None) -> tuple[Obj | None, list[Obj]]:
    """The current new RS (by uid) and the others, from ``s.rss``."""
    new_rs = next((rs for rs in s.rss if new_uid and o.uid(rs) == new_uid), None)
    return new_rs, [rs for rs in s.rss if rs is not new_rs]


async def new_and_old(s: Sync, *, create: bool) -> tuple[Obj | None, list[Obj]]:
    """``getAllReplicaSetsAndSyncRevision``: the RS of the current template (created when
    ``create``; its annotations, revision and minReadySeconds brought up to date) and the
    others. The Deployment's revision annotation follows the new RS's."""
    d = s.d
    existing = du.find_new(d, s.rss)
    old = [rs for rs in s.rss if rs is not existing]
    new_revision = max((du.revision(rs) for rs in old), default=0) + 1
    if existing is not None:
        existing = await _update_existing(s, existing, new_revision)
        du.set_deployment_revision(d, str(du.revision(existing)))
        if du.has_progress_deadline(d) and du.get_condition(o.status(d), du.PROGRESSING) is None:
            du.set_condition(d.setdefault("status", {}), du.new_condition(
                du.PROGRESSING, "True", du.FOUND_NEW_RS,
                f'Found new replica set "{o.name(existing)}"', s.now))
        return existing, old
    if not create:
        return None, old
    created = await s.create_new_rs(old, new_revision)
    du.set_deployment_revision(d, str(new_revision))
    return created, old


async def _update_existing(s: Sync, rs: Obj, new_revision: int) -> Obj:
    changed = copy.deepcopy(rs)
    annotations_changed = du.set_new_rs_annotations(s.d, changed, new_revision, exists=True)
    min_ready = o.spec(s.d).get("minReadySeconds", 0)
    if not annotations_changed and o.spec(rs).get("minReadySeconds", 0) == min_ready:
        return rs
    changed["spec"]["minReadySeconds"] = min_ready
    fresh = await s.ctl.update_rs(changed)
    s.rss = [fresh if r is rs else r for r in s.rss]
    return fresh


def check_paused(s: Sync) -> None:
    """``checkPausedConditions``: Progressing Unknown DeploymentPaused / DeploymentResumed
    (a timed-out Deployment keeps its condition)."""
    d = s.d
    if not du.has_progress_deadline(d):
        return
    current = du.get_condition(o.status(d), du.PROGRESSING)
    if current is not None and current.get("reason") == du.TIMED_OUT:
        return
    paused_shown = current is not None and current.get("reason") == du.PAUSED
    if o.spec(d).get("paused") and not paused_shown:
        du.set_condition(d.setdefault("status", {}), du.new_condition(
            du.PROGRESSING, "Unknown", du.PAUSED, "Deployment is paused", s.now))
    elif not o.spec(d).get("paused") and paused_shown:
        du.set_condition(d.setdefault("status", {}), du.new_condition(
            du.PROGRESSING, "Unknown", du.RESUMED, "Deployment is resumed", s.now))


async def is_scaling_event(s: Sync) -> bool:
    """``isScalingEvent``: an active RS was sized for another replicas count."""
    new_rs, old = await new_and_old(s, create=False)
    want = str(du.replicas(s.d))
    for rs in du.active([*old, *([new_rs] if new_rs is not None else [])]):
        desired = (o.meta(rs).get("annotations") or {}).get(du.DESIRED_REPLICAS)
        if desired is not None and desired != want:
            return True
    return False


async def scale_sync(s: Sync) -> None:
    """``sync``: scale (paused, or replicas changed), clean history when paused, status."""
    new_rs, _ = await new_and_old(s, create=False)
    new_uid = o.uid(new_rs) if new_rs is not None else None
    await scale(s, new_rs, split(s, new_uid)[1])
    new_rs, old = split(s, new_uid)
    if o.spec(s.d).get("paused"):
        await cleanup(s, old)
        new_rs, old = split(s, new_uid)
    await s.sync_status(new_rs, old)


async def scale_and_record(s: Sync, rs: Obj, count: int) -> bool:
    """``scaleReplicaSetAndRecordEvent``: True if the size changed."""
    if du.replicas(rs) == count:
        return False
    await s.scale_rs(rs, count)
    return True


async def scale(s: Sync, new_rs: Obj | None, old: list[Obj]) -> None:
    """``scale``: one active RS takes all replicas; a saturated new RS empties the old
    ones; else a RollingUpdate spreads the change over the RSs by their share."""
    d = s.d
    only = _active_or_latest(new_rs, old)
    if only is not None:
        if du.replicas(only) != du.replicas(d):
            await scale_and_record(s, only, du.replicas(d))
        return
    if du.is_saturated(d, new_rs):
        for rs in du.active(old):
            await scale_and_record(s, rs, 0)
        return
    if du.is_rolling(d):
        await _proportional(s, du.active([*old, *([new_rs] if new_rs is not None else [])]))


def _active_or_latest(new_rs: Obj | None, old: list[Obj]) -> Obj | None:
    """``FindActiveOrLatest``."""
    if new_rs is None and not old:
        return None
    newest_first = sorted(old, key=du.by_creation, reverse=True)
    alive = du.active([*newest_first, *([new_rs] if new_rs is not None else [])])
    if len(alive) == 1:
        return alive[0]
    if not alive:
        return new_rs if new_rs is not None else newest_first[0]
    return None


async def _proportional(s: Sync, rss: list[Obj]) -> None:
    d = s.d
    allowed = du.replicas(d) + du.max_surge(d) if du.replicas(d) > 0 else 0
    to_add = allowed - du.total_spec(rss)
    operation = "up" if to_add > 0 else "down" if to_add < 0 else None
    # ReplicaSetsBySizeNewer (scale up) / BySizeOlder (down): larger first.
    newer = to_add > 0
    rss = sorted(rss, key=du.by_creation, reverse=newer)
    rss = sorted(rss, key=du.replicas, reverse=True)
    sizes, added = {}, 0
    for rs in rss:
        share = du.proportion(rs, d, to_add, added) if to_add else 0
        sizes[o.uid(rs)] = du.replicas(rs) + share
        added += share
    for i, rs in enumerate(rss):
        if i == 0 and to_add:
            sizes[o.uid(rs)] = max(0, sizes[o.uid(rs)] + to_add - added)
        await s.scale_rs(rs, sizes[o.uid(rs)], operation)


async def cleanup(s: Sync, old: list[Obj]) -> None:
    """``cleanupDeployment``: delete the oldest empty RSs beyond revisionHistoryLimit."""
    limit = o.spec(s.d).get("revisionHistoryLimit")
    if limit is None:
        return
    cleanable = sorted((rs for rs in old if not o.deleting(rs)), key=du.by_revision)
    for rs in cleanable[:max(0, len(cleanable) - int(limit))]:
        if (du.rs_status(rs, "replicas") or du.replicas(rs) or o.deleting(rs)
                or o.meta(rs).get("generation", 0) > du.rs_status(rs, "observedGeneration")):
            continue
        await s.ctl.delete_rs(rs)
        s.rss = [r for r in s.rss if r is not rs]


# -- RollingUpdate (rolling.go) --------------------------------------------------------------------

async def rolling(s: Sync) -> None:
    """``rolloutRolling``: grow the new RS within maxSurge, else shrink the old ones within
    maxUnavailable; clean history once complete."""
    new_rs, old = await new_and_old(s, create=True)
    assert new_rs is not None
    uid = o.uid(new_rs)
    if await _reconcile_new(s, new_rs):
        await sync_rollout_status(s, uid)
        return
    new_rs, old = split(s, uid)
    if new_rs is not None and await _reconcile_old(s, new_rs, old):
        await sync_rollout_status(s, uid)
        return
    if du.complete(s.d, o.status(s.d)):
        await cleanup(s, split(s, uid)[1])
    await sync_rollout_status(s, uid)


async def _reconcile_new(s: Sync, new_rs: Obj) -> bool:
    want = du.replicas(s.d)
    if du.replicas(new_rs) == want:
        return False
    if du.replicas(new_rs) > want:
        return await scale_and_record(s, new_rs, want)
    return await scale_and_record(s, new_rs, du.new_rs_new_replicas(s.d, s.rss, new_rs))


async def _reconcile_old(s: Sync, new_rs: Obj, old: list[Obj]) -> bool:
    d = s.d
    old_active = du.active(old)
    if du.total_spec(old_active) == 0:
        return False
    min_available = du.replicas(d) - du.max_unavailable(d)
    new_unavailable = du.replicas(new_rs) - du.rs_status(new_rs, "availableReplicas")
    most = du.total_spec(s.rss) - min_available - new_unavailable
    if most <= 0:
        return False
    cleaned = await _cleanup_unhealthy(s, old_active, most)
    _, old = split(s, o.uid(new_rs))
    scaled = await _scale_down_old(s, du.active(old))
    return cleaned + scaled > 0


async def _cleanup_unhealthy(s: Sync, old: list[Obj], most: int) -> int:
    """``cleanupUnhealthyReplicas``: take unavailable pods of old RSs first, oldest first."""
    total = 0
    for rs in sorted(old, key=du.by_creation):
        if total >= most:
            break
        unhealthy = du.replicas(rs) - du.rs_status(rs, "availableReplicas")
        if du.replicas(rs) == 0 or unhealthy <= 0:
            continue
        count = min(most - total, unhealthy)
        await s.scale_rs(rs, du.replicas(rs) - count)
        total += count
    return total


async def _scale_down_old(s: Sync, old: list[Obj]) -> int:
    """``scaleDownOldReplicaSetsForRollingUpdate``: as far as availability allows."""
    d = s.d
    min_available = du.replicas(d) - du.max_unavailable(d)
    available = du.total_status(s.rss, "availableReplicas")
    if available <= min_available:
        return 0
    budget, total = available - min_available, 0
    for rs in sorted(old, key=du.by_creation):
        if total >= budget:
            break
        if du.replicas(rs) == 0:
            continue
        count = min(du.replicas(rs), budget - total)
        await s.scale_rs(rs, du.replicas(rs) - count)
        total += count
    return total


# -- Recreate (recreate.go) ----------------------------------------------------------------------

async def recreate(s: Sync) -> None:
    """``rolloutRecreate``: old RSs to 0, wait for their pods to go, then the new RS."""
    new_rs, old = await new_and_old(s, create=False)
    uid = o.uid(new_rs) if new_rs is not None else None
    scaled = False
    for rs in du.active(old):
        scaled = await scale_and_record(s, rs, 0) or scaled
    if scaled or _old_pods_running(s, uid):
        await sync_rollout_status(s, uid)
        return
    if new_rs is None:
        new_rs, old = await new_and_old(s, create=True)
        assert new_rs is not None
        uid = o.uid(new_rs)
    await scale_and_record(s, new_rs, du.replicas(s.d))
    if du.complete(s.d, o.status(s.d)):
        await cleanup(s, split(s, uid)[1])
    await sync_rollout_status(s, uid)


def _old_pods_running(s: Sync, new_uid: str | None) -> bool:
    """``oldPodsRunning``: an old RS still counts pods, or a pod of one is not finished."""
    _, old = split(s, new_uid)
    if du.total_status(old, "replicas") > 0:
        return True
    for rs_uid, pods in s.ctl.pods_of(s.rss).items():
        if rs_uid == new_uid:
            continue
        if any(o.phase(p) not in (o.SUCCEEDED, o.FAILED) for p in pods):
            return True
    return False


# -- status and progress (progress.go) -----------------------------------------------------------

async def sync_rollout_status(s: Sync, new_uid: str | None) -> None:
    """``syncRolloutStatus``: counts, Available, Progressing (created, updated, complete,
    timed out), the RSs' ReplicaFailure; written if changed, else requeued for the
    progress deadline."""
    d = s.d
    new_rs, old = split(s, new_uid)
    all_rss = [*old, *([new_rs] if new_rs is not None else [])]
    status = du.calculate_status(all_rss, new_rs, d, s.now)
    if not du.has_progress_deadline(d):
        du.remove_condition(status, du.PROGRESSING)
    _progress(s, status, new_rs)
    failure = _replica_failure(new_rs, old)
    if failure is not None:
        du.set_condition(status, failure)
    else:
        du.remove_condition(status, du.REPLICA_FAILURE)
    d["status"] = status
    cached = s.cached
    if status == o.status(cached) and (o.meta(d).get("annotations")
                                       == o.meta(cached).get("annotations")):
        _requeue_stuck(s, status)
        return
    await s.ctl.write_status(cached, d)


def _progress(s: Sync, status: Obj, new_rs: Obj | None) -> None:
    d = s.d
    current = du.get_condition(o.status(d), du.PROGRESSING)
    done = (status["replicas"] == status["updatedReplicas"] and current is not None
            and current.get("reason") == du.NEW_RS_AVAILABLE)
    if not du.has_progress_deadline(d) or done:
        return
    name = o.name(new_rs) if new_rs is not None else ""
    if du.complete(d, status):
        msg = f'ReplicaSet "{name}" has successfully progressed.' if new_rs is not None \
            else f'Deployment "{o.name(d)}" has successfully progressed.'
        du.set_condition(status, du.new_condition(du.PROGRESSING, "True", du.NEW_RS_AVAILABLE,
                                                  msg, s.now))
    elif du.progressing(d, status):
        msg = f'ReplicaSet "{name}" is progressing.' if new_rs is not None \
            else "Deployment is progressing"
        condition = du.new_condition(du.PROGRESSING, "True", du.RS_UPDATED, msg, s.now)
        if current is not None:
            if current.get("status") == "True":
                condition["lastTransitionTime"] = current.get("lastTransitionTime")
            du.remove_condition(status, du.PROGRESSING)
        du.set_condition(status, condition)
    elif du.timed_out(d, status, s.now):
        msg = f'ReplicaSet "{name}" has timed out progressing.' if new_rs is not None \
            else f'Deployment "{o.name(d)}" has timed out progressing.'
        du.set_condition(status, du.new_condition(du.PROGRESSING, "False", du.TIMED_OUT,
                                                  msg, s.now))


def _replica_failure(new_rs: Obj | None, old: list[Obj]) -> Obj | None:
    """``getReplicaFailures``: the new RS's ReplicaFailure, else an old one's."""
    for rs in [*([new_rs] if new_rs is not None else []), *old]:
        cond = o.condition(rs, du.REPLICA_FAILURE)
        if cond is not None:
            when = cond.get("lastTransitionTime")
            return {"type": du.REPLICA_FAILURE, "status": cond.get("status", "True"),
                    "lastUpdateTime": when, "lastTransitionTime": when,
                    "reason": cond.get("reason", ""), "message": cond.get("message", "")}
    return None


def _requeue_stuck(s: Sync, status: Obj) -> None:
    """``requeueStuckDeployment``: look again when the progress deadline passes."""
    d = s.d
    current = du.get_condition(o.status(s.cached), du.PROGRESSING)
    if not du.has_progress_deadline(d) or current is None:
        return
    if du.complete(d, status) or current.get("reason") == du.TIMED_OUT:
        return
    since = o.seconds_since(current.get("lastUpdateTime"), s.now)
    if since is None:
        return
    after = int(o.spec(d).get("progressDeadlineSeconds") or 0) - since
    key = object_key(s.cached)
    if after < 1:
        s.ctl.queue.add_rate_limited(key)
    else:
        s.ctl.queue.add_after(key, after + 1)
