"""OpenAPI v3 schemas of batch/v1: Job and CronJob.

Field names follow k8s.io/api batch/v1 types.go at v0.32. ``podFailurePolicy`` and
``successPolicy`` are kept as free objects (km stores them; its job controller does not act
on them yet).
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import (
    META,
    Obj,
    boolean,
    free,
    integer,
    obj,
    ref,
    refs,
    string,
    strings,
    time,
)
from servers.apiserver.schemas.workload import condition, conditions, selector, workload_kind

BATCH = "io.k8s.api.batch.v1."
_GROUP = "batch"

_JOB_SPEC = obj(
    "JobSpec describes how the job execution will look like.",
    {
        "parallelism": integer("The maximum desired number of pods the job should run at "
                               "any given time."),
        "completions": integer("The desired number of successfully finished pods the job "
                               "should be run with."),
        "activeDeadlineSeconds": integer("The duration in seconds relative to the startTime "
                                         "that the job may be continuously active before the "
                                         "system tries to terminate it.", "int64"),
        "podFailurePolicy": free("Specifies the policy of handling failed pods."),
        "successPolicy": free("Specifies the policy when the Job can be declared as "
                              "succeeded."),
        "backoffLimit": integer("Specifies the number of retries before marking this job "
                                "failed. Defaults to 6."),
        "backoffLimitPerIndex": integer("Specifies the limit for the number of retries within "
                                        "an index before marking this index as failed."),
        "maxFailedIndexes": integer("Specifies the maximal number of failed indexes before "
                                    "marking the Job as failed."),
        "selector": selector("A label query over pods that should match the pod count. "
                             "Normally, the system sets this field for you."),
        "manualSelector": boolean("manualSelector controls generation of pod labels and pod "
                                  "selectors. Leave unset unless you are certain what you "
                                  "are doing."),
        "template": ref("PodTemplateSpec", "Describes the pod that will be created when "
                        "executing a job. The only allowed restartPolicy values are Never "
                        "or OnFailure."),
        "ttlSecondsAfterFinished": integer("Limits the lifetime of a Job that has finished "
                                           "execution (either Complete or Failed)."),
        "completionMode": string("How Pod completions are tracked: NonIndexed (default) or "
                                 "Indexed.", enum=("Indexed", "NonIndexed")),
        "suspend": boolean("Specifies whether the Job controller should create Pods or not."),
        "podReplacementPolicy": string("Specifies when to create replacement Pods.",
                                       enum=("Failed", "TerminatingOrFailed")),
        "managedBy": string("The controller which manages the Job."),
    },
    ("template",),
)
_JOB_STATUS = obj(
    "JobStatus represents the current state of a Job.",
    {
        "conditions": conditions(BATCH + "JobCondition", "The latest available observations "
                                 "of an object's current state."),
        "startTime": time("Represents time when the job controller started processing a "
                          "job."),
        "completionTime": time("Represents time when the job was completed."),
        "active": integer("The number of pending and running pods which are not terminating."),
        "succeeded": integer("The number of pods which reached phase Succeeded."),
        "failed": integer("The number of pods which reached phase Failed."),
        "terminating": integer("The number of pods which are terminating."),
        "completedIndexes": string("Holds the completed indexes when .spec.completionMode = "
                                   "\"Indexed\" in a text format."),
        "failedIndexes": string("Holds the failed indexes when spec.backoffLimitPerIndex is "
                                "set."),
        "uncountedTerminatedPods": ref(BATCH + "UncountedTerminatedPods", "The UIDs of Pods "
                                       "that have terminated but the job controller hasn't "
                                       "yet accounted for in the status counters."),
        "ready": integer("The number of active pods which have a Ready condition."),
    },
)
_CRONJOB_SPEC = obj(
    "CronJobSpec describes how the job execution will look like and when it will actually "
    "run.",
    {
        "schedule": string("The schedule in Cron format, see "
                           "https://en.wikipedia.org/wiki/Cron."),
        "timeZone": string("The time zone name for the given schedule. If not specified, "
                           "this will default to the time zone of the kube-controller-manager "
                           "process."),
        "startingDeadlineSeconds": integer("Optional deadline in seconds for starting the job "
                                           "if it misses scheduled time for any reason.",
                                           "int64"),
        "concurrencyPolicy": string("Specifies how to treat concurrent executions of a Job: "
                                    "Allow (default), Forbid or Replace.",
                                    enum=("Allow", "Forbid", "Replace")),
        "suspend": boolean("This flag tells the controller to suspend subsequent executions. "
                           "Defaults to false."),
        "jobTemplate": ref(BATCH + "JobTemplateSpec", "Specifies the job that will be created "
                           "when executing a CronJob."),
        "successfulJobsHistoryLimit": integer("The number of successful finished jobs to "
                                              "retain. Defaults to 3."),
        "failedJobsHistoryLimit": integer("The number of failed finished jobs to retain. "
                                          "Defaults to 1."),
    },
    ("schedule", "jobTemplate"),
)

#: The batch/v1 kinds and their parts, by full name.
SCHEMAS: dict[str, Obj] = {
    BATCH + "Job": workload_kind("Job represents the configuration of a single job.", BATCH,
                                 "Job", _GROUP),
    BATCH + "JobSpec": _JOB_SPEC,
    BATCH + "JobStatus": _JOB_STATUS,
    BATCH + "JobCondition": condition("JobCondition describes current state of a job.",
                                      probe=True),
    BATCH + "UncountedTerminatedPods": obj(
        "UncountedTerminatedPods holds UIDs of Pods that have terminated but haven't been "
        "accounted in Job status counters.",
        {"succeeded": strings("UIDs of succeeded Pods."),
         "failed": strings("UIDs of failed Pods.")}),
    BATCH + "JobTemplateSpec": obj(
        "JobTemplateSpec describes the data a Job should have when created from a template",
        {"metadata": ref(META + "ObjectMeta", "Standard object's metadata of the jobs "
                         "created from this template."),
         "spec": ref(BATCH + "JobSpec", "Specification of the desired behavior of the job.")}),
    BATCH + "CronJob": workload_kind("CronJob represents the configuration of a single cron "
                                     "job.", BATCH, "CronJob", _GROUP),
    BATCH + "CronJobSpec": _CRONJOB_SPEC,
    BATCH + "CronJobStatus": obj(
        "CronJobStatus represents the current state of a cron job.",
        {"active": refs("ObjectReference", "A list of pointers to currently running jobs."),
         "lastScheduleTime": time("Information when was the last time the job was "
                                  "successfully scheduled."),
         "lastSuccessfulTime": time("Information when was the last time the job "
                                    "successfully completed.")}),
}
