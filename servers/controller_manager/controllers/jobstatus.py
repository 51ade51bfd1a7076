"""One sync's view of a Job: which pods ended, whether it is done, what status it shows.

Pure (no I/O): ``JobView`` is built from the Job, its claimed pods and the clock, and the
controller (job.py) acts on it. The rules are ``syncJob``'s and
``trackJobStatusAndRemoveFinalizers``' in kubernetes ``pkg/controller/job/job_controller.go``
(see job.py's docstring for the steps); conditions and messages are kube's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from servers.controller_manager.controllers import jobpods as jp
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.ranking import pods_to_delete

Obj = dict[str, Any]

COMPLETE, FAILED, FAILURE_TARGET, SUCCESS_CRITERIA_MET, SUSPENDED = (
    "Complete", "Failed", "FailureTarget", "SuccessCriteriaMet", "Suspended")
BACKOFF_LIMIT = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS = ("CompletionsReached", "Reached expected number of succeeded pods")


class SyncError(Exception):
    """Creating or deleting pods failed (the Job's key is retried with backoff)."""


@dataclass(frozen=True)
class Finishing:
    """The interim condition a Job reached: FailureTarget or SuccessCriteriaMet."""

    type: str
    reason: str
    message: str

    @property
    def terminal(self) -> str:
        return FAILED if self.type == FAILURE_TARGET else COMPLETE


def timestamp(seconds: float) -> str:
    """metav1.Time: RFC 3339 to the second, UTC."""
    return datetime.fromtimestamp(int(seconds), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def finished(job: Obj) -> bool:
    """Complete or Failed (``IsJobFinished``)."""
    return any(_true(job, t) for t in (COMPLETE, FAILED))


def _true(job: Obj, type_: str) -> bool:
    found = o.condition(job, type_)
    return found is not None and found.get("status") == "True"


def _int(value: object, default: int) -> int:
    return default if value is None else int(value)  # type: ignore[call-overload]


class JobView:
    """Everything one sync decides from the cache; see the module docstring."""

    def __init__(self, job: Obj, pods: list[Obj], now: float, uncounting: set[str]) -> None:
        self.job, self.now = job, now
        spec = o.spec(job)
        self.status = copy.deepcopy(o.status(job))
        self.indexed = spec.get("completionMode") == "Indexed"
        self.completions: int | None = spec.get("completions")
        self.parallelism = _int(spec.get("parallelism"), 1)
        self.suspended = bool(spec.get("suspend"))
        self.pods = [p for p in pods if o.uid(p) not in uncounting]
        self.active = [p for p in pods if o.is_active(p)]
        self.terminating = sum(1 for p in pods if jp.is_terminating(p))
        uncounted = self.status.get("uncountedTerminatedPods") or {}
        self.succeeded_uids = list(uncounted.get("succeeded") or ())
        self.failed_uids = list(uncounted.get("failed") or ())
        self.completed = jp.parse_intervals(self.status.get("completedIndexes"))
        self.new_terminated = False
        self.created, self.deleted = 0, set[str]()
        self._remove: dict[str, Obj] = {}
        fail_message = self._classify()
        self.start_time = self.status.get("startTime")
        if self.start_time is None and not self.suspended:
            self.start_time = timestamp(now)
        self.finishing = self._finishing(fail_message)
        if self.finishing is not None and self.finishing.type == FAILURE_TARGET:
            self._fail_the_rest()
        self.backoff = self._backoff()

    # -- counting ----------------------------------------------------------------------------

    def _classify(self) -> str | None:
        """Newly ended tracked pods into the uncounted lists; the first FailJob message."""
        fail_message = None
        known = set(self.succeeded_uids) | set(self.failed_uids)
        for pod in self.pods:
            if not jp.tracked(pod):
                continue
            uid = o.uid(pod)
            if uid in known:
                self._remove[uid] = pod
            elif o.phase(pod) == o.SUCCEEDED:
                self._remove[uid] = pod
                self._succeeded(pod)
            elif jp.is_failed(pod, self.job):
                self._remove[uid] = pod
                match = jp.match_failure_policy(self.job, pod)
                if match is not None and match[0] == "Ignore":
                    continue
                if match is not None and match[0] == "FailJob" and fail_message is None:
                    fail_message = match[1]
                self._failed(pod)
        return fail_message

    def _succeeded(self, pod: Obj) -> None:
        if not self.indexed:
            self.succeeded_uids.append(o.uid(pod))
            self.new_terminated = True
            return
        index = jp.pod_index(pod)  # the index is enough: no uid to track (kube)
        if index is not None and index < (self.completions or 0) and \
                index not in self.completed:
            self.completed.add(index)
            self.new_terminated = True

    def _failed(self, pod: Obj) -> None:
        self.failed_uids.append(o.uid(pod))
        self.new_terminated = True

    def _fail_the_rest(self) -> None:
        """A failing Job counts every pod it still tracks and that did not succeed."""
        known = set(self.succeeded_uids) | set(self.failed_uids)
        for pod in self.pods:
            if jp.tracked(pod) and o.uid(pod) not in known and o.phase(pod) != o.SUCCEEDED:
                self._remove[o.uid(pod)] = pod
                self._failed(pod)

    def succeeded(self) -> int:
        if self.indexed:
            return len(self.completed)
        return _int(self.status.get("succeeded"), 0) + len(self.succeeded_uids)

    def failed(self) -> int:
        return _int(self.status.get("failed"), 0) + len(self.failed_uids)

    # -- done? -------------------------------------------------------------------------------

    def _finishing(self, fail_message: str | None) -> Finishing | None:
        for type_ in (FAILURE_TARGET, SUCCESS_CRITERIA_MET):
            found = o.condition(self.job, type_)
            if found is not None and found.get("status") == "True":
                return Finishing(type_, str(found.get("reason", "")),
                                 str(found.get("message", "")))
        if fail_message is not None:
            return Finishing(FAILURE_TARGET, "PodFailurePolicy", fail_message)
        limit = _int(o.spec(self.job).get("backoffLimit"), 6)
        if self.failed() > limit or jp.restarts_past_limit(self.job, self.active):
            return Finishing(FAILURE_TARGET, *BACKOFF_LIMIT)
        if self._past_deadline():
            return Finishing(FAILURE_TARGET, *DEADLINE)
        if self._complete():
            return Finishing(SUCCESS_CRITERIA_MET, *COMPLETIONS)
        return None

    def _past_deadline(self) -> bool:
        deadline = o.spec(self.job).get("activeDeadlineSeconds")
        started = o.parse_time(self.start_time)
        if deadline is None or started is None or self.suspended:
            return False
        return self.now - started.timestamp() >= float(deadline)

    def _complete(self) -> bool:
        if self.active:
            return False
        if self.completions is None:
            return self.succeeded() > 0
        return self.succeeded() >= self.completions

    # -- what to run -------------------------------------------------------------------------

    def _backoff(self) -> float:
        """Seconds to wait before creating pods after failures since the last success."""
        ended = [p for p in self.pods if o.phase(p) in (o.SUCCEEDED, o.FAILED)]
        last_success = max((jp.finish_time(p, self.now) for p in ended
                            if o.phase(p) == o.SUCCEEDED), default=0.0)
        failures = [jp.finish_time(p, self.now) for p in ended if o.phase(p) == o.FAILED
                    and (jp.match_failure_policy(self.job, p) or ("",))[0] != "Ignore"]
        failures = [t for t in failures if t >= last_success]
        return jp.backoff_remaining(len(failures), max(failures, default=0.0), self.now)

    def _by_index(self) -> tuple[dict[int, Obj], list[Obj]]:
        kept: dict[int, Obj] = {}
        surplus: list[Obj] = []
        for pod in sorted(self.active, key=lambda p: str(o.meta(p).get("creationTimestamp"))):
            index = jp.pod_index(pod)
            if index is None or index >= (self.completions or 0) or index in self.completed \
                    or index in kept:
                surplus.append(pod)
            else:
                kept[index] = pod
        return kept, surplus

    def surplus(self) -> list[Obj]:
        """Active pods to delete: beyond what is wanted (Indexed: duplicates, out of range)."""
        if self.indexed:
            kept, surplus = self._by_index()
            extra = len(kept) - self.parallelism
            if extra > 0:
                surplus += [kept[i] for i in sorted(kept)[-extra:]]
            return surplus
        extra = len(self.active) - self._wanted_active()
        return pods_to_delete(self.active, extra, self.now) if extra > 0 else []

    def _wanted_active(self) -> int:
        if self.completions is None:
            return len(self.active) if self.succeeded() > 0 else self.parallelism
        return max(0, min(self.parallelism, self.completions - self.succeeded()))

    def _busy(self) -> int:
        """Pods that hold a place: terminating ones too when only Failed pods are replaced
        (``onlyReplaceFailedPods``: podReplacementPolicy Failed, or a pod failure policy)."""
        spec = o.spec(self.job)
        if spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy"):
            return self.terminating
        return 0

    def wanted(self) -> list[int | None]:
        """The pods to create: an index each for an Indexed Job, else ``None`` each."""
        if not self.indexed:
            return [None] * max(0, self._wanted_active() - len(self.active) - self._busy())
        kept, _ = self._by_index()
        pending = [i for i in range(self.completions or 0)
                   if i not in self.completed and i not in kept]
        return list(pending[:max(0, self.parallelism - len(kept) - self._busy())])

    # -- status --------------------------------------------------------------------------------

    def has_new_terminated(self) -> bool:
        return self.new_terminated

    def to_uncount(self) -> list[Obj]:
        """The tracked pods whose finalizer comes off once they are recorded."""
        return list(self._remove.values())

    def uncounted_status(self) -> Obj:
        """The status of counting's first step: the ended pods recorded, nothing counted."""
        status = copy.deepcopy(self.status)
        status["uncountedTerminatedPods"] = _uncounted(self.succeeded_uids, self.failed_uids)
        if self.indexed and self.completed:
            status["completedIndexes"] = jp.format_intervals(self.completed)
        self.status = status
        return status

    def next_status(self, removed: set[str]) -> Obj:
        """The status after this sync, given the pods whose finalizer came off."""
        status = self.uncounted_status()
        still = {o.uid(p) for p in self.pods if jp.tracked(p)} - removed
        counted_s = [u for u in self.succeeded_uids if u not in still]
        counted_f = [u for u in self.failed_uids if u not in still]
        self.succeeded_uids = [u for u in self.succeeded_uids if u in still]
        self.failed_uids = [u for u in self.failed_uids if u in still]
        status["uncountedTerminatedPods"] = _uncounted(self.succeeded_uids, self.failed_uids)
        _set_count(status, "succeeded", len(self.completed) if self.indexed else
                   _int(status.get("succeeded"), 0) + len(counted_s))
        _set_count(status, "failed", _int(status.get("failed"), 0) + len(counted_f))
        active = [p for p in self.active if o.uid(p) not in self.deleted]
        _set_count(status, "active", len(active) + self.created)
        status["ready"] = sum(1 for p in active if o.is_ready(p))
        status["terminating"] = self.terminating + len(self.deleted)
        if self.start_time is not None:
            status["startTime"] = self.start_time
        self._conditions(status)
        return status

    def _conditions(self, status: Obj) -> None:
        conditions = [c for c in status.get("conditions") or () if isinstance(c, dict)]
        now = timestamp(self.now)
        self._suspension(conditions, status, now)
        done = self.finishing
        if done is not None:
            if not any(c.get("type") == done.type for c in conditions):
                conditions.append(_condition(done.type, done.reason, done.message, now))
            if not self.succeeded_uids and not self.failed_uids and status.get("active", 0) \
                    == 0 and status["terminating"] == 0:
                conditions.append(_condition(done.terminal, done.reason, done.message, now))
                if done.terminal == COMPLETE:
                    status["completionTime"] = now
        if conditions:
            status["conditions"] = conditions

    def _suspension(self, conditions: list[Obj], status: Obj, now: str) -> None:
        current = next((c for c in conditions if c.get("type") == SUSPENDED), None)
        if self.suspended and (current is None or current.get("status") != "True"):
            if current is not None:
                conditions.remove(current)
            conditions.append(_condition(SUSPENDED, "JobSuspended", "Job suspended", now))
        elif not self.suspended and current is not None and current.get("status") == "True":
            conditions.remove(current)
            conditions.append({**_condition(SUSPENDED, "JobResumed", "Job resumed", now),
                               "status": "False"})
            # kube restarts the activeDeadlineSeconds clock on resume.
            self.start_time = status["startTime"] = now

    def events(self, before: Obj, after: Obj) -> list[tuple[str, str, bool]]:
        """(reason, message, warning) for the conditions this sync turned on."""
        old = {(c.get("type"), c.get("status")) for c in before.get("conditions") or ()}
        out: list[tuple[str, str, bool]] = []
        for cond in after.get("conditions") or ():
            if (cond.get("type"), cond.get("status")) in old:
                continue
            kind, reason = cond.get("type"), str(cond.get("reason", ""))
            if kind == COMPLETE:
                out.append(("Completed", "Job completed", False))
            elif kind == FAILED:
                out.append((reason, str(cond.get("message", "")), True))
            elif kind == SUSPENDED:
                out.append(("Suspended", "Job suspended", False) if reason == "JobSuspended"
                           else ("Resumed", "Job resumed", False))
        return out


def _uncounted(succeeded: list[str], failed: list[str]) -> Obj:
    out: Obj = {}
    if succeeded:
        out["succeeded"] = list(succeeded)
    if failed:
        out["failed"] = list(failed)
    return out


def _set_count(status: Obj, member: str, value: int) -> None:
    if value:
        status[member] = value
    else:
        status.pop(member, None)


def _condition(type_: str, reason: str, message: str, now: str) -> Obj:
    return {"type": type_, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}
