"""Defaults, the generated selector and validation of batch/v1 Job and CronJob; PDB and
EndpointSlice rules; the workload kinds' table rows."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

from servers.apiserver import kinds, tables
from servers.apiserver.resources import Resource, by_plural

Obj = dict[str, Any]
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def res(plural: str, group: str = "batch") -> Resource:
    found = by_plural(group, "v1", plural)
    assert found is not None
    return found


def job(**spec: Any) -> Obj:
    return {"metadata": {"name": "pi", "uid": "u-1"},
            "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}],
                                           "restartPolicy": "Never"}}, **spec}}


def check(plural: str, obj: Obj, old: Obj | None = None, group: str = "batch") -> list[str]:
    kinds.default(res(plural, group), obj, old)
    return [c.error() for c in kinds.validate(res(plural, group), obj, old)]


def test_job_defaults_and_generated_selector() -> None:
    created = job()
    assert check("jobs", created) == []
    spec = created["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert (spec["completionMode"], spec["suspend"], spec["manualSelector"],
            spec["podReplacementPolicy"]) == ("NonIndexed", False, False, "TerminatingOrFailed")
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    labels = {"controller-uid": "u-1", "batch.kubernetes.io/controller-uid": "u-1",
              "job-name": "pi", "batch.kubernetes.io/job-name": "pi"}
    assert spec["template"]["metadata"]["labels"] == labels
    assert created["metadata"]["labels"] == labels


def test_a_job_name_too_long_for_its_labels_is_refused() -> None:
    long = job()
    long["metadata"]["name"] = "j" * 64
    errors = check("jobs", long)
    assert any(e.startswith("spec.template.metadata.labels: Invalid value: ") and
               "must be no more than 63 characters" in e for e in errors), errors


def test_job_with_only_parallelism_is_a_work_queue() -> None:
    queue = job(parallelism=3)
    assert check("jobs", queue) == []
    assert queue["spec"]["parallelism"] == 3 and "completions" not in queue["spec"]


def test_manual_selector_is_left_alone() -> None:
    manual = job(manualSelector=True, selector={"matchLabels": {"a": "b"}})
    manual["spec"]["template"]["metadata"] = {"labels": {"a": "b"}}
    assert check("jobs", manual) == []
    assert manual["spec"]["template"]["metadata"]["labels"] == {"a": "b"}


def test_job_restart_policy_and_immutable_template() -> None:
    always = job()
    always["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert check("jobs", always) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: '
        '"OnFailure", "Never"']
    old = job()
    kinds.default(res("jobs"), old)
    changed = copy.deepcopy(old)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:2"
    [error] = check("jobs", changed, old)
    assert error.startswith("spec.template: Invalid value: ")
    assert error.endswith("field is immutable")


def test_cronjob_defaults_and_rules() -> None:
    cj: Obj = {"metadata": {"name": "hello"},
               "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": job()["spec"]}}}
    assert check("cronjobs", cj) == []
    spec = cj["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    bad = copy.deepcopy(cj)
    bad["spec"]["schedule"] = "every minute"
    bad["metadata"]["name"] = "x" * 53
    assert check("cronjobs", bad) == [
        f'metadata.name: Invalid value: "{"x" * 53}": must be no more than 52 characters',
        'spec.schedule: Invalid value: "every minute": expected exactly 5 fields, found 2: '
        "['every', 'minute']"]
    zone = copy.deepcopy(cj)
    zone["spec"]["timeZone"] = "Mars/Olympus"
    assert check("cronjobs", zone) == [
        'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus']


def test_pdb_rules() -> None:
    pdb: Obj = {"metadata": {"name": "p"}, "spec": {"minAvailable": 1, "maxUnavailable": "50%",
                                                    "selector": {"matchLabels": {"a": "b"}}}}
    [both] = check("poddisruptionbudgets", pdb, group="policy")
    assert both.startswith("spec: Invalid value: ") and both.endswith(
        "minAvailable and maxUnavailable cannot be both set")
    ok: Obj = {"metadata": {"name": "p"}, "spec": {"minAvailable": "50%"}}
    assert check("poddisruptionbudgets", ok, group="policy") == []
    assert ok["status"]["disruptionsAllowed"] == 0


def test_endpointslice_rules() -> None:
    bad: Obj = {"metadata": {"name": "s"}, "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.0.0.1", "fe80::1"]}, {"addresses": []}],
                "ports": [{"name": "http", "port": 80}]}
    assert check("endpointslices", bad, group="discovery.k8s.io") == [
        'endpoints[0].addresses[1]: Invalid value: "fe80::1": must be an IPv4 address',
        "endpoints[1].addresses: Required value: must contain at least 1 address"]
    assert bad["ports"][0]["protocol"] == "TCP"


def rows(plural: str, group: str, obj: Obj) -> tuple[list[str], list[Any]]:
    table = tables.to_table(res(plural, group), [obj], now=NOW)
    return [c["name"] for c in table["columnDefinitions"]], table["rows"][0]["cells"]


def test_table_columns_of_the_workload_kinds() -> None:
    deploy: Obj = {"metadata": {"name": "web", "creationTimestamp": "2026-01-01T11:00:00Z"},
                   "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                            "template": {"spec": {"containers": [
                                {"name": "nginx", "image": "nginx:1.27"}]}}},
                   "status": {"readyReplicas": 2, "updatedReplicas": 3,
                              "availableReplicas": 2}}
    assert rows("deployments", "apps", deploy) == (
        ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images",
         "Selector"], ["web", "2/3", 3, 2, "60m", "nginx", "nginx:1.27", "app=web"])
    done: Obj = {"metadata": {"name": "pi", "creationTimestamp": "2026-01-01T11:59:00Z"},
                 "spec": {"completions": 1, "template": {}},
                 "status": {"succeeded": 1, "startTime": "2026-01-01T11:59:00Z",
                            "completionTime": "2026-01-01T11:59:07Z",
                            "conditions": [{"type": "Complete", "status": "True"}]}}
    names, cells = rows("jobs", "batch", done)
    assert names[:5] == ["Name", "Status", "Completions", "Duration", "Age"]
    assert cells[:5] == ["pi", "Complete", "1/1", "7s", "60s"]
    cj: Obj = {"metadata": {"name": "c", "creationTimestamp": "2026-01-01T11:00:00Z"},
               "spec": {"schedule": "* * * * *", "suspend": False}}
    names, cells = rows("cronjobs", "batch", cj)
    assert names[:7] == ["Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule",
                         "Age"]
    assert cells[:7] == ["c", "* * * * *", "<none>", "False", 0, "<none>", "60m"]
