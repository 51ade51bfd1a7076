"""The job controller's sync over a filled cache and a fake client (clock injected)."""

from __future__ import annotations

from typing import Any

from servers.controller_manager.controllers import jobpods as jp
from servers.controller_manager.controllers.job import JobController
from servers.controller_manager.controllers.jobstatus import timestamp
from tests.unit.controller_manager.fakes import FakeClient, FakeFactory, context

Obj = dict[str, Any]
NOW = 1_800_000_000.0
UID = "job-uid"
SELECTOR = {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}


def job(name: str = "pi", *, status: Obj | None = None, **spec: Any) -> Obj:
    base: Obj = {"completions": 1, "parallelism": 1, "backoffLimit": 6,
                 "completionMode": "NonIndexed", "suspend": False, "selector": SELECTOR,
                 "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": UID,
                                                       "job-name": name}},
                              "spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "c", "image": "x"}]}}}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "default", "uid": UID,
                         "resourceVersion": "3"},
            "spec": base, "status": status if status is not None else {}}


def pod(name: str, *, phase: str = "Running", finalizer: bool = True, index: int | None = None,
        exit_code: int | None = None, finished: float = NOW - 1, deleting: bool = False) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                 "labels": {"batch.kubernetes.io/controller-uid": UID},
                 "creationTimestamp": timestamp(NOW - 100), "resourceVersion": "1",
                 "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "pi",
                                      "uid": UID, "controller": True}]}
    if finalizer:
        meta["finalizers"] = [jp.TRACKING_FINALIZER]
    if index is not None:
        meta["annotations"] = {jp.INDEX_KEY: str(index)}
    if deleting:
        meta["deletionTimestamp"] = timestamp(NOW - 1)
    status: Obj = {"phase": phase}
    if exit_code is not None:
        status["containerStatuses"] = [{"name": "c", "restartCount": 0, "state": {
            "terminated": {"exitCode": exit_code, "finishedAt": timestamp(finished)}}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {}, "status": status}


def setup(now: float = NOW) -> tuple[JobController, FakeFactory, FakeClient]:
    ctx, factory, client = context()
    return JobController(ctx, workers=1, clock=lambda: now), factory, client


def events(controller: Any) -> list[tuple[str, str]]:
    out = []
    for queue in controller.recorder._queues:
        while not queue.empty():
            _, event = queue.get_nowait()
            out.append((event["reason"], event["message"]))
    return out


def last_status(client: FakeClient) -> Obj:
    return client.verbs("update/status", "jobs")[-1][4]["status"]


async def test_a_new_job_gets_a_tracked_pod_and_a_start_time() -> None:
    controller, factory, client = setup()
    factory["jobs"].add(job())
    await controller.sync("default/pi")
    [create] = client.verbs("create", "pods")
    body = create[4]
    assert body["metadata"]["generateName"] == "pi-"
    assert body["metadata"]["finalizers"] == [jp.TRACKING_FINALIZER]
    assert body["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert body["spec"]["restartPolicy"] == "Never"
    status = last_status(client)
    assert status["active"] == 1 and status["ready"] == 0 and status["terminating"] == 0
    assert status["startTime"] == timestamp(NOW)
    assert status["uncountedTerminatedPods"] == {}
    assert events(controller) == [("SuccessfulCreate", f"Created pod: {create[3]}")]


async def test_a_succeeded_pod_is_recorded_uncounted_then_counted_and_the_job_completes() -> None:
    controller, factory, client = setup()
    factory["jobs"].add(job(status={"startTime": timestamp(NOW - 10), "active": 1}))
    factory["pods"].add(pod("pi-a", phase="Succeeded", exit_code=0))
    await controller.sync("default/pi")
    first, second = client.verbs("update/status", "jobs")
    assert first[4]["status"]["uncountedTerminatedPods"] == {"succeeded": ["uid-pi-a"]}
    assert "succeeded" not in first[4]["status"]
    [patch] = client.verbs("patch", "pods")
    assert patch[3] == "pi-a"
    assert patch[4] == {"metadata": {"$deleteFromPrimitiveList/finalizers": [
        jp.TRACKING_FINALIZER]}}
    status = second[4]["status"]
    assert status["succeeded"] == 1 and status["uncountedTerminatedPods"] == {}
    assert [(c["type"], c["reason"]) for c in status["conditions"]] == [
        ("SuccessCriteriaMet", "CompletionsReached"), ("Complete", "CompletionsReached")]
    assert status["completionTime"] == timestamp(NOW)
    assert ("Completed", "Job completed") in events(controller)
    assert client.verbs("create", "pods") == []


async def test_a_pod_whose_finalizer_was_removed_is_not_counted_twice_from_a_stale_cache() -> None:
    controller, factory, client = setup()
    factory["jobs"].add(job(completions=2, parallelism=1,
                            status={"startTime": timestamp(NOW - 10), "active": 1}))
    factory["pods"].add(pod("pi-a", phase="Succeeded", exit_code=0))
    await controller.sync("default/pi")
    counted = last_status(client)
    assert counted["succeeded"] == 1
    client.writes.clear()
    # The informer has not seen the finalizer go yet; the Job's status has.
    factory["jobs"].add(job(completions=2, status=counted))
    await controller.sync("default/pi")
    assert client.verbs("patch", "pods") == []
    assert all(w[4]["status"].get("succeeded") == 1 for w in client.verbs("update/status"))


async def test_backoff_limit_fails_the_job_and_deletes_nothing_left() -> None:
    controller, factory, client = setup()
    factory["jobs"].add(job(backoffLimit=0, status={"startTime": timestamp(NOW - 10)}))
    factory["pods"].add(pod("pi-a", phase="Failed", exit_code=1))
    await controller.sync("default/pi")
    status = last_status(client)
    assert status["failed"] == 1
    types = [(c["type"], c["reason"], c["message"]) for c in status["conditions"]]
    assert types == [("FailureTarget", "BackoffLimitExceeded",
                      "Job has reached the specified backoff limit"),
                     ("Failed", "BackoffLimitExceeded",
                      "Job has reached the specified backoff limit")]
    assert "completionTime" not in status
    assert ("BackoffLimitExceeded", "Job has reached the specified backoff limit") in \
        events(controller)
    assert client.verbs("create", "pods") == []


async def test_a_failed_pod_is_replaced_only_after_the_backoff() -> None:
    controller, factory, client = setup()
    factory["jobs"].add(job(status={"startTime": timestamp(NOW - 30)}))
    factory["pods"].add(pod("pi-a", phase="Failed", exit_code=1, finished=NOW - 4,
                            finalizer=False))
    await controller.sync("default/pi")
    assert client.verbs("create", "pods") == []  # 10 s after one failure; 4 s passed
    controller.clock = lambda: NOW + 7
    await controller.sync("default/pi")
    assert len(client.verbs("create", "pods")) == 1


def test_backoff_doubles_from_ten_seconds_and_is_capped_at_ten_minutes() -> None:
    assert jp.backoff_remaining(1, 100.0, 100.0) == 10.0
    assert jp.backoff_remaining(3, 100.0, 105.0) == 35.0
    assert jp.backoff_remaining(20, 100.0, 100.0) == 600.0
    assert jp.backoff_remaining(0, 100.0, 100.0) == 0.0


async def test_active_deadline_fails_the_job_and_deletes_its_pods() -> None:
    controller, factory, client = setup()
    factory["jobs"].add(job(activeDeadlineSeconds=5,
                            status={"startTime": timestamp(NOW - 6), "active": 1}))
    factory["pods"].add(pod("pi-a"))
    await controller.sync("default/pi")
    assert [w[3] for w in client.verbs("delete", "pods")] == ["pi-a"]
    status = last_status(client)
    assert [c["type"] for c in status["conditions"]] == ["FailureTarget"]
    assert status["conditions"][0]["reason"] == "DeadlineExceeded"
    assert status["failed"] == 1 and status["terminating"] == 1
    # The kubelet finishes the pod: the Job turns Failed.
    client.writes.clear()
    factory["jobs"].add(job(activeDeadlineSeconds=5, status=status))
    factory["pods"].delete(factory["pods"].list()[0])
    await controller.sync("default/pi")
    final = last_status(client)
    assert [c["type"] for c in final["conditions"]] == ["FailureTarget", "Failed"]
    assert ("DeadlineExceeded", "Job was active longer than specified deadline") in \
        events(controller)


async def test_parallel_completions_keep_parallelism_pods_up_to_what_remains() -> None:
    controller, factory, client = setup()
    factory["jobs"].add(job(completions=5, parallelism=3,
                            status={"startTime": timestamp(NOW), "succeeded": 3}))
    factory["pods"].add(pod("pi-a"))
    await controller.sync("default/pi")
    assert len(client.verbs("create", "pods")) == 1  # 5 - 3 succeeded = 2 wanted, 1 active


async def test_indexed_job_creates_the_missing_indexes_with_annotation_label_env() -> None:
    controller, factory, client = setup()
    factory["jobs"].add(job(completions=3, parallelism=3, completionMode="Indexed",
                            status={"startTime": timestamp(NOW), "completedIndexes": "1"}))
    factory["pods"].add(pod("pi-0-x", index=0))
    await controller.sync("default/pi")
    [create] = client.verbs("create", "pods")
    body = create[4]
    assert body["metadata"]["generateName"] == "pi-2-"
    assert body["metadata"]["annotations"][jp.INDEX_KEY] == "2"
    assert body["metadata"]["labels"][jp.INDEX_KEY] == "2"
    assert body["spec"]["hostname"] == "pi-2"
    assert body["spec"]["containers"][0]["env"] == [{"name": "JOB_COMPLETION_INDEX",
        "valueFrom": {"fieldRef": {"fieldPath":
            "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}]


async def test_indexed_success_is_recorded_by_index() -> None:
    controller, factory, client = setup()
    factory["jobs"].add(job(completions=2, parallelism=2, completionMode="Indexed",
                            status={"startTime": timestamp(NOW), "completedIndexes": "1"}))
    factory["pods"].add(pod("pi-0-x", index=0, phase="Succeeded", exit_code=0))
    await controller.sync("default/pi")
    first = client.verbs("update/status", "jobs")[0][4]["status"]
    assert first["completedIndexes"] == "0-1"
    status = last_status(client)
    assert status["succeeded"] == 2
    assert [c["type"] for c in status["conditions"]] == ["SuccessCriteriaMet", "Complete"]


async def test_pod_failure_policy_ignore_fail_job_and_count() -> None:
    policy = {"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
        {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [42]}}]}
    controller, factory, client = setup()
    factory["jobs"].add(job(podFailurePolicy=policy, status={"startTime": timestamp(NOW)}))
    evicted = pod("pi-a", phase="Failed")
    evicted["status"]["conditions"] = [{"type": "DisruptionTarget", "status": "True"}]
    factory["pods"].add(evicted)
    await controller.sync("default/pi")
    assert "failed" not in last_status(client)  # ignored, but its finalizer is removed
    assert [w[3] for w in client.verbs("patch", "pods")] == ["pi-a"]
    controller, factory, client = setup()
    factory["jobs"].add(job(podFailurePolicy=policy, status={"startTime": timestamp(NOW)}))
    factory["pods"].add(pod("pi-b", phase="Failed", exit_code=42))
    await controller.sync("default/pi")
    status = last_status(client)
    assert status["failed"] == 1
    assert status["conditions"][0]["reason"] == "PodFailurePolicy"
    assert status["conditions"][0]["message"] == (
        "Container c for pod default/pi-b failed with exit code 42 matching FailJob rule "
        "at index 1")


async def test_suspend_deletes_active_pods_and_resume_restarts_the_clock() -> None:
    controller, factory, client = setup()
    factory["jobs"].add(job(suspend=True, status={"startTime": timestamp(NOW - 50),
                                                  "active": 1}))
    factory["pods"].add(pod("pi-a"))
    await controller.sync("default/pi")
    assert [w[3] for w in client.verbs("delete", "pods")] == ["pi-a"]
    status = last_status(client)
    assert status["conditions"][0]["reason"] == "JobSuspended"
    client.writes.clear()
    controller.clock = lambda: NOW + 100
    factory["pods"].delete(factory["pods"].list()[0])
    factory["jobs"].add(job(status=status))
    await controller.sync("default/pi")
    resumed = last_status(client)
    assert resumed["conditions"][0]["status"] == "False"
    assert resumed["conditions"][0]["reason"] == "JobResumed"
    assert resumed["startTime"] == timestamp(NOW + 100)
    assert len(client.verbs("create", "pods")) == 1


async def test_a_finished_job_only_releases_its_pods_finalizers() -> None:
    controller, factory, client = setup()
    factory["jobs"].add(job(status={"conditions": [{"type": "Complete", "status": "True"}]}))
    factory["pods"].add(pod("pi-a", phase="Succeeded"))
    await controller.sync("default/pi")
    assert [w[0] for w in client.writes] == ["patch"]


def test_completed_indexes_are_compressed_intervals() -> None:
    assert jp.format_intervals({0, 1, 2, 4, 6, 7}) == "0-2,4,6-7"
    assert jp.parse_intervals("0-2,4,6-7") == {0, 1, 2, 4, 6, 7}


async def test_a_tracked_pod_whose_job_is_gone_loses_its_finalizer() -> None:
    controller, factory, client = setup()
    factory["pods"].add(pod("pi-a", deleting=True))
    assert len(controller.orphans) == 1
    await controller.sync_orphan("default/pi-a")
    [patch] = client.verbs("patch", "pods")
    assert patch[3] == "pi-a" and "$deleteFromPrimitiveList/finalizers" in patch[4]["metadata"]


async def test_an_orphan_whose_job_the_cache_has_not_seen_yet_is_left_alone() -> None:
    controller, factory, client = setup()
    client.objects[("jobs", "default", "pi")] = job()
    factory["pods"].add(pod("pi-a"))
    await controller.sync_orphan("default/pi-a")
    assert client.verbs("patch") == []


async def test_a_job_managed_by_another_controller_is_left_alone() -> None:
    controller, factory, client = setup()
    factory["jobs"].add(job(managedBy="example.com/batch"))
    await controller.sync("default/pi")
    assert client.writes == []


async def test_only_failed_pods_are_replaced_when_the_policy_says_so() -> None:
    for policy, creates in (("TerminatingOrFailed", 1), ("Failed", 0)):
        controller, factory, client = setup()
        factory["jobs"].add(job(podReplacementPolicy=policy,
                                status={"startTime": timestamp(NOW)}))
        factory["pods"].add(pod("pi-a", deleting=True, finalizer=False))
        await controller.sync("default/pi")
        assert len(client.verbs("create", "pods")) == creates, policy


async def test_container_restarts_count_against_the_backoff_limit_with_on_failure() -> None:
    controller, factory, client = setup()
    spec = job(backoffLimit=2, status={"startTime": timestamp(NOW), "active": 1})
    spec["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    factory["jobs"].add(spec)
    restarting = pod("pi-a")
    restarting["status"]["containerStatuses"] = [{"name": "c", "restartCount": 2,
                                                  "state": {"running": {}}}]
    factory["pods"].add(restarting)
    await controller.sync("default/pi")
    assert [w[3] for w in client.verbs("delete", "pods")] == ["pi-a"]
    assert last_status(client)["conditions"][0]["reason"] == "BackoffLimitExceeded"
