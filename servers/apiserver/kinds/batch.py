"""batch/v1 Job and CronJob: defaults, the generated selector, validation.

Kubernetes references (k8s.io/kubernetes at v1.32): pkg/apis/batch/v1/defaults.go
(``SetDefaults_Job``: completions and parallelism 1 when both are unset, backoffLimit 6,
completionMode NonIndexed, suspend and manualSelector false, podReplacementPolicy
TerminatingOrFailed, labels from the template; ``SetDefaults_CronJob``: concurrencyPolicy
Allow, suspend false, history limits 3 and 1), pkg/registry/batch/job/strategy.go
(``PrepareForCreate`` / ``generateSelector``: the template gets ``controller-uid``,
``batch.kubernetes.io/controller-uid``, ``job-name`` and ``batch.kubernetes.io/job-name`` and
the selector matches the uid, unless ``manualSelector``) and pkg/apis/batch/validation
(``ValidateJobSpec``, ``ValidateCronJobSpec``; a Job's selector, template, completionMode and
completions are immutable; a CronJob's name is at most 52 characters).
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

from servers.apimachinery import field, validation
from servers.apimachinery.field import Cause
from servers.apiserver.kinds._common import Obj, as_dict, nonnegative, one_of
from servers.apiserver.kinds.podspec import validate_pod_spec
from servers.apiserver.kinds.workload import (
    default_labels_from_template,
    default_template,
    immutable,
    positive,
    selector_matches,
    template_labels,
    validate_selector,
)

GROUP = "batch"
CONTROLLER_UID = "controller-uid"
BATCH_CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "job-name"
BATCH_JOB_NAME = "batch.kubernetes.io/job-name"
COMPLETION_MODES = ("NonIndexed", "Indexed")
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
JOB_RESTART_POLICIES = ("OnFailure", "Never")
REPLACEMENT_POLICIES = ("TerminatingOrFailed", "Failed")
CRONJOB_NAME_MAX = 52  # 63 minus the 11 characters of the "-<unix-minutes>" job suffix
_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_CRON_FIELD = re.compile(r"(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?"
                         r"(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*")


# -- Job --------------------------------------------------------------------------------------

def _generate_selector(job: Obj) -> None:
    """``generateSelector``: label the template with the Job's uid and name and select on the
    uid (kube leaves a given selector alone; validation then checks it)."""
    meta = as_dict(job.get("metadata"))
    spec = job["spec"]
    template = spec.setdefault("template", {})
    if not isinstance(template, dict):
        return
    tmeta = template.setdefault("metadata", {})
    if not isinstance(tmeta, dict):
        return
    labels = tmeta.get("labels")
    if not isinstance(labels, dict):
        labels = tmeta["labels"] = {}
    uid, name = str(meta.get("uid", "")), str(meta.get("name", ""))
    for key, value in ((CONTROLLER_UID, uid), (BATCH_CONTROLLER_UID, uid), (JOB_NAME, name),
                       (BATCH_JOB_NAME, name)):
        labels.setdefault(key, value)
    if spec.get("selector") is None:
        spec["selector"] = {"matchLabels": {BATCH_CONTROLLER_UID: uid}}


def default_job(job: Obj, old: Obj | None = None) -> None:
    """``SetDefaults_Job``; on create also ``generateSelector`` and an empty status."""
    spec = job.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        # With backoffLimitPerIndex the global limit defaults to "none" (MaxInt32).
        spec["backoffLimit"] = 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", False)
    spec.setdefault("podReplacementPolicy",
                    "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    if old is None:
        if not spec.get("manualSelector"):
            _generate_selector(job)
        job["status"] = {}
    default_template(spec.get("template"))
    default_labels_from_template(job, spec.get("template"))


def _job_template(spec: Obj, path: str) -> list[Cause]:
    template = spec.get("template")
    if not isinstance(template, dict):
        return [field.required(f"{path}.template")]
    pod_spec = as_dict(template.get("spec"))
    # The generated job-name labels make a name longer than 63 characters invalid here.
    causes = validation.validate_labels(template_labels(template),
                                        f"{path}.template.metadata.labels")
    causes += validate_pod_spec(pod_spec, f"{path}.template.spec")
    policy = pod_spec.get("restartPolicy")
    if policy not in JOB_RESTART_POLICIES:
        causes.append(field.not_supported(f"{path}.template.spec.restartPolicy", policy,
                                          list(JOB_RESTART_POLICIES)))
    return causes


def validate_job_spec(spec: Obj, path: str = "spec", *, generated: bool = True) -> list[Cause]:
    """``ValidateJobSpec`` (with the selector checks of ``validateJob`` when ``generated``:
    a Job, not a CronJob's template)."""
    causes = [
        *nonnegative(f"{path}.parallelism", spec.get("parallelism")),
        *nonnegative(f"{path}.completions", spec.get("completions")),
        *nonnegative(f"{path}.backoffLimit", spec.get("backoffLimit")),
        *positive(f"{path}.activeDeadlineSeconds", spec.get("activeDeadlineSeconds")),
        *nonnegative(f"{path}.ttlSecondsAfterFinished", spec.get("ttlSecondsAfterFinished")),
        *one_of(f"{path}.completionMode", spec.get("completionMode"), COMPLETION_MODES,
                required=False),
        *one_of(f"{path}.podReplacementPolicy", spec.get("podReplacementPolicy"),
                REPLACEMENT_POLICIES, required=False),
        *_job_template(spec, path),
    ]
    if spec.get("completionMode") == "Indexed" and spec.get("completions") is None:
        causes.append(field.required(f"{path}.completions", "when completion mode is Indexed"))
    selector = spec.get("selector")
    if generated and selector is None:
        causes.append(field.required(f"{path}.selector"))
    if selector is not None:
        causes += validate_selector(selector, f"{path}.selector")
        labels = template_labels(spec.get("template"))
        if not causes and selector_matches(selector, labels) is False:
            causes.append(field.invalid(f"{path}.template.metadata.labels", labels,
                                        "`selector` does not match template `labels`"))
    return causes


def _generated_selector(job: Obj) -> list[Cause]:
    """``ValidateGeneratedSelector``: without manualSelector the selector is the uid's."""
    spec = as_dict(job.get("spec"))
    if spec.get("manualSelector"):
        return []
    uid = as_dict(job.get("metadata")).get("uid")
    labels = template_labels(spec.get("template"))
    causes: list[Cause] = []
    for key in (CONTROLLER_UID, BATCH_CONTROLLER_UID):
        if labels.get(key) not in (None, uid):
            causes.append(field.invalid(f"spec.template.metadata.labels[{key}]", labels[key],
                                        f"must be '{uid}'"))
    wanted = {"matchLabels": {BATCH_CONTROLLER_UID: uid}}
    selector = spec.get("selector")
    match = as_dict(as_dict(selector).get("matchLabels"))
    if selector is not None and uid not in (match.get(BATCH_CONTROLLER_UID),
                                            match.get(CONTROLLER_UID)):
        causes.append(field.invalid("spec.selector", selector,
                                    f"`selector` not auto-generated; wanted {wanted}"))
    return causes


def validate_job(job: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateJob`` / ``ValidateJobUpdate``."""
    spec = as_dict(job.get("spec"))
    causes = validate_job_spec(spec) + _generated_selector(job)
    if old is not None:
        old_spec = as_dict(old.get("spec"))
        causes += immutable("spec.selector", spec.get("selector"), old_spec.get("selector"))
        causes += immutable("spec.completionMode", spec.get("completionMode"),
                            old_spec.get("completionMode"))
        causes += immutable("spec.template", spec.get("template"), old_spec.get("template"))
        if spec.get("completionMode") != "Indexed":
            causes += immutable("spec.completions", spec.get("completions"),
                                old_spec.get("completions"))
    return causes


# -- CronJob ----------------------------------------------------------------------------------

def default_cronjob(cj: Obj, old: Obj | None = None) -> None:
    """``SetDefaults_CronJob`` and the pod defaults of its job template."""
    spec = cj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_spec = as_dict(as_dict(spec.get("jobTemplate")).get("spec"))
    default_template(job_spec.get("template"))
    if old is None:
        cj["status"] = {}


def schedule_messages(schedule: Any) -> list[str]:
    """What is wrong with a cron schedule (five fields or a macro), as ``cron.ParseStandard``
    refuses it; empty when it parses."""
    if not isinstance(schedule, str) or not schedule.strip():
        return ["empty spec string"]
    text = schedule.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        return []
    if text.startswith("@"):
        if text in _MACROS or text.startswith("@every "):
            return []
        return [f"unrecognized descriptor: {text}"]
    fields = text.split()
    if len(fields) != 5:
        return [f"expected exactly 5 fields, found {len(fields)}: {fields}"]
    bad = [f for f in fields if not _CRON_FIELD.fullmatch(f)]
    return [f"failed to parse int from {bad[0]}: strconv.Atoi: parsing {bad[0]!r}: invalid "
            "syntax".replace("'", '"')] if bad else []


def _time_zone(spec: Obj) -> list[Cause]:
    zone = spec.get("timeZone")
    if zone is None:
        return []
    if not isinstance(zone, str) or not zone or " " in zone or zone.lower() == "local":
        return [field.invalid("spec.timeZone", zone, "unknown time zone " + str(zone))]
    try:
        zoneinfo.ZoneInfo(zone)
    except (ValueError, KeyError, OSError):
        return [field.invalid("spec.timeZone", zone, "unknown time zone " + zone)]
    return []


def validate_cronjob(cj: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateCronJobCreate`` / ``...Update`` for the spec and the name's length."""
    name = str(as_dict(cj.get("metadata")).get("name") or "")
    causes: list[Cause] = []
    if len(name) > CRONJOB_NAME_MAX:
        causes.append(field.invalid("metadata.name", name,
                                    f"must be no more than {CRONJOB_NAME_MAX} characters"))
    spec = as_dict(cj.get("spec"))
    schedule = spec.get("schedule")
    if not schedule:
        causes.append(field.required("spec.schedule"))
    else:
        causes += [field.invalid("spec.schedule", schedule, m)
                   for m in schedule_messages(schedule)]
        if isinstance(schedule, str) and "TZ" in schedule:
            causes.append(field.invalid("spec.schedule", schedule, "cannot use TZ or CRON_TZ "
                                        "in schedule, use timeZone field instead"))
    causes += _time_zone(spec)
    causes += one_of("spec.concurrencyPolicy", spec.get("concurrencyPolicy"),
                     CONCURRENCY_POLICIES)
    for member in ("startingDeadlineSeconds", "successfulJobsHistoryLimit",
                   "failedJobsHistoryLimit"):
        causes += nonnegative(f"spec.{member}", spec.get(member))
    template = spec.get("jobTemplate")
    if not isinstance(template, dict):
        causes.append(field.required("spec.jobTemplate"))
    else:
        causes += validate_job_spec(as_dict(template.get("spec")), "spec.jobTemplate.spec",
                                    generated=False)
    return causes
