"""The cronjob controller's sync over a filled cache, a fake client and an injected clock."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from servers.controller_manager.controllers import cronjobschedule as cs
from servers.controller_manager.controllers.cronjob import CronJobController
from tests.unit.controller_manager.fakes import FakeClient, FakeFactory, context

Obj = dict[str, Any]
UID = "cj-uid"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def cronjob(schedule: str = "* * * * *", *, created: str = "2026-01-01T00:00:10Z",
            status: Obj | None = None, **spec: Any) -> Obj:
    base: Obj = {"schedule": schedule, "concurrencyPolicy": "Allow", "suspend": False,
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                 "jobTemplate": {"metadata": {"labels": {"team": "a"}}, "spec": {
                     "template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "x"}]}}}}}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "tick", "namespace": "default", "uid": UID,
                         "creationTimestamp": created, "resourceVersion": "4"},
            "spec": base, "status": status or {}}


def child(name: str, *, done: str | None = None, start: str = "2026-01-01T00:00:00Z",
          completed: str | None = None) -> Obj:
    status: Obj = {"startTime": start}
    if done:
        status["conditions"] = [{"type": done, "status": "True"}]
    if completed:
        status["completionTime"] = completed
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "resourceVersion": "9",
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                              "name": "tick", "uid": UID, "controller": True}]},
            "spec": {}, "status": status}


def setup(now: float) -> tuple[CronJobController, FakeFactory, FakeClient]:
    ctx, factory, client = context()
    controller = CronJobController(ctx, workers=1, clock=lambda: now)
    controller.local = timezone.utc
    return controller, factory, client


def events(controller: Any) -> list[tuple[str, str]]:
    out = []
    for queue in controller.recorder._queues:
        while not queue.empty():
            _, event = queue.get_nowait()
            out.append((event["reason"], event["message"]))
    return out


def status_of(client: FakeClient) -> Obj:
    return client.verbs("update/status", "cronjobs")[-1][4]["status"]


async def test_a_due_start_creates_the_job_named_by_its_minute() -> None:
    controller, factory, client = setup(at("2026-01-01T00:01:05"))
    factory["cronjobs"].add(cronjob())
    await controller.sync("default/tick")
    [create] = client.verbs("create", "jobs")
    minutes = int(at("2026-01-01T00:01:00")) // 60
    body = create[4]
    assert create[3] == f"tick-{minutes}"
    assert body["metadata"]["labels"] == {"team": "a"}
    assert body["metadata"]["annotations"] == {cs.SCHEDULED_ANNOTATION: "2026-01-01T00:01:00Z"}
    assert body["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert body["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    status = status_of(client)
    assert status["lastScheduleTime"] == "2026-01-01T00:01:00Z"
    assert [r["name"] for r in status["active"]] == [f"tick-{minutes}"]
    assert events(controller) == [("SuccessfulCreate", f"Created job tick-{minutes}")]
    # Nothing twice for the same start time.
    client.writes.clear()
    factory["cronjobs"].add(cronjob(status=status))
    await controller.sync("default/tick")
    assert client.verbs("create") == []


async def test_nothing_before_the_first_start_time() -> None:
    controller, factory, client = setup(at("2026-01-01T00:00:50"))
    factory["cronjobs"].add(cronjob())
    await controller.sync("default/tick")
    assert client.writes == []


@pytest.mark.parametrize(("descriptor", "now", "due"), [
    ("@hourly", "2026-01-01T01:00:30", "2026-01-01T01:00:00"),
    ("@daily", "2026-01-02T00:00:30", "2026-01-02T00:00:00"),
    ("@midnight", "2026-01-02T00:00:30", "2026-01-02T00:00:00"),
    ("@weekly", "2026-01-04T00:00:30", "2026-01-04T00:00:00"),  # a Sunday
    ("@monthly", "2026-02-01T00:00:30", "2026-02-01T00:00:00"),
    ("@yearly", "2027-01-01T00:00:30", "2027-01-01T00:00:00"),
])
def test_descriptors(descriptor: str, now: str, due: str) -> None:
    cj = cronjob(descriptor)
    schedule = cs.Schedule.of(cj)
    moment = datetime.fromisoformat(now).replace(tzinfo=timezone.utc)
    assert cs.most_recent(cj, moment, schedule)[0] == \
        datetime.fromisoformat(due).replace(tzinfo=timezone.utc)


def test_time_zones_from_the_field_and_the_tz_prefix() -> None:
    cj = cronjob("0 9 * * *", timeZone="Europe/Berlin")
    schedule = cs.Schedule.of(cj)
    first = schedule.next_after(datetime(2026, 7, 1, tzinfo=timezone.utc))
    assert first == datetime(2026, 7, 1, 7, 0, tzinfo=timezone.utc)  # CEST
    assert cs.job_from_template(cj, first)["metadata"]["annotations"][
        cs.SCHEDULED_ANNOTATION] == "2026-07-01T09:00:00+02:00"
    prefixed = cs.Schedule.of(cronjob("TZ=America/New_York 0 9 * * *"))
    assert prefixed.zone == ZoneInfo("America/New_York")
    with pytest.raises(cs.ScheduleError, match="unknown time zone"):
        cs.Schedule.of(cronjob(timeZone="Mars/Olympus"))
    with pytest.raises(cs.ScheduleError, match="unparseable"):
        cs.Schedule.of(cronjob("0 0 31 2 *"))


async def test_starting_deadline_skips_a_late_start() -> None:
    # kube looks for start times only within the deadline: a late one is never started.
    controller, factory, client = setup(at("2026-01-01T00:01:50"))
    factory["cronjobs"].add(cronjob(startingDeadlineSeconds=30))
    await controller.sync("default/tick")
    assert client.verbs("create") == []
    controller, factory, client = setup(at("2026-01-01T00:01:25"))
    factory["cronjobs"].add(cronjob(startingDeadlineSeconds=30))
    await controller.sync("default/tick")
    assert len(client.verbs("create", "jobs")) == 1


async def test_too_many_missed_start_times_warn_and_start_the_latest() -> None:
    controller, factory, client = setup(at("2026-01-02T00:00:30"))
    factory["cronjobs"].add(cronjob())
    await controller.sync("default/tick")
    [create] = client.verbs("create", "jobs")
    assert create[3] == f"tick-{int(at('2026-01-02T00:00:00')) // 60}"
    reasons = [r for r, _ in events(controller)]
    assert sorted(reasons) == ["SuccessfulCreate", "TooManyMissedTimes"]


async def test_forbid_skips_while_a_job_is_active_and_replace_deletes_it() -> None:
    running = child("tick-1")
    active = {"active": [{"kind": "Job", "name": "tick-1", "namespace": "default",
                          "uid": "uid-tick-1"}], "lastScheduleTime": "2026-01-01T00:01:00Z"}
    controller, factory, client = setup(at("2026-01-01T00:02:05"))
    factory["jobs"].add(running)
    factory["cronjobs"].add(cronjob(concurrencyPolicy="Forbid", status=active))
    await controller.sync("default/tick")
    assert client.verbs("create") == []
    assert ("JobAlreadyActive", "Not starting job because prior execution is running and "
            "concurrency policy is Forbid") in events(controller)
    controller, factory, client = setup(at("2026-01-01T00:02:05"))
    factory["jobs"].add(running)
    factory["cronjobs"].add(cronjob(concurrencyPolicy="Replace", status=active))
    await controller.sync("default/tick")
    [delete] = client.verbs("delete", "jobs")
    assert delete[3] == "tick-1" and delete[4]["propagation_policy"] == "Background"
    assert len(client.verbs("create", "jobs")) == 1
    assert [r["name"] for r in status_of(client)["active"]] != ["tick-1"]


async def test_finished_jobs_leave_active_and_old_ones_are_deleted() -> None:
    controller, factory, client = setup(at("2026-01-01T00:05:30"))
    names = [f"tick-{i}" for i in range(5)]
    for i, name in enumerate(names):
        factory["jobs"].add(child(name, done="Complete", start=f"2026-01-01T00:0{i}:00Z",
                                  completed=f"2026-01-01T00:0{i}:30Z"))
    factory["jobs"].add(child("tick-f1", done="Failed", start="2026-01-01T00:00:00Z"))
    factory["jobs"].add(child("tick-f2", done="Failed", start="2026-01-01T00:01:00Z"))
    status = {"active": [{"kind": "Job", "name": "tick-4", "namespace": "default",
                          "uid": "uid-tick-4"}], "lastScheduleTime": "2026-01-01T00:05:00Z"}
    factory["cronjobs"].add(cronjob(status=status))
    await controller.sync("default/tick")
    assert sorted(w[3] for w in client.verbs("delete", "jobs")) == ["tick-0", "tick-1",
                                                                    "tick-f1"]
    new = status_of(client)
    assert "active" not in new
    assert new["lastSuccessfulTime"] == "2026-01-01T00:04:30Z"
    assert ("SawCompletedJob", "Saw completed job: tick-4, condition: Complete") in \
        events(controller)


async def test_suspended_cronjobs_start_nothing() -> None:
    controller, factory, client = setup(at("2026-01-01T00:01:05"))
    factory["cronjobs"].add(cronjob(suspend=True))
    await controller.sync("default/tick")
    assert client.verbs("create") == []


async def test_the_next_look_is_just_after_the_next_start_time() -> None:
    _, factory, _ = setup(at("2026-01-01T00:01:05"))
    cj = factory["cronjobs"].add(cronjob(status={"lastScheduleTime": "2026-01-01T00:01:00Z"}))
    schedule = cs.Schedule.of(cj)
    now = datetime.fromtimestamp(at("2026-01-01T00:01:05"), timezone.utc)
    assert cs.next_delay(cj, now, schedule) == pytest.approx(55.1)


async def test_a_job_missing_from_a_stale_cached_status_is_checked_uncached() -> None:
    controller, factory, client = setup(at("2026-01-01T00:01:30"))
    minutes = int(at("2026-01-01T00:01:00")) // 60
    made = child(f"tick-{minutes}")
    fresh = cronjob(status={"lastScheduleTime": "2026-01-01T00:01:00Z", "active": [
        {"kind": "Job", "name": f"tick-{minutes}", "namespace": "default",
         "uid": f"uid-tick-{minutes}"}]})
    client.objects[("cronjobs", "default", "tick")] = fresh
    factory["jobs"].add(made)
    factory["cronjobs"].add(cronjob())  # the cache has not seen our status write yet
    await controller.sync("default/tick")
    assert client.verbs("create") == []
    assert [r for r, _ in events(controller)] == []


def test_every_is_a_constant_delay_on_the_second() -> None:
    assert cs.go_duration("1h30m") == 5400.0
    assert cs.go_duration("1.5s") == 1.5
    assert cs.go_duration("5 minutes") is None
    cj = cronjob("@every 90s", created="2026-01-01T00:00:00Z")
    schedule = cs.Schedule.of(cj)
    now = datetime(2026, 1, 1, 0, 5, 0, tzinfo=timezone.utc)
    # Starts at 1:30, 3:00, 4:30: the latest due is 4:30, three were missed.
    assert cs.most_recent(cj, now, schedule) == (
        datetime(2026, 1, 1, 0, 4, 30, tzinfo=timezone.utc), 3)
    with pytest.raises(cs.ScheduleError, match="duration"):
        cs.Schedule.of(cronjob("@every soon"))
