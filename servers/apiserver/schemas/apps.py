"""OpenAPI v3 schemas of apps/v1: Deployment, ReplicaSet, StatefulSet, DaemonSet,
ControllerRevision.

Field names follow k8s.io/api apps/v1 types.go at v0.32, so ``kubectl explain deploy.spec``,
kubectl's client-side validation and strategic merge patches (``template`` is a
``PodTemplateSpec``: containers merge by name; conditions merge by type) read what they expect.
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import (
    Obj,
    array,
    boolean,
    free,
    int64,
    integer,
    kind_header,
    obj,
    ref,
    string,
)
from servers.apiserver.schemas.workload import (
    condition,
    conditions,
    int_or_string,
    selector,
    workload_kind,
)

APPS = "io.k8s.api.apps.v1."
_GROUP = "apps"
_TEMPLATE = ref("PodTemplateSpec", "Template describes the pods that will be created.")
_SELECTOR = selector("Label query over pods that should match the replica count. It must "
                     "match the pod template's labels.")
_MIN_READY = integer("Minimum number of seconds for which a newly created pod should be "
                     "ready without any of its container crashing, for it to be considered "
                     "available. Defaults to 0.")
_HISTORY = integer("The number of old history to retain to allow rollback. Defaults to 10.")
_COLLISION = integer("Count of hash collisions, used as a collision avoidance mechanism when "
                     "naming the newest ControllerRevision or ReplicaSet.")
_OBSERVED = integer("The most recent generation observed by the controller.", "int64")


def _replicas(desc: str) -> Obj:
    return integer(desc)


_DEPLOYMENT_SPEC = obj(
    "DeploymentSpec is the specification of the desired behavior of the Deployment.",
    {
        "replicas": _replicas("Number of desired pods. Defaults to 1."),
        "selector": _SELECTOR,
        "template": _TEMPLATE,
        "strategy": ref(APPS + "DeploymentStrategy", "The deployment strategy to use to "
                        "replace existing pods with new ones."),
        "minReadySeconds": _MIN_READY,
        "revisionHistoryLimit": _HISTORY,
        "paused": boolean("Indicates that the deployment is paused."),
        "progressDeadlineSeconds": integer("The maximum time in seconds for a deployment to "
                                           "make progress before it is considered to be "
                                           "failed. Defaults to 600s."),
    },
    ("selector", "template"),
)
_DEPLOYMENT_STATUS = obj(
    "DeploymentStatus is the most recently observed status of the Deployment.",
    {
        "observedGeneration": _OBSERVED,
        "replicas": integer("Total number of non-terminated pods targeted by this deployment "
                            "(their labels match the selector)."),
        "updatedReplicas": integer("Total number of non-terminated pods targeted by this "
                                   "deployment that have the desired template spec."),
        "readyReplicas": integer("Total number of non-terminated pods targeted by this "
                                 "Deployment with a Ready Condition."),
        "availableReplicas": integer("Total number of available non-terminated pods (ready "
                                     "for at least minReadySeconds) targeted by this "
                                     "deployment."),
        "unavailableReplicas": integer("Total number of unavailable pods targeted by this "
                                       "deployment."),
        "conditions": conditions(APPS + "DeploymentCondition", "Represents the latest "
                                 "available observations of a deployment's current state."),
        "collisionCount": _COLLISION,
    },
)
_STRATEGY = obj(
    "DeploymentStrategy describes how to replace existing pods with new ones.",
    {
        "type": string("Type of deployment. Can be \"Recreate\" or \"RollingUpdate\". Default "
                       "is RollingUpdate.", enum=("Recreate", "RollingUpdate")),
        "rollingUpdate": ref(APPS + "RollingUpdateDeployment", "Rolling update config "
                             "params. Present only if DeploymentStrategyType = RollingUpdate."),
    },
)
_ROLLING_DEPLOYMENT = obj(
    "Spec to control the desired behavior of rolling update.",
    {
        "maxUnavailable": int_or_string("The maximum number of pods that can be unavailable "
                                        "during the update (a number or a percentage of "
                                        "desired pods). Defaults to 25%."),
        "maxSurge": int_or_string("The maximum number of pods that can be scheduled above "
                                  "the desired number of pods. Defaults to 25%."),
    },
)
_REPLICASET_SPEC = obj(
    "ReplicaSetSpec is the specification of a ReplicaSet.",
    {"replicas": _replicas("Number of desired pods. Defaults to 1."), "selector": _SELECTOR,
     "template": _TEMPLATE, "minReadySeconds": _MIN_READY},
    ("selector",),
)
_REPLICASET_STATUS = obj(
    "ReplicaSetStatus represents the current status of a ReplicaSet.",
    {
        "replicas": integer("The most recently observed number of non-terminating "
                            "replicas."),
        "fullyLabeledReplicas": integer("The number of non-terminating pods that have labels "
                                        "matching the labels of the pod template."),
        "readyReplicas": integer("The number of non-terminating pods targeted by this "
                                 "ReplicaSet with a Ready Condition."),
        "availableReplicas": integer("The number of available non-terminating pods (ready "
                                     "for at least minReadySeconds)."),
        "observedGeneration": _OBSERVED,
        "conditions": conditions(APPS + "ReplicaSetCondition", "Represents the latest "
                                 "available observations of a replica set's current state."),
    },
    ("replicas",),
)
_STATEFULSET_SPEC = obj(
    "A StatefulSetSpec is the specification of a StatefulSet.",
    {
        "replicas": _replicas("The desired number of replicas. Defaults to 1."),
        "selector": _SELECTOR,
        "template": _TEMPLATE,
        "volumeClaimTemplates": array(free(), "A list of claims that pods are allowed to "
                                      "reference (km has no persistent volumes yet and "
                                      "refuses them).", list_type="atomic"),
        "serviceName": string("The name of the service that governs this StatefulSet."),
        "podManagementPolicy": string("Controls how pods are created during initial scale "
                                      "up, when replacing pods on nodes, or when scaling "
                                      "down. Default OrderedReady.",
                                      enum=("OrderedReady", "Parallel")),
        "updateStrategy": ref(APPS + "StatefulSetUpdateStrategy", "Indicates the "
                              "StatefulSetUpdateStrategy that will be employed to update "
                              "Pods in the StatefulSet when a revision is made to Template."),
        "revisionHistoryLimit": _HISTORY,
        "minReadySeconds": _MIN_READY,
        "persistentVolumeClaimRetentionPolicy": ref(
            APPS + "StatefulSetPersistentVolumeClaimRetentionPolicy", "The lifecycle of "
            "persistent volume claims created from volumeClaimTemplates."),
        "ordinals": ref(APPS + "StatefulSetOrdinals", "Controls the numbering of replica "
                        "indices in a StatefulSet."),
    },
    ("selector", "template"),
)
_STATEFULSET_STATUS = obj(
    "StatefulSetStatus represents the current state of a StatefulSet.",
    {
        "observedGeneration": _OBSERVED,
        "replicas": integer("The number of Pods created by the StatefulSet controller."),
        "readyReplicas": integer("The number of pods created for this StatefulSet with a "
                                 "Ready Condition."),
        "currentReplicas": integer("The number of Pods created by the StatefulSet controller "
                                   "from the StatefulSet version indicated by "
                                   "currentRevision."),
        "updatedReplicas": integer("The number of Pods created by the StatefulSet controller "
                                   "from the StatefulSet version indicated by "
                                   "updateRevision."),
        "currentRevision": string("The version of the StatefulSet used to generate Pods in "
                                  "the sequence [0,currentReplicas)."),
        "updateRevision": string("The version of the StatefulSet used to generate Pods in "
                                 "the sequence [replicas-updatedReplicas,replicas)."),
        "collisionCount": _COLLISION,
        "conditions": conditions(APPS + "StatefulSetCondition", "Represents the latest "
                                 "available observations of a statefulset's current state."),
        "availableReplicas": integer("Total number of available pods (ready for at least "
                                     "minReadySeconds) targeted by this statefulset."),
    },
    ("replicas",),
)
_STATEFULSET_STRATEGY = obj(
    "StatefulSetUpdateStrategy indicates the strategy that the StatefulSet controller will "
    "use to perform updates.",
    {
        "type": string("Type indicates the type of the StatefulSetUpdateStrategy. Default is "
                       "RollingUpdate.", enum=("OnDelete", "RollingUpdate")),
        "rollingUpdate": ref(APPS + "RollingUpdateStatefulSetStrategy", "Used to communicate "
                             "parameters when Type is RollingUpdateStatefulSetStrategyType."),
    },
)
_ROLLING_STATEFULSET = obj(
    "RollingUpdateStatefulSetStrategy is used to communicate parameter for "
    "RollingUpdateStatefulSetStrategyType.",
    {
        "partition": integer("Partition indicates the ordinal at which the StatefulSet should "
                             "be partitioned for updates. Default value is 0."),
        "maxUnavailable": int_or_string("The maximum number of pods that can be unavailable "
                                        "during the update. Defaults to 1."),
    },
)
_DAEMONSET_SPEC = obj(
    "DaemonSetSpec is the specification of a daemon set.",
    {
        "selector": selector("A label query over pods that are managed by the daemon set. "
                             "Must match in order to be controlled."),
        "template": ref("PodTemplateSpec", "An object that describes the pod that will be "
                        "created. The DaemonSet will create exactly one copy of this pod on "
                        "every node that matches the template's node selector."),
        "updateStrategy": ref(APPS + "DaemonSetUpdateStrategy", "An update strategy to "
                              "replace existing DaemonSet pods with new pods."),
        "minReadySeconds": _MIN_READY,
        "revisionHistoryLimit": _HISTORY,
    },
    ("selector", "template"),
)
_DAEMONSET_STATUS = obj(
    "DaemonSetStatus represents the current status of a daemon set.",
    {
        "currentNumberScheduled": integer("The number of nodes that are running at least 1 "
                                          "daemon pod and are supposed to run the daemon "
                                          "pod."),
        "numberMisscheduled": integer("The number of nodes that are running the daemon pod, "
                                      "but are not supposed to run the daemon pod."),
        "desiredNumberScheduled": integer("The total number of nodes that should be running "
                                          "the daemon pod."),
        "numberReady": integer("The number of nodes that should be running the daemon pod "
                               "and have one or more of the daemon pod running with a Ready "
                               "Condition."),
        "observedGeneration": _OBSERVED,
        "updatedNumberScheduled": integer("The total number of nodes that are running "
                                          "updated daemon pod."),
        "numberAvailable": integer("The number of nodes that should be running the daemon "
                                   "pod and have one or more of the daemon pod running and "
                                   "available."),
        "numberUnavailable": integer("The number of nodes that should be running the daemon "
                                     "pod and have none of the daemon pod running and "
                                     "available."),
        "collisionCount": _COLLISION,
        "conditions": conditions(APPS + "DaemonSetCondition", "Represents the latest "
                                 "available observations of a DaemonSet's current state."),
    },
    ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"),
)
_DAEMONSET_STRATEGY = obj(
    "DaemonSetUpdateStrategy is a struct used to control the update strategy for a "
    "DaemonSet.",
    {
        "type": string("Type of daemon set update. Can be \"RollingUpdate\" or \"OnDelete\". "
                       "Default is RollingUpdate.", enum=("OnDelete", "RollingUpdate")),
        "rollingUpdate": ref(APPS + "RollingUpdateDaemonSet", "Rolling update config params. "
                             "Present only if type = \"RollingUpdate\"."),
    },
)
_ROLLING_DAEMONSET = obj(
    "Spec to control the desired behavior of daemon set rolling update.",
    {
        "maxUnavailable": int_or_string("The maximum number of DaemonSet pods that can be "
                                        "unavailable during the update. Default is 1."),
        "maxSurge": int_or_string("The maximum number of nodes with an existing available "
                                  "DaemonSet pod that can have an updated DaemonSet pod "
                                  "during during an update. Default is 0."),
    },
)

#: The apps/v1 kinds and their parts, by full name.
SCHEMAS: dict[str, Obj] = {
    APPS + "Deployment": workload_kind("Deployment enables declarative updates for Pods and "
                                       "ReplicaSets.", APPS, "Deployment", _GROUP),
    APPS + "DeploymentSpec": _DEPLOYMENT_SPEC,
    APPS + "DeploymentStatus": _DEPLOYMENT_STATUS,
    APPS + "DeploymentStrategy": _STRATEGY,
    APPS + "RollingUpdateDeployment": _ROLLING_DEPLOYMENT,
    APPS + "DeploymentCondition": condition("DeploymentCondition describes the state of a "
                                            "deployment at a certain point.", update=True),
    APPS + "ReplicaSet": workload_kind("ReplicaSet ensures that a specified number of pod "
                                       "replicas are running at any given time.", APPS,
                                       "ReplicaSet", _GROUP),
    APPS + "ReplicaSetSpec": _REPLICASET_SPEC,
    APPS + "ReplicaSetStatus": _REPLICASET_STATUS,
    APPS + "ReplicaSetCondition": condition("ReplicaSetCondition describes the state of a "
                                            "replica set at a certain point."),
    APPS + "StatefulSet": workload_kind("StatefulSet represents a set of pods with consistent "
                                        "identities.", APPS, "StatefulSet", _GROUP),
    APPS + "StatefulSetSpec": _STATEFULSET_SPEC,
    APPS + "StatefulSetStatus": _STATEFULSET_STATUS,
    APPS + "StatefulSetCondition": condition("StatefulSetCondition describes the state of a "
                                             "statefulset at a certain point."),
    APPS + "StatefulSetUpdateStrategy": _STATEFULSET_STRATEGY,
    APPS + "RollingUpdateStatefulSetStrategy": _ROLLING_STATEFULSET,
    APPS + "StatefulSetPersistentVolumeClaimRetentionPolicy": obj(
        "StatefulSetPersistentVolumeClaimRetentionPolicy describes the policy used for PVCs "
        "created from the StatefulSet VolumeClaimTemplates.",
        {"whenDeleted": string("What happens to PVCs created from StatefulSet "
                               "VolumeClaimTemplates when the StatefulSet is deleted.",
                               enum=("Delete", "Retain")),
         "whenScaled": string("What happens to PVCs created from StatefulSet "
                              "VolumeClaimTemplates when the StatefulSet is scaled down.",
                              enum=("Delete", "Retain"))}),
    APPS + "StatefulSetOrdinals": obj(
        "StatefulSetOrdinals describes the policy used for replica ordinal assignment in "
        "this StatefulSet.",
        {"start": integer("The number representing the first replica's index.")}),
    APPS + "DaemonSet": workload_kind("DaemonSet represents the configuration of a daemon "
                                      "set.", APPS, "DaemonSet", _GROUP),
    APPS + "DaemonSetSpec": _DAEMONSET_SPEC,
    APPS + "DaemonSetStatus": _DAEMONSET_STATUS,
    APPS + "DaemonSetCondition": condition("DaemonSetCondition describes the state of a "
                                           "DaemonSet at a certain point."),
    APPS + "DaemonSetUpdateStrategy": _DAEMONSET_STRATEGY,
    APPS + "RollingUpdateDaemonSet": _ROLLING_DAEMONSET,
    APPS + "ControllerRevision": obj(
        "ControllerRevision implements an immutable snapshot of state data. Once created, "
        "its data can not be changed; it may be deleted.",
        {**kind_header("In CamelCase."),
         "data": free("Data is the serialized representation of the state."),
         "revision": int64("Revision indicates the revision of the state represented by "
                           "Data.")},
        ("revision",), gvk=(_GROUP, "v1", "ControllerRevision")),
}
