"""km.pyz controller-manager, scheduler and hollow nodes, driven by the real kubectl: Jobs run
to Complete (1/1 with a DURATION), stop at their backoffLimit, run Indexed in parallel, stop
at activeDeadlineSeconds and go after ttlSecondsAfterFinished; a CronJob runs a due Job, and
``kubectl create job --from=cronjob/NAME`` runs one by hand.

Hollow nodes make pods Running; the test ends them as a kubelet would, by writing the pod's
status (phase and a terminated container) through pods/status with kubectl.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.e2e import test_controller_manager as base
from tests.e2e.test_controller_manager import POLL, WAIT
from tests.e2e.test_kubectl import Kubectl, rows
from tests.support.apiserver import ApiServer
from tests.support.wait import until

api = base.api  # fixture: a km.pyz apiserver (plain HTTP on loopback)
cluster = base.cluster  # fixture: hollow nodes, scheduler, controller-manager from km.pyz


@pytest.fixture
def kubectl(api: ApiServer, cluster: list[subprocess.Popen[bytes]], tmp_path: Path) -> Kubectl:
    return Kubectl(api, tmp_path / "kube-cache")


def job(name: str, **spec: object) -> str:
    return json.dumps({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                       "spec": {"template": {"spec": {
                           "restartPolicy": "Never",
                           "containers": [{"name": "c", "image": "busybox"}]}}, **spec}})


def running(kubectl: Kubectl, job_name: str, n: int) -> list[str]:
    def check() -> list[str] | None:
        got = kubectl.json("get", "pods", "-l", f"batch.kubernetes.io/job-name={job_name}")
        names = [p["metadata"]["name"] for p in got["items"]
                 if p["status"].get("phase") == "Running"
                 and not p["metadata"].get("deletionTimestamp")]
        return names if len(names) >= n else None
    return list(until(check, f"{n} Running pods of {job_name}", WAIT, POLL))


def end(kubectl: Kubectl, pod: str, phase: str, code: int) -> None:
    """The kubelet's write when the pod's one container exited with ``code``."""
    state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                            "startedAt": "2026-01-01T00:00:00Z",
                            "finishedAt": datetime.now(timezone.utc).strftime(
                                "%Y-%m-%dT%H:%M:%SZ")}}
    body = {"status": {"phase": phase, "containerStatuses": [
        {"name": "c", "image": "busybox", "ready": False, "restartCount": 0, "state": state}]}}
    kubectl("patch", "pod", pod, "--subresource=status", "--type=merge", "-p", json.dumps(body))


def job_row(kubectl: Kubectl, name: str) -> list[str]:
    return rows(kubectl("get", "jobs", name, "--no-headers").stdout)[0]


def events_of(kubectl: Kubectl, name: str) -> str:
    """``kubectl get events`` about the object ``name``."""
    return kubectl("get", "events", "--field-selector", f"involvedObject.name={name}").stdout


def status_is(kubectl: Kubectl, name: str, status: str) -> list[str]:
    return list(until(lambda: (
        row if (row := job_row(kubectl, name))[1] == status else None),
        f"job {name} {status}", WAIT, POLL))


def test_jobs_complete_fail_run_indexed_time_out_and_expire(kubectl: Kubectl) -> None:
    kubectl("create", "job", "pi", "--image=perl", "--", "perl", "-e", "1")
    [pod] = running(kubectl, "pi", 1)
    assert job_row(kubectl, "pi")[1:3] == ["Running", "0/1"]
    end(kubectl, pod, "Succeeded", 0)
    row = status_is(kubectl, "pi", "Complete")
    assert row[2] == "1/1" and row[3].endswith("s")  # DURATION, e.g. "3s"
    assert rows(kubectl("get", "jobs").stdout)[0][:4] == ["NAME", "STATUS", "COMPLETIONS",
                                                          "DURATION"]
    # (the controller records a Job's end after writing its status: the event may lag it)
    until(lambda: all(text in events_of(kubectl, "pi") for text in (
        "SuccessfulCreate", "Completed", "Job completed")), "the Job's events", WAIT, POLL)
    got = kubectl.json("get", "pod", pod)
    assert not got["metadata"].get("finalizers")  # counted: the tracking finalizer is off
    # A Job deleted while its pod runs: the pod (tracked by the finalizer) goes too.
    kubectl("create", "job", "held", "--image=busybox")
    running(kubectl, "held", 1)
    kubectl("delete", "job", "held", "--timeout=20s")
    until(lambda: kubectl(
        "get", "pods", "-l", "batch.kubernetes.io/job-name=held", "--no-headers"
    ).stdout.strip() == "", "the deleted Job's pod gone", WAIT, POLL)

    kubectl("apply", "-f", "-", input=job("bad", backoffLimit=0))
    [pod] = running(kubectl, "bad", 1)
    end(kubectl, pod, "Failed", 2)
    status_is(kubectl, "bad", "Failed")
    reason = kubectl("get", "job", "bad", "-o",
                     'jsonpath={.status.conditions[?(@.type=="Failed")].reason}').stdout
    assert reason == "BackoffLimitExceeded"
    until(lambda: "Job has reached the specified backoff limit"
             in events_of(kubectl, "bad"), "the backoff limit event", WAIT, POLL)

    kubectl("apply", "-f", "-", input=job("idx", completions=3, parallelism=3,
                                          completionMode="Indexed"))
    pods = running(kubectl, "idx", 3)
    labels = kubectl("get", "pods", "-l", "batch.kubernetes.io/job-name=idx", "-o",
                     "jsonpath={.items[*].metadata.labels.batch\\.kubernetes\\.io/"
                     "job-completion-index}").stdout.split()
    assert sorted(labels) == ["0", "1", "2"]
    for name in pods:
        end(kubectl, name, "Succeeded", 0)
    assert status_is(kubectl, "idx", "Complete")[2] == "3/3"
    assert kubectl("get", "job", "idx", "-o", "jsonpath={.status.completedIndexes}"
                   ).stdout == "0-2"

    kubectl("apply", "-f", "-", input=job("slow", activeDeadlineSeconds=2))
    running(kubectl, "slow", 1)
    status_is(kubectl, "slow", "Failed")
    reason = kubectl("get", "job", "slow", "-o",
                     'jsonpath={.status.conditions[?(@.type=="Failed")].reason}').stdout
    assert reason == "DeadlineExceeded"
    until(lambda: "DeadlineExceeded" in events_of(kubectl, "slow"),
          "the deadline event", WAIT, POLL)

    kubectl("apply", "-f", "-", input=job("brief", ttlSecondsAfterFinished=0))
    [pod] = running(kubectl, "brief", 1)
    end(kubectl, pod, "Succeeded", 0)
    until(lambda: kubectl(
        "get", "job", "brief", check=False).returncode != 0, "the finished job's TTL", WAIT, POLL)


def test_cronjob_runs_a_due_job_and_one_by_hand(kubectl: Kubectl) -> None:
    # Hourly at this minute: due once below, and not again while the test runs (an every-
    # minute schedule started a second Job whenever the test crossed a minute's end).
    minute_start = time.time() // 60 * 60
    at = int(minute_start // 60) % 60
    kubectl("create", "cronjob", "tick", "--image=busybox", f"--schedule={at} * * * *")
    kubectl("create", "job", "by-hand", "--from=cronjob/tick")
    running(kubectl, "by-hand", 1)
    manual = kubectl.json("get", "job", "by-hand")
    assert manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    # Make this minute's start due now, honestly: the last run written two hours back.
    back = datetime.fromtimestamp(minute_start - 2 * 3600, timezone.utc)
    kubectl("patch", "cronjob", "tick", "--subresource=status", "--type=merge", "-p",
            json.dumps({"status": {"lastScheduleTime": back.strftime("%Y-%m-%dT%H:%M:%SZ")}}))

    def scheduled() -> list[str] | None:
        names = [r[0] for r in rows(kubectl("get", "jobs", "--no-headers").stdout)
                 if r[0].startswith("tick-")]
        return names or None

    [name] = until(scheduled, "the CronJob's job", WAIT, POLL)
    assert name == f"tick-{int(minute_start) // 60}", "named after its scheduled minute"
    [pod] = running(kubectl, name, 1)
    end(kubectl, pod, "Succeeded", 0)
    status_is(kubectl, name, "Complete")

    def seen() -> bool:
        got = kubectl.json("get", "cronjob", "tick")["status"]
        return not got.get("active") and bool(got.get("lastSuccessfulTime"))

    until(seen, "the CronJob to see its job complete", WAIT, POLL)
    last = kubectl("get", "cronjob", "tick", "-o", "jsonpath={.status.lastScheduleTime}").stdout
    assert int(datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp()) // 60 == \
        int(name.rsplit("-", 1)[1])
    events = kubectl("get", "events", "--field-selector", "involvedObject.name=tick").stdout
    assert f"Created job {name}" in events and "SawCompletedJob" in events
