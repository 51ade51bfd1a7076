"""CronJob schedules and the Jobs they make (no I/O): kube's ``pkg/controller/cronjob/utils.go``.

Schedules are read by cronsim (a kept, pure-Python cron library) in the CronJob's time zone:
``spec.timeZone``, else a ``TZ=``/``CRON_TZ=`` prefix of the schedule, else the
controller-manager's local zone (kube's ``time.Local``). robfig/cron's descriptors, which kube
accepts (``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/``@midnight``,
``@hourly``), are expanded to their five fields first; ``@every DURATION`` (Go's duration
syntax, at least a second) is robfig's ``ConstantDelaySchedule``: every DURATION, on the
second.

``most_recent`` is ``mostRecentScheduleTime``: the latest start time due since the last one
(or the CronJob's creation, or ``now - startingDeadlineSeconds`` if later), with the count of
missed start times (more than 100 is kube's "too many missed start times" warning). A Job of
a start time is ``NAME-<minutes since the epoch>`` (``getJobName``).
"""

from __future__ import annotations

import copy
import os
import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from cronsim import CronSim, CronSimError

from servers.controller_manager.controllers import objects as o

Obj = dict[str, Any]

SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
TOO_MANY_MISSED = 100
_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                "@hourly": "0 * * * *"}


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                 "h": 3600.0}


def go_duration(text: str) -> float | None:
    """Seconds of a Go duration ("1h30m", "90s", "1.5h"); None when it is not one."""
    rest, total = text.strip(), 0.0
    if not rest:
        return None
    while rest:
        match = _DURATION_PART.match(rest)
        if match is None:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        rest = rest[match.end():]
    return total


class ScheduleError(ValueError):
    """A schedule or time zone the controller cannot use (kube's UnparseableSchedule /
    UnknownTimeZone events)."""


def local_zone() -> tzinfo:
    """The controller-manager's own zone: $TZ, else /etc/localtime, else UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    try:
        if name:
            return zoneinfo.ZoneInfo(name)
        with open("/etc/localtime", "rb") as data:
            return zoneinfo.ZoneInfo.from_file(data, key="localtime")
    except (OSError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        return timezone.utc


def _zone(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError) as exc:
        msg = f"invalid timeZone: {name!r}: unknown time zone {name}"
        raise ScheduleError(msg) from exc


@dataclass(frozen=True)
class Schedule:
    """Five cron fields read in one time zone, or a constant delay (``@every``)."""

    expression: str
    zone: tzinfo
    every: float | None = None

    @classmethod
    def of(cls, cronjob: Obj, local: tzinfo | None = None) -> Schedule:
        """The CronJob's schedule; ``ScheduleError`` when it does not parse."""
        spec = o.spec(cronjob)
        text = str(spec.get("schedule") or "").strip()
        zone: tzinfo = local if local is not None else timezone.utc
        if spec.get("timeZone"):
            zone = _zone(str(spec["timeZone"]))
        if text.startswith(("TZ=", "CRON_TZ=")):
            prefix, _, text = text.partition(" ")
            zone = _zone(prefix.split("=", 1)[1])
            text = text.strip()
        if text.startswith("@every "):
            delay = go_duration(text[len("@every "):])
            if delay is None:
                msg = f"unparseable schedule: {text!r}: failed to parse duration"
                raise ScheduleError(msg)
            return cls(text, zone, every=max(1.0, float(int(delay))))  # robfig: whole seconds
        expression = _DESCRIPTORS.get(text, text)
        if len(expression.split()) != 5:
            msg = f"unparseable schedule: {text!r}: expected exactly 5 fields"
            raise ScheduleError(msg)
        schedule = cls(expression, zone)
        try:
            schedule.next_after(datetime.now(timezone.utc))
        except (CronSimError, StopIteration) as exc:
            msg = f"unparseable schedule: {text!r}: {exc}"
            raise ScheduleError(msg) from exc
        return schedule

    def latest_until(self, moment: datetime) -> datetime:
        """The last start time at or before ``moment`` (UTC); not for ``@every``."""
        after = moment.replace(microsecond=0) + timedelta(seconds=1)
        return next(CronSim(self.expression, after.astimezone(self.zone),
                            reverse=True)).astimezone(timezone.utc)

    def next_after(self, moment: datetime) -> datetime:
        """The first start time strictly after ``moment`` (UTC)."""
        if self.every is not None:
            return moment.replace(microsecond=0) + timedelta(seconds=self.every)
        return next(CronSim(self.expression, moment.astimezone(self.zone))).astimezone(
            timezone.utc)


def most_recent(cronjob: Obj, now: datetime, schedule: Schedule) -> tuple[datetime | None, int]:
    """The latest start time due at ``now`` and how many were missed (0: none due)."""
    earliest = o.parse_time(o.status(cronjob).get("lastScheduleTime")) or \
        o.parse_time(o.meta(cronjob).get("creationTimestamp")) or now
    deadline = o.spec(cronjob).get("startingDeadlineSeconds")
    if deadline is not None:
        earliest = max(earliest, now - timedelta(seconds=int(deadline)))
    first = schedule.next_after(earliest)
    if now < first:
        return None, 0
    second = schedule.next_after(first)
    if now < second:
        return first, 1
    # As kube: the count assumes even spacing; the time itself is exact.
    interval = max(1.0, (second - first).total_seconds())
    missed = int((now - first).total_seconds() // interval) + 1
    if schedule.every is not None:
        return first + timedelta(seconds=(missed - 1) * interval), missed
    return schedule.latest_until(now), missed


def next_delay(cronjob: Obj, now: datetime, schedule: Schedule) -> float:
    """Seconds until the next start time, plus kube's 100 ms (``nextScheduleTimeDuration``)."""
    latest, _ = most_recent(cronjob, now, schedule)
    base = latest if latest is not None else (
        o.parse_time(o.status(cronjob).get("lastScheduleTime")) or
        o.parse_time(o.meta(cronjob).get("creationTimestamp")) or now)
    return max(0.0, (schedule.next_after(base) - now).total_seconds()) + 0.1


def job_name(cronjob: Obj, scheduled: datetime) -> str:
    """``getJobName``: the CronJob's name and the start time in minutes since the epoch."""
    return f"{o.name(cronjob)}-{int(scheduled.timestamp()) // 60}"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def job_from_template(cronjob: Obj, scheduled: datetime) -> Obj:
    """``getJobFromTemplate2``: the Job of one start time, controlled by the CronJob; its
    scheduled-timestamp annotation is in ``spec.timeZone`` (UTC without one, as kube)."""
    template = o.spec(cronjob).get("jobTemplate") or {}
    tmeta = o.meta(template)
    annotations = dict(tmeta.get("annotations") or {})
    zone = o.spec(cronjob).get("timeZone")
    local = scheduled.astimezone(_zone(str(zone)) if zone else timezone.utc)
    annotations[SCHEDULED_ANNOTATION] = local.isoformat() if local.utcoffset() else \
        rfc3339(scheduled)
    metadata: Obj = {"name": job_name(cronjob, scheduled), "annotations": annotations,
                     "ownerReferences": [o.new_controller_ref(cronjob)]}
    if tmeta.get("labels"):
        metadata["labels"] = dict(tmeta["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
            "spec": copy.deepcopy(o.spec(template))}
