"""OpenAPI v3 schemas of core/v1 Container and what it is made of (ports, env, probes, ...).

Field names follow k8s.io/api/core/v1/types.go at v0.32; fields km does not model deeply
(security contexts' platform options, lifecycle sleep, ...) keep any content.
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import (
    INT_OR_STRING,
    Obj,
    array,
    boolean,
    free,
    int64,
    integer,
    obj,
    quantities,
    ref,
    refs,
    string,
    strings,
)

_PROTOCOL = string("Protocol: TCP (default), UDP or SCTP.", enum=("SCTP", "TCP", "UDP"))

_CONTAINER_PORT = obj(
    "ContainerPort is a network port in a single container.",
    {
        "name": string("An IANA_SVC_NAME, unique within the pod; services can refer to it."),
        "containerPort": integer("Port number on the pod's IP address (1-65535)."),
        "hostPort": integer("Port number to expose on the host."),
        "hostIP": string("Host IP to bind the host port to."),
        "protocol": _PROTOCOL,
    },
    ("containerPort",),
)

_KEY_SELECTOR_PROPS: dict[str, Obj] = {
    "key": string("The key to select."),
    "name": string("Name of the referent."),
    "optional": boolean("Whether the referent or its key may be missing."),
}

_ENV_VAR_SOURCE = obj(
    "EnvVarSource is where an environment variable's value comes from.",
    {
        "configMapKeyRef": ref("ConfigMapKeySelector", "A key of a ConfigMap."),
        "fieldRef": ref("ObjectFieldSelector", "A field of the pod, such as status.podIP."),
        "resourceFieldRef": ref("ResourceFieldSelector", "A container resource limit/request."),
        "secretKeyRef": ref("SecretKeySelector", "A key of a Secret."),
    },
)

_ENV_VAR = obj(
    "EnvVar is an environment variable present in a container.",
    {
        "name": string("Name of the environment variable."),
        "value": string("Value; $(VAR) references to earlier variables are expanded."),
        "valueFrom": ref("EnvVarSource", "Source of the value; cannot be used with value."),
    },
    ("name",),
)

_ENV_FROM_SOURCE = obj(
    "EnvFromSource sets environment variables from every key of a ConfigMap or Secret.",
    {
        "prefix": string("Prefix to prepend to every key."),
        "configMapRef": ref("ConfigMapEnvSource", "The ConfigMap to select from."),
        "secretRef": ref("SecretEnvSource", "The Secret to select from."),
    },
)

_RESOURCE_REQUIREMENTS = obj(
    "ResourceRequirements describes the compute resources a container needs.",
    {
        "limits": quantities("Maximum amount of compute resources allowed."),
        "requests": quantities("Minimum amount of compute resources required."),
        "claims": free("Dynamically allocated resources used by this container."),
    },
)

_VOLUME_MOUNT = obj(
    "VolumeMount describes a mounting of a volume within a container.",
    {
        "name": string("Name of a volume of the pod."),
        "mountPath": string("Path within the container at which to mount the volume."),
        "readOnly": boolean("Mount read-only when true."),
        "recursiveReadOnly": string("Disabled, IfPossible or Enabled."),
        "subPath": string("Path within the volume to mount instead of its root."),
        "subPathExpr": string("Like subPath, with $(VAR) expansion."),
        "mountPropagation": string("None, HostToContainer or Bidirectional."),
    },
    ("name", "mountPath"),
)

_HTTP_GET = obj(
    "HTTPGetAction describes an HTTP GET request.",
    {
        "path": string("Path to access on the HTTP server."),
        "port": ref(INT_OR_STRING, "Number or name of the port to access."),
        "host": string("Host name to connect to; defaults to the pod IP."),
        "scheme": string("HTTP (default) or HTTPS.", enum=("HTTP", "HTTPS")),
        "httpHeaders": array(free(), "Custom headers to set in the request."),
    },
    ("port",),
)

_PROBE = obj(
    "Probe describes a health check to be performed against a container.",
    {
        "exec": ref("ExecAction", "Run a command in the container."),
        "httpGet": ref("HTTPGetAction", "Send an HTTP GET request."),
        "tcpSocket": ref("TCPSocketAction", "Open a TCP connection."),
        "grpc": free("Call a gRPC health check."),
        "initialDelaySeconds": integer("Seconds after start before probes begin."),
        "timeoutSeconds": integer("Seconds after which the probe times out (default 1)."),
        "periodSeconds": integer("How often to probe, in seconds (default 10)."),
        "successThreshold": integer("Consecutive successes to count as success (default 1)."),
        "failureThreshold": integer("Consecutive failures to count as failure (default 3)."),
        "terminationGracePeriodSeconds": int64("Grace period after a liveness failure."),
    },
)

_HANDLER = obj(
    "LifecycleHandler is an action taken on a lifecycle event.",
    {
        "exec": ref("ExecAction", "Run a command in the container."),
        "httpGet": ref("HTTPGetAction", "Send an HTTP GET request."),
        "tcpSocket": ref("TCPSocketAction", "Deprecated; kept for compatibility."),
        "sleep": free("Sleep for a number of seconds."),
    },
)

_CONTAINER_PROPS: dict[str, Obj] = {
    "name": string("Name of the container, a DNS label unique within the pod."),
    "image": string("Container image name; km records it but runs command/args locally."),
    "command": strings("Entrypoint array; not run in a shell."),
    "args": strings("Arguments to the entrypoint."),
    "workingDir": string("Working directory of the container's process."),
    "ports": refs("ContainerPort", "Ports to expose from the container.", key="containerPort",
                  patch="merge"),
    "env": refs("EnvVar", "Environment variables to set in the container.", key="name",
                patch="merge"),
    "envFrom": refs("EnvFromSource", "Sources of environment variables."),
    "resources": ref("ResourceRequirements", "Compute resources required by the container."),
    "resizePolicy": array(free(), "How the container is resized."),
    "restartPolicy": string("Always, only for init containers that run as sidecars."),
    "volumeMounts": refs("VolumeMount", "Volumes to mount into the filesystem.",
                         key="mountPath", patch="merge"),
    "volumeDevices": array(free(), "Block devices used by the container."),
    "livenessProbe": ref("Probe", "Restart the container when this probe fails."),
    "readinessProbe": ref("Probe", "Remove the pod from endpoints when this probe fails."),
    "startupProbe": ref("Probe", "Delay the other probes until this one succeeds."),
    "lifecycle": ref("Lifecycle", "Actions taken on container lifecycle events."),
    "terminationMessagePath": string("File the termination message is read from."),
    "terminationMessagePolicy": string("File (default) or FallbackToLogsOnError."),
    "imagePullPolicy": string("Always, Never or IfNotPresent.",
                              enum=("Always", "IfNotPresent", "Never")),
    "securityContext": ref("SecurityContext", "Security options of the container."),
    "stdin": boolean("Allocate a buffer for stdin."),
    "stdinOnce": boolean("Close stdin after the first attach."),
    "tty": boolean("Allocate a TTY."),
}

#: Container and its parts, by full name.
SCHEMAS: dict[str, Obj] = {
    "io.k8s.api.core.v1.Container": obj(
        "A single application container that you want to run within a pod.",
        _CONTAINER_PROPS, ("name",),
    ),
    "io.k8s.api.core.v1.EphemeralContainer": obj(
        "A temporary container added to a running pod for debugging.",
        {**_CONTAINER_PROPS, "targetContainerName": string("Container to share a PID with.")},
        ("name",),
    ),
    "io.k8s.api.core.v1.ContainerPort": _CONTAINER_PORT,
    "io.k8s.api.core.v1.EnvVar": _ENV_VAR,
    "io.k8s.api.core.v1.EnvVarSource": _ENV_VAR_SOURCE,
    "io.k8s.api.core.v1.EnvFromSource": _ENV_FROM_SOURCE,
    "io.k8s.api.core.v1.ConfigMapKeySelector": obj(
        "Selects a key from a ConfigMap.", _KEY_SELECTOR_PROPS, ("key",)),
    "io.k8s.api.core.v1.SecretKeySelector": obj(
        "Selects a key of a Secret in the pod's namespace.", _KEY_SELECTOR_PROPS, ("key",)),
    "io.k8s.api.core.v1.ConfigMapEnvSource": obj(
        "Selects a ConfigMap to populate environment variables with.",
        {"name": string("Name of the ConfigMap."), "optional": boolean("May be missing.")}),
    "io.k8s.api.core.v1.SecretEnvSource": obj(
        "Selects a Secret to populate environment variables with.",
        {"name": string("Name of the Secret."), "optional": boolean("May be missing.")}),
    "io.k8s.api.core.v1.ObjectFieldSelector": obj(
        "Selects a field of the pod.",
        {"apiVersion": string("Version of the schema the path is written in."),
         "fieldPath": string("Path of the field, such as metadata.name.")},
        ("fieldPath",)),
    "io.k8s.api.core.v1.ResourceFieldSelector": obj(
        "Selects a container resource (limits.cpu, requests.memory, ...).",
        {"containerName": string("Container name."),
         "resource": string("Resource to select."),
         "divisor": ref("io.k8s.apimachinery.pkg.api.resource.Quantity", "Output format.")},
        ("resource",)),
    "io.k8s.api.core.v1.ResourceRequirements": _RESOURCE_REQUIREMENTS,
    "io.k8s.api.core.v1.VolumeMount": _VOLUME_MOUNT,
    "io.k8s.api.core.v1.Probe": _PROBE,
    "io.k8s.api.core.v1.ExecAction": obj(
        "ExecAction runs a command in the container.",
        {"command": strings("Command line to execute; exit status 0 is healthy.")}),
    "io.k8s.api.core.v1.HTTPGetAction": _HTTP_GET,
    "io.k8s.api.core.v1.TCPSocketAction": obj(
        "TCPSocketAction opens a TCP connection.",
        {"port": ref(INT_OR_STRING, "Number or name of the port."),
         "host": string("Host name to connect to; defaults to the pod IP.")},
        ("port",)),
    "io.k8s.api.core.v1.Lifecycle": obj(
        "Lifecycle describes actions taken in response to container lifecycle events.",
        {"postStart": ref("LifecycleHandler", "Called right after a container is created."),
         "preStop": ref("LifecycleHandler", "Called before a container is terminated.")}),
    "io.k8s.api.core.v1.LifecycleHandler": _HANDLER,
    "io.k8s.api.core.v1.SecurityContext": obj(
        "Security options of a container; fields override the pod's.",
        {"allowPrivilegeEscalation": boolean("Whether a process can gain privileges."),
         "appArmorProfile": free("AppArmor options."),
         "capabilities": free("Capabilities to add or drop."),
         "privileged": boolean("Run in privileged mode."),
         "procMount": string("Type of proc mount."),
         "readOnlyRootFilesystem": boolean("Mount the root filesystem read-only."),
         "runAsGroup": int64("GID to run the entrypoint as."),
         "runAsNonRoot": boolean("Refuse to start as UID 0."),
         "runAsUser": int64("UID to run the entrypoint as."),
         "seLinuxOptions": free("SELinux context."),
         "seccompProfile": free("Seccomp options."),
         "windowsOptions": free("Windows-specific settings.")}),
}
