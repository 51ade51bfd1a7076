"""OpenAPI v3 schemas of core/v1 Pod: spec, volumes, tolerations, status.

Field names follow k8s.io/api/core/v1/types.go at v0.32. Volume sources km does not run
(cloud disks, iSCSI, ...) are listed so manifests that name them pass strict validation, and
keep any content.
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import (
    META,
    QUANTITY,
    Obj,
    array,
    boolean,
    free,
    int64,
    integer,
    kind_header,
    obj,
    quantities,
    ref,
    refs,
    string,
    string_map,
    strings,
    time,
)

_UNMODELLED_VOLUME_SOURCES = (
    "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "csi", "ephemeral",
    "fc", "flexVolume", "flocker", "gcePersistentDisk", "gitRepo", "glusterfs", "image",
    "iscsi", "nfs", "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO",
    "storageos", "vsphereVolume", "downwardAPI", "projected",
)

_VOLUME = obj(
    "Volume is a named volume in a pod that containers can mount.",
    {
        "name": string("Name of the volume, a DNS label unique within the pod."),
        "emptyDir": ref("EmptyDirVolumeSource", "A temporary directory sharing the pod's life."),
        "hostPath": ref("HostPathVolumeSource", "A file or directory on the host."),
        "configMap": ref("ConfigMapVolumeSource", "A ConfigMap's keys as files."),
        "secret": ref("SecretVolumeSource", "A Secret's keys as files."),
        "persistentVolumeClaim": ref("PersistentVolumeClaimVolumeSource",
                                     "A PersistentVolumeClaim in the same namespace."),
        **{name: free(f"A {name} volume (not run by km).")
           for name in _UNMODELLED_VOLUME_SOURCES},
    },
    ("name",),
)

_KEY_TO_PATH = obj(
    "Maps a key to a relative file path within a volume.",
    {"key": string("The key to project."), "path": string("Relative path of the file."),
     "mode": integer("File mode bits.")},
    ("key", "path"),
)

_TOLERATION = obj(
    "The pod this Toleration is attached to tolerates any taint that matches the triple "
    "<key,value,effect>.",
    {
        "key": string("Taint key; empty with operator Exists matches all keys."),
        "operator": string("Exists or Equal (default).", enum=("Equal", "Exists")),
        "value": string("Taint value to match, for operator Equal."),
        "effect": string("NoSchedule, PreferNoSchedule or NoExecute; empty matches all."),
        "tolerationSeconds": int64("How long a NoExecute taint is tolerated."),
    },
)

_POD_SPEC_PROPS: dict[str, Obj] = {
    "containers": refs("Container", "Containers of the pod; at least one.", key="name",
                       patch="merge"),
    "initContainers": refs("Container", "Containers run to completion before the others.",
                           key="name", patch="merge"),
    "ephemeralContainers": refs("EphemeralContainer", "Debugging containers.", key="name",
                                patch="merge"),
    "volumes": refs("Volume", "Volumes that containers of the pod can mount.", key="name",
                    patch="merge,retainKeys"),
    "restartPolicy": string("Always (default), OnFailure or Never.",
                            enum=("Always", "Never", "OnFailure")),
    "terminationGracePeriodSeconds": int64("Seconds between SIGTERM and SIGKILL (default 30)."),
    "activeDeadlineSeconds": int64("Seconds the pod may be active before it is failed."),
    "dnsPolicy": string("ClusterFirst (default), ClusterFirstWithHostNet, Default or None."),
    "dnsConfig": free("DNS parameters of the pod."),
    "nodeSelector": string_map("Labels a node must have for the pod to run on it."),
    "nodeName": string("The node the pod is bound to; set by the scheduler via binding."),
    "serviceAccountName": string("Name of the ServiceAccount the pod runs as."),
    "serviceAccount": string("Deprecated alias for serviceAccountName."),
    "automountServiceAccountToken": boolean("Mount the service account token."),
    "hostNetwork": boolean("Use the host's network namespace."),
    "hostPID": boolean("Use the host's PID namespace."),
    "hostIPC": boolean("Use the host's IPC namespace."),
    "hostUsers": boolean("Use the host's user namespace."),
    "shareProcessNamespace": boolean("Share one PID namespace between containers."),
    "securityContext": free("Pod-level security attributes."),
    "imagePullSecrets": refs("LocalObjectReference", "Secrets used to pull images.",
                             key="name", patch="merge"),
    "hostname": string("Host name of the pod; defaults to the pod name."),
    "subdomain": string("Subdomain; the FQDN is hostname.subdomain.ns.svc.<domain>."),
    "setHostnameAsFQDN": boolean("Set the hostname to the FQDN."),
    "affinity": ref("Affinity", "Node, pod and anti-pod affinity scheduling constraints."),
    "schedulerName": string("Scheduler that places the pod (default default-scheduler)."),
    "tolerations": refs("Toleration", "Taints the pod tolerates."),
    "hostAliases": refs("HostAlias", "Entries added to the pod's hosts file.", key="ip",
                        patch="merge"),
    "priorityClassName": string("Name of the pod's PriorityClass."),
    "priority": integer("Priority value, filled from the PriorityClass."),
    "preemptionPolicy": string("Never or PreemptLowerPriority."),
    "readinessGates": refs("PodReadinessGate", "Extra conditions for pod readiness."),
    "runtimeClassName": string("RuntimeClass to run the pod with."),
    "enableServiceLinks": boolean("Inject service environment variables (default true)."),
    "overhead": quantities("Resource overhead of the pod's runtime."),
    "topologySpreadConstraints": array(
        ref("TopologySpreadConstraint"), "How pods spread across topology domains.",
        list_type="map", keys=("topologyKey", "whenUnsatisfiable"), patch="merge",
        merge_key="topologyKey"),
    "os": free("Operating system of the containers."),
    "schedulingGates": refs("PodSchedulingGate", "Gates that block scheduling while present; "
                            "an update may only remove them.", key="name", patch="merge"),
    "resourceClaims": array(free(), "Dynamically allocated resources."),
    "resources": ref("ResourceRequirements", "Pod-level compute resources."),
}

_CONTAINER_STATE = obj(
    "ContainerState holds one of waiting, running or terminated.",
    {
        "waiting": ref("ContainerStateWaiting", "The container is waiting to start."),
        "running": ref("ContainerStateRunning", "The container is running."),
        "terminated": ref("ContainerStateTerminated", "The container has terminated."),
    },
)

_CONTAINER_STATUS = obj(
    "ContainerStatus is the current state of one container.",
    {
        "name": string("Container name."),
        "state": ref("ContainerState", "Current state."),
        "lastState": ref("ContainerState", "Previous termination, if any."),
        "ready": boolean("Whether the container passes its readiness probe."),
        "restartCount": integer("Number of restarts."),
        "image": string("The image the container runs."),
        "imageID": string("ID of the image."),
        "containerID": string("<type>://<id> of the container."),
        "started": boolean("Whether the container passed its startup probe."),
        "allocatedResources": quantities("Resources allocated to the container."),
        "allocatedResourcesStatus": array(free(), "Health of allocated resources."),
        "resources": ref("ResourceRequirements", "Resources applied to the container."),
        "user": free("Identity of the container's first process."),
        "volumeMounts": array(free(), "Status of volume mounts."),
    },
    ("name", "ready", "restartCount", "image", "imageID"),
)

_POD_CONDITION = obj(
    "PodCondition contains details for the current condition of this pod.",
    {
        "type": string("PodScheduled, Initialized, ContainersReady, Ready, ..."),
        "status": string("True, False or Unknown."),
        "lastProbeTime": time("Last time the condition was probed."),
        "lastTransitionTime": time("Last time the condition changed status."),
        "reason": string("Machine-readable reason of the last transition."),
        "message": string("Human-readable message about the last transition."),
    },
    ("type", "status"),
)

_POD_STATUS = obj(
    "PodStatus is the most recently observed status of a pod.",
    {
        "phase": string("Pending, Running, Succeeded, Failed or Unknown.",
                        enum=("Failed", "Pending", "Running", "Succeeded", "Unknown")),
        "conditions": refs("PodCondition", "Current service state of the pod.", key="type",
                           patch="merge"),
        "message": string("Why the pod is in this condition."),
        "reason": string("Brief CamelCase reason, such as Evicted."),
        "nominatedNodeName": string("Node the pod may run on after preemption."),
        "hostIP": string("IP address of the pod's node."),
        "hostIPs": array(ref("HostIP"), "IP addresses of the pod's node."),
        "podIP": string("IP address of the pod."),
        "podIPs": array(ref("PodIP"), "IP addresses of the pod."),
        "startTime": time("When the kubelet acknowledged the pod."),
        "initContainerStatuses": refs("ContainerStatus", "Status of init containers."),
        "containerStatuses": refs("ContainerStatus", "Status of containers."),
        "ephemeralContainerStatuses": refs("ContainerStatus", "Status of debug containers."),
        "qosClass": string("Guaranteed, Burstable or BestEffort."),
        "resize": string("Status of a requested resize."),
        "resourceClaimStatuses": array(free(), "Status of resource claims."),
    },
)

_POD_TEMPLATE_SPEC = obj(
    "PodTemplateSpec describes the pods a controller creates.",
    {
        "metadata": ref(META + "ObjectMeta", "Metadata of the pods."),
        "spec": ref("PodSpec", "Specification of the pods."),
    },
)

#: Pod and its parts, by full name.
SCHEMAS: dict[str, Obj] = {
    "io.k8s.api.core.v1.Pod": obj(
        "Pod is a collection of containers that can run on a host.",
        {
            **kind_header("In CamelCase."),
            "spec": ref("PodSpec", "Specification of the desired behavior of the pod."),
            "status": ref("PodStatus", "Most recently observed status of the pod."),
        },
        gvk=("", "v1", "Pod"),
    ),
    "io.k8s.api.core.v1.PodSpec": obj(
        "PodSpec is a description of a pod.", _POD_SPEC_PROPS, ("containers",)),
    "io.k8s.api.core.v1.PodStatus": _POD_STATUS,
    "io.k8s.api.core.v1.PodCondition": _POD_CONDITION,
    "io.k8s.api.core.v1.ContainerStatus": _CONTAINER_STATUS,
    "io.k8s.api.core.v1.ContainerState": _CONTAINER_STATE,
    "io.k8s.api.core.v1.ContainerStateWaiting": obj(
        "A waiting container.",
        {"reason": string("Why it is waiting, such as ContainerCreating."),
         "message": string("Details of why it is waiting.")}),
    "io.k8s.api.core.v1.ContainerStateRunning": obj(
        "A running container.", {"startedAt": time("When the container last (re)started.")}),
    "io.k8s.api.core.v1.ContainerStateTerminated": obj(
        "A terminated container.",
        {"exitCode": integer("Exit status of the last termination."),
         "signal": integer("Signal of the last termination."),
         "reason": string("Why it terminated, such as Completed or Error."),
         "message": string("Details of the termination."),
         "startedAt": time("When the container started."),
         "finishedAt": time("When the container terminated."),
         "containerID": string("<type>://<id> of the container.")},
        ("exitCode",)),
    "io.k8s.api.core.v1.PodIP": obj("An IP address of the pod.",
                                     {"ip": string("The IP address.")}, ("ip",)),
    "io.k8s.api.core.v1.HostIP": obj("An IP address of the pod's host.",
                                      {"ip": string("The IP address.")}, ("ip",)),
    "io.k8s.api.core.v1.PodTemplateSpec": _POD_TEMPLATE_SPEC,
    "io.k8s.api.core.v1.Volume": _VOLUME,
    "io.k8s.api.core.v1.EmptyDirVolumeSource": obj(
        "An empty directory for the lifetime of the pod.",
        {"medium": string("Storage medium: empty (node default) or Memory."),
         "sizeLimit": ref(QUANTITY, "Maximum size of the directory.")}),
    "io.k8s.api.core.v1.HostPathVolumeSource": obj(
        "A file or directory on the host.",
        {"path": string("Path on the host."), "type": string("Type of the path.")},
        ("path",)),
    "io.k8s.api.core.v1.ConfigMapVolumeSource": obj(
        "Projects a ConfigMap's keys into files.",
        {"name": string("Name of the ConfigMap."),
         "items": refs("KeyToPath", "Keys to project; all when empty."),
         "defaultMode": integer("Mode bits of the files."),
         "optional": boolean("Whether the ConfigMap may be missing.")}),
    "io.k8s.api.core.v1.SecretVolumeSource": obj(
        "Projects a Secret's keys into files.",
        {"secretName": string("Name of the Secret."),
         "items": refs("KeyToPath", "Keys to project; all when empty."),
         "defaultMode": integer("Mode bits of the files."),
         "optional": boolean("Whether the Secret may be missing.")}),
    "io.k8s.api.core.v1.PersistentVolumeClaimVolumeSource": obj(
        "References a PersistentVolumeClaim in the pod's namespace.",
        {"claimName": string("Name of the claim."), "readOnly": boolean("Mount read-only.")},
        ("claimName",)),
    "io.k8s.api.core.v1.KeyToPath": _KEY_TO_PATH,
    "io.k8s.api.core.v1.Toleration": _TOLERATION,
    "io.k8s.api.core.v1.LocalObjectReference": obj(
        "A reference to an object in the same namespace.", {"name": string("Name.")}),
    "io.k8s.api.core.v1.HostAlias": obj(
        "An entry of the pod's hosts file.",
        {"ip": string("IP address."), "hostnames": strings("Host names for the IP.")},
        ("ip",)),
    "io.k8s.api.core.v1.PodReadinessGate": obj(
        "A condition the pod needs for readiness.",
        {"conditionType": string("A condition type of the pod.")}, ("conditionType",)),
}
