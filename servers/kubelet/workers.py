"""Pod workers: one per pod, deciding what should run; the runtime only does it.

As kube's ``pkg/kubelet/pod_workers.go`` + ``kuberuntime_manager.go`` ``SyncPod``, level
triggered: each pass reads the runtime's containers of the pod's sandbox (so a restarted
kubelet adopts what an earlier one started: the sandbox is found by the pod's uid, each
container by name, its restart count is its attempt) and starts what is missing — init
containers in order, sidecars (init containers with restartPolicy Always) kept running,
then the app containers — restarting exited ones as restartPolicy says, after
CrashLoopBackOff's delay. Then it writes the pod's status when it changed. A deleted pod's
containers are stopped (preStop, SIGTERM, SIGKILL at the grace period's end), its terminal
status written, its sandbox and volumes removed, and only then the final DELETE sent
(gracePeriodSeconds 0, uid precondition). A sandbox whose pod is neither bound to this node
nor has a worker (deleted while the kubelet was down, or left by a worker that never
finished) is removed by the housekeeping pass (``remove_orphans``), as kube's
HandlePodCleanups and container GC remove the sandboxes of pods gone from the API.

Status goes as a strategic merge patch of ``pods/NAME/status`` carrying ``metadata.uid``
(kube's status manager), sent when it changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import Conflict, NotFound, StatusError
from servers.apimachinery.quantity import milli, value
from servers.client.errors import ClientError
from servers.client.resources import CONFIGMAPS, PODS, SERVICES, ResourceRef
from servers.kubelet import dns, podstatus, volumes
from servers.kubelet.backoff import CrashBackoff, go_duration
from servers.kubelet.envvars import ConfigError, Sources, expand, make_env
from servers.kubelet.logs import rotate
from servers.kubelet.podstatus import View, is_sidecar, rfc3339
from servers.kubelet.probes import Prober
from servers.kubelet.runtime.errors import NotFound as RuntimeNotFound
from servers.kubelet.runtime.errors import RuntimeFailure
from servers.kubelet.runtime.interface import (
    CONTAINER_EXITED,
    CONTAINER_RUNNING,
    SANDBOX_READY,
    ContainerConfig,
    Mount,
    PodSandboxConfig,
    Resources,
    SandboxStatus,
    Security,
)
from servers.kubelet.tokens import TokenError, TokenManager

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj
    from servers.client.events import EventRecorder
    from servers.client.informer import Informer
    from servers.client.rest import Client
    from servers.kubelet.runtime.interface import ContainerStatus, Runtime

__all__ = ["Kubelet", "PodWorker", "field_path"]

log = logging.getLogger(__name__)

SECRETS = ResourceRef("", "v1", "secrets", True, "Secret")
RESYNC = 1.0  # how often a live pod's worker looks at its containers
VOLUME_REFRESH = 5.0  # how often configMap, secret and downwardAPI volumes are rewritten
MIN_GRACE = 2.0  # kube's minimumGracePeriodInSeconds
NO_COMMAND = ("km runs no images: container {name} needs a command (or args) to run "
              "a program from the host")


@dataclass
class PodWorker:
    """One pod's worker: the latest pod from the API and a wake-up."""

    uid: str
    pod: Obj
    gone: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    sandbox_id: str = ""
    last_status: Obj | None = None
    terminal: str = ""
    started_at: float = 0.0
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)  # why not running
    container_ids: set[str] | None = None  # the sandbox's containers (None: list them)
    ended: dict[str, ContainerStatus] = field(default_factory=dict)  # exited: final
    volumes: dict[str, str] | None = None  # volume name -> host path, once set up
    volumes_at: float = 0.0  # when the volumes were last written
    starts: int = 0  # containers this worker tried to start (a resync that started none
    # reads the containers once)


class Kubelet:
    """The pods of this node: workers, the runtime, status writes and events."""

    def __init__(self, client: Client, runtime: Runtime, recorder: EventRecorder, *,
                 node_name: str, node_ip: str, root_dir: str,
                 allocatable: dict[str, str], cluster_dns: list[str] | None = None,
                 cluster_domain: str = "cluster.local",
                 resolv_conf: str = "/etc/resolv.conf",
                 services: Informer | None = None) -> None:
        self.client = client
        self.services = services  # every Service, for the env (None: listed per container)
        self.runtime = runtime
        self.recorder = recorder
        self.node_name = node_name
        self.node_ip = node_ip
        self.root_dir = root_dir
        self.allocatable = allocatable
        self.cluster_dns = list(cluster_dns or ())
        self.cluster_domain = cluster_domain
        self.resolv_conf = resolv_conf
        # Only a sandbox with its own mount namespace can have its own /etc files.
        self.own_etc = getattr(runtime, "isolation", "") == "namespaces"
        self.backoff = CrashBackoff()
        self.tokens = TokenManager(client)  # projected serviceAccountToken sources
        self.workers: dict[str, PodWorker] = {}
        self.stopping = False
        # uid -> a ready sandbox an earlier kubelet made (to adopt), listed once: a sandbox
        # made since is known to its worker, so a new pod need not read every record
        self._adoptable: dict[str, SandboxStatus] | None = None
        self._listing = asyncio.Lock()
        self.prober = Prober(runtime, on_event=self._event, on_change=self._wake,
                             kill=self._probe_kill)

    def _wake(self, uid: str) -> None:
        worker = self.workers.get(uid)
        if worker is not None:
            worker.wake.set()

    async def _probe_kill(self, container_id: str, spec: Obj, grace: float) -> None:
        with contextlib.suppress(RuntimeFailure):
            await self.runtime.stop_container(container_id, max(grace, MIN_GRACE))

    async def is_running(self, container_id: str) -> bool:
        try:
            status = await self.runtime.container_status(container_id)
        except RuntimeNotFound:
            return False
        return status.state == CONTAINER_RUNNING

    async def rotate_logs(self, max_size: int, max_files: int) -> None:
        """Rotate the running containers' log files that grew past ``max_size``."""
        for status in await self.runtime.list_containers():
            if status.state == CONTAINER_RUNNING and status.log_path and rotate(
                    status.log_path, max_size, max_files):
                with contextlib.suppress(RuntimeFailure):
                    await self.runtime.reopen_container_log(status.id)

    # -- the informer's side ---------------------------------------------------------------

    def update(self, pod: Obj) -> None:
        """A pod of this node was added or changed."""
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if worker is None:
            worker = self.workers[uid] = PodWorker(uid, pod)
            worker.task = asyncio.ensure_future(self._work(worker))
        worker.pod = pod
        worker.wake.set()

    def delete(self, pod: Obj) -> None:
        """A pod of this node is gone from the API."""
        worker = self.workers.get(pod["metadata"]["uid"])
        if worker is not None:
            worker.gone = True
            worker.wake.set()

    async def remove_orphans(self, known: set[str]) -> int:
        """Remove the sandboxes of pods that are not among ``known`` (the uids of the pods
        bound to this node, from a synced informer) and have no worker; return how many.

        A worker removes its own pod's sandbox; what is left is a pod deleted while the
        kubelet was down, or a sandbox no worker knows of. A uid with a worker is never
        touched (the worker may be making or removing its sandbox right now), and the check
        is made just before each removal: handlers run on this loop, so no worker appears
        between it and the removal's start.
        """
        removed = 0
        for sandbox in await self.runtime.list_pod_sandboxes():
            uid = sandbox.config.uid
            if self.stopping or uid in known or uid in self.workers:
                continue
            log.info("removing sandbox %s of pod %s/%s (no longer bound to this node)",
                     sandbox.id, sandbox.config.namespace, sandbox.config.name)
            try:
                await self.runtime.remove_pod_sandbox(sandbox.id)
            except RuntimeFailure as exc:  # tried again at the next pass
                log.warning("removing sandbox %s: %s", sandbox.id, exc)
                continue
            volumes.tear_down(self.root_dir, uid)
            removed += 1
        return removed

    async def stop(self) -> None:
        """Stop the workers (the pods keep running: a restarted kubelet adopts them)."""
        self.stopping = True
        self.prober.stop()
        tasks = [w.task for w in self.workers.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one worker ------------------------------------------------------------------------

    async def _work(self, worker: PodWorker) -> None:
        while not self.stopping:
            worker.wake.clear()
            try:
                if await self.sync(worker):
                    break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one pod's trouble must not end the others
                log.warning("pod %s: %s", _key(worker.pod), exc, exc_info=log.isEnabledFor(
                    logging.DEBUG))
            await _sleep_or_wake(worker.wake, 30 if worker.terminal else RESYNC)
        self.workers.pop(worker.uid, None)

    async def sync(self, worker: PodWorker) -> bool:
        """One pass over the pod; ``True`` when the worker is done (pod removed)."""
        pod = worker.pod
        if worker.gone or pod["metadata"].get("deletionTimestamp"):
            await self.terminate(worker)
            return True
        sandbox = await self._sandbox(worker)
        live = not worker.terminal and await self._volumes(worker, sandbox)
        inits, apps = await self._views(worker, sandbox, probe=live)
        starts = worker.starts
        if live:
            await self._start_what_is_missing(worker, sandbox, inits, apps)
        if worker.starts != starts:  # read again only when something was started
            inits, apps = await self._views(worker, sandbox, probe=True)
        await self._write_status(worker, sandbox, inits, apps)
        if worker.terminal:
            for view in [*inits, *apps]:
                if view.running and view.latest is not None:
                    await self.runtime.stop_container(view.latest.id, MIN_GRACE)
        return False

    async def _sandbox(self, worker: PodWorker) -> SandboxStatus:
        if worker.sandbox_id:
            with contextlib.suppress(RuntimeNotFound):
                return await self.runtime.pod_sandbox_status(worker.sandbox_id)
        meta, spec = worker.pod["metadata"], worker.pod.get("spec") or {}
        found = await self._adopt(worker.uid)
        if found is not None:
            worker.sandbox_id = found.id
            worker.started_at = found.created_at
            return found
        config = PodSandboxConfig(name=meta["name"], namespace=meta.get("namespace", "default"),
                                  uid=worker.uid, hostname=spec.get("hostname") or "",
                                  labels=dict(meta.get("labels") or {}),
                                  host_network=bool(spec.get("hostNetwork")))
        worker.sandbox_id = await self.runtime.run_pod_sandbox(config)
        # a new sandbox has no containers: no need to read every container record of the node
        worker.container_ids, worker.ended = set(), {}
        worker.started_at = time.time()
        return await self.runtime.pod_sandbox_status(worker.sandbox_id)

    async def _adopt(self, uid: str) -> SandboxStatus | None:
        """The oldest ready sandbox of ``uid`` that was there when the kubelet started (the
        node's sandboxes are listed at the first pod, once: listing reads every record)."""
        async with self._listing:
            if self._adoptable is None:
                adoptable: dict[str, SandboxStatus] = {}
                for sandbox in await self.runtime.list_pod_sandboxes():
                    if sandbox.state == SANDBOX_READY:
                        adoptable.setdefault(sandbox.config.uid, sandbox)
                self._adoptable = adoptable
        found = self._adoptable.pop(uid, None)
        if found is None:
            return None
        with contextlib.suppress(RuntimeNotFound):  # still there and ready?
            status = await self.runtime.pod_sandbox_status(found.id)
            if status.state == SANDBOX_READY:
                return status
        return None

    async def _views(self, worker: PodWorker, sandbox: SandboxStatus, *, probe: bool = False
                     ) -> tuple[list[View], list[View]]:
        """Each container's latest instances; with ``probe``, running ones get their probe
        loops and ended ones lose them."""
        spec = worker.pod.get("spec") or {}
        by_name: dict[str, list[ContainerStatus]] = {}
        for status in await self._containers(worker, sandbox):
            by_name.setdefault(status.name, []).append(status)
        for instances in by_name.values():
            instances.sort(key=lambda s: s.attempt)

        def view(container: Obj) -> View:
            instances = by_name.get(container["name"]) or []
            latest = instances[-1] if instances else None
            previous = instances[-2] if len(instances) > 1 else None
            v = View(container, latest, previous)
            if not v.running:
                v.waiting = worker.waiting.get(container["name"])
                if latest is not None:
                    self.prober.forget(latest.id)
                return v
            assert latest is not None
            if probe:
                self.prober.ensure(worker.pod, container, latest.id, sandbox.ip)
            v.ready = self.prober.ready(latest.id, container)
            v.started = self.prober.started(latest.id, container)
            return v

        return ([view(c) for c in spec.get("initContainers") or ()],
                [view(c) for c in spec.get("containers") or ()])

    def _etc_files(self, worker: PodWorker, sandbox: SandboxStatus) -> tuple[Mount, ...]:
        """The pod's /etc/hosts and /etc/resolv.conf, written once; mounts for them."""
        if not self.own_etc:
            return ()
        base = volumes.pod_dir(self.root_dir, worker.uid)
        hosts, resolv = os.path.join(base, "etc-hosts"), os.path.join(base, "resolv.conf")
        if not os.path.exists(resolv):
            os.makedirs(base, exist_ok=True)
            text, missing = dns.resolv_conf(worker.pod, cluster_dns=self.cluster_dns,
                                            domain=self.cluster_domain,
                                            host_file=self.resolv_conf)
            if missing:
                self._event(worker.pod, {}, "Warning", "MissingClusterDNS", (
                    f'pod: "{_pod_ref(worker.pod)}". kubelet does not have ClusterDNS IP '
                    'configured and cannot create Pod using "ClusterFirst" policy. Falling '
                    'back to "Default" policy.'))
            with open(hosts, "w", encoding="utf-8") as f:
                f.write(dns.host_network_hosts_file(worker.pod)
                        if sandbox.config.host_network else
                        dns.hosts_file(worker.pod, sandbox.ip, sandbox.config.pod_hostname))
            with open(resolv + ".tmp", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(resolv + ".tmp", resolv)
        return (Mount(container_path="/etc/hosts", host_path=hosts),
                Mount(container_path="/etc/resolv.conf", host_path=resolv, readonly=True))

    async def _volumes(self, worker: PodWorker, sandbox: SandboxStatus) -> bool:
        """Set up the pod's volumes, and refresh them every ``VOLUME_REFRESH`` s; ``False``
        while they cannot be (the FailedMount event says why)."""
        if not (worker.pod.get("spec") or {}).get("volumes"):
            worker.volumes = worker.volumes or {}
            return True
        now = time.monotonic()
        if worker.volumes is not None and now - worker.volumes_at < VOLUME_REFRESH:
            return True
        configmaps, secrets = volumes.referenced(worker.pod)
        sources = await self._sources(worker.pod, {}, sandbox.ip, configmaps, secrets)
        try:
            sources.tokens = await self.tokens.for_pod(worker.pod)
            worker.volumes = await asyncio.get_running_loop().run_in_executor(
                None, volumes.set_up, self.root_dir, worker.pod, sources)
        except (volumes.VolumeError, TokenError, OSError) as exc:
            name = _failed_volume(worker.pod, str(exc))
            why = f'MountVolume.SetUp failed for volume "{name}" : {exc}'
            if worker.waiting.get("") != ("FailedMount", why):
                worker.waiting[""] = ("FailedMount", why)
                self._event(worker.pod, {}, "Warning", "FailedMount", why)
            return worker.volumes is not None  # a failed refresh keeps what was mounted
        worker.waiting.pop("", None)
        worker.volumes_at = now
        return True

    async def _containers(self, worker: PodWorker, sandbox: SandboxStatus
                          ) -> list[ContainerStatus]:
        """The sandbox's containers: listed once, then each known one asked for (a list
        reads every container of the node), exited ones remembered (they never change)."""
        if worker.container_ids is None:
            found = await self.runtime.list_containers(sandbox.id)
            worker.container_ids = {s.id for s in found}
        else:
            found = []
            for cid in sorted(worker.container_ids):
                status = worker.ended.get(cid)
                if status is None:
                    try:
                        status = await self.runtime.container_status(cid)
                    except RuntimeNotFound:
                        worker.container_ids.discard(cid)
                        continue
                found.append(status)
        for status in found:
            if status.state == CONTAINER_EXITED:
                worker.ended[status.id] = status
        return found

    # -- deciding what runs ----------------------------------------------------------------

    async def _start_what_is_missing(self, worker: PodWorker, sandbox: SandboxStatus,
                                     inits: list[View], apps: list[View]) -> None:
        policy = (worker.pod.get("spec") or {}).get("restartPolicy") or "Always"
        if not await self._start_inits(worker, sandbox, inits, apps, policy):
            return
        for view in apps:
            if view.running:
                continue
            if view.latest is None:
                await self._run(worker, sandbox, view, restart=False)
            elif view.exited and (policy == "Always" or (
                    policy == "OnFailure" and not view.succeeded)):
                await self._run(worker, sandbox, view, restart=True)

    async def _start_inits(self, worker: PodWorker, sandbox: SandboxStatus,
                           inits: list[View], apps: list[View], policy: str) -> bool:
        """Drive the init containers in order; ``True`` once the app containers may run."""
        apps_started = any(v.latest is not None for v in apps)
        for view in inits:
            if is_sidecar(view.spec):
                if not view.running:
                    await self._run(worker, sandbox, view, restart=True)
                if not view.running:
                    return False  # the next init container waits until this one started
                continue
            if view.succeeded or apps_started:
                continue  # kube does not re-run init containers once an app container ran
            if view.latest is None:
                await self._run(worker, sandbox, view, restart=False)
            elif view.exited and policy != "Never":  # Never: the pod is Failed
                await self._run(worker, sandbox, view, restart=True)
            return False
        return True

    async def _run(self, worker: PodWorker, sandbox: SandboxStatus, view: View, *,
                   restart: bool) -> None:
        """Start (or restart, after its back-off) one container; ``view.waiting`` says why
        it did not start."""
        pod, spec = worker.pod, view.spec
        key = (worker.uid, view.name)
        now = time.time()
        if restart and view.latest is not None and view.latest.state == CONTAINER_EXITED:
            left = self.backoff.waiting(key, view.latest.finished_at, now)
            if left > 0:
                delay = go_duration(self.backoff.delay(key, now))
                why = ("CrashLoopBackOff", (f"back-off {delay} restarting failed "
                                            f"container={view.name} pod={_pod_ref(pod)}"))
                if worker.waiting.get(view.name) == why:
                    return
                worker.waiting[view.name] = view.waiting = why
                self._event(pod, spec, "Warning", "BackOff",
                            f"Back-off restarting failed container {view.name} in pod "
                            f"{_pod_ref(pod)}")
                return
            self.backoff.bump(key, now)
        worker.starts += 1
        attempt = view.latest.attempt + 1 if view.latest is not None else 0
        try:
            config = await self._config(worker, sandbox, spec, attempt)
        except ConfigError as exc:
            worker.waiting[view.name] = view.waiting = ("CreateContainerConfigError", str(exc))
            self._event(pod, spec, "Warning", "Failed", f"Error: {exc}")
            return
        if view.previous is not None:  # keep the latest as lastState; older ones go
            await self._drop(worker, view.previous.id)
        self._event(pod, spec, "Normal", "Pulled",
                    f'Container image "{spec.get("image") or ""}" already present on machine')
        try:
            cid = await self.runtime.create_container(sandbox.id, config)
            if worker.container_ids is not None:
                worker.container_ids.add(cid)
        except RuntimeFailure as exc:
            worker.waiting[view.name] = view.waiting = ("CreateContainerError", str(exc))
            self._event(pod, spec, "Warning", "Failed", f"Error: {exc}")
            return
        self._event(pod, spec, "Normal", "Created", f"Created container: {view.name}")
        try:
            await self.runtime.start_container(cid)
        except RuntimeFailure as exc:
            worker.waiting[view.name] = view.waiting = ("RunContainerError", str(exc))
            self._event(pod, spec, "Warning", "Failed", f"Error: {exc}")
            return
        worker.waiting.pop(view.name, None)
        self._event(pod, spec, "Normal", "Started", f"Started container {view.name}")
        await self._post_start(worker, spec, cid)
        view.latest = await self.runtime.container_status(cid)

    async def _drop(self, worker: PodWorker, container_id: str) -> None:
        with contextlib.suppress(RuntimeFailure):
            await self.runtime.remove_container(container_id)
        worker.ended.pop(container_id, None)
        if worker.container_ids is not None:
            worker.container_ids.discard(container_id)

    async def _post_start(self, worker: PodWorker, spec: Obj, cid: str) -> None:
        hook = ((spec.get("lifecycle") or {}).get("postStart") or {}).get("exec")
        if not hook:
            return
        try:
            result = await self.runtime.exec_sync(cid, list(hook.get("command") or []), 30)
            failed = result.exit_code != 0
        except RuntimeFailure:
            failed = True
        if failed:
            self._event(worker.pod, spec, "Warning", "FailedPostStartHook",
                        "PostStartHook failed")
            await self.runtime.stop_container(cid, MIN_GRACE)

    async def _config(self, worker: PodWorker, sandbox: SandboxStatus, spec: Obj,
                      attempt: int) -> ContainerConfig:
        pod = worker.pod
        command, args = list(spec.get("command") or []), list(spec.get("args") or [])
        if not command and not args:
            raise ConfigError(NO_COMMAND.format(name=spec["name"]))
        sources = await self._sources(pod, spec, self._pod_ip(pod, sandbox))
        env = make_env(pod, spec, sources)
        try:
            mounts = (*self._etc_files(worker, sandbox),
                      *volumes.mounts_for(spec, worker.volumes or {}))
        except volumes.VolumeError as exc:
            raise ConfigError(str(exc)) from None

        def lookup(name: str) -> str | None:
            return env.get(name)

        command = [expand(word, lookup) for word in command]
        args = [expand(word, lookup) for word in args]
        if not command:
            command, args = args, []
        meta = pod["metadata"]
        log_path = os.path.join(self.pod_log_dir(meta), spec["name"], f"{attempt}.log")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        return ContainerConfig(name=spec["name"], command=tuple(command), args=tuple(args),
                               env=env, working_dir=spec.get("workingDir") or "",
                               mounts=mounts,
                               resources=_resources(spec), security=_security(pod, spec),
                               log_path=log_path, attempt=attempt,
                               labels={"io.kubernetes.pod.uid": worker.uid},
                               stdin=bool(spec.get("stdin")),
                               stdin_once=bool(spec.get("stdinOnce")),
                               tty=bool(spec.get("tty")))

    def pod_log_dir(self, meta: Obj) -> str:
        """``<root>/pods-logs/<ns>_<name>_<uid>`` (kube: /var/log/pods/<ns>_<pod>_<uid>)."""
        return os.path.join(self.root_dir, "logs",
                            f"{meta.get('namespace', 'default')}_{meta['name']}_{meta['uid']}")

    async def _sources(self, pod: Obj, spec: Obj, pod_ip: str,
                       configmaps_wanted: set[str] | None = None,
                       secrets_wanted: set[str] | None = None) -> Sources:
        namespace = pod["metadata"].get("namespace") or "default"
        wanted: dict[str, set[str]] = {"configmaps": set(configmaps_wanted or ()),
                                       "secrets": set(secrets_wanted or ())}
        for source in spec.get("envFrom") or ():
            if "configMapRef" in source:
                wanted["configmaps"].add(source["configMapRef"].get("name", ""))
            if "secretRef" in source:
                wanted["secrets"].add(source["secretRef"].get("name", ""))
        for var in spec.get("env") or ():
            ref = var.get("valueFrom") or {}
            if "configMapKeyRef" in ref:
                wanted["configmaps"].add(ref["configMapKeyRef"].get("name", ""))
            if "secretKeyRef" in ref:
                wanted["secrets"].add(ref["secretKeyRef"].get("name", ""))

        async def fetch(resource: ResourceRef, name: str) -> Obj | None:
            try:
                return await self.client.get(resource, name, namespace)
            except NotFound:
                return None

        configmaps = {n: await fetch(CONFIGMAPS, n) for n in wanted["configmaps"]}
        secrets = {n: await fetch(SECRETS, n) for n in wanted["secrets"]}
        services = self._cached_services(namespace)
        if services is None:
            services = await self._listed_services(namespace)
        return Sources(configmaps, secrets, services, host_ip=self.node_ip, pod_ip=pod_ip,
                       allocatable=self.allocatable)

    async def _listed_services(self, namespace: str) -> list[Obj]:
        services: list[Obj] = []
        with contextlib.suppress(StatusError, ClientError):
            services = list((await self.client.list(SERVICES, namespace)).get("items") or ())
            if namespace != "default":
                with contextlib.suppress(NotFound):
                    services.append(await self.client.get(SERVICES, "kubernetes", "default"))
        return services

    def _cached_services(self, namespace: str) -> list[Obj] | None:
        """The Services a pod of ``namespace`` sees in its env, from the kubelet's Service
        informer once it has synced, as kube's kubelet reads its service lister
        (``pkg/kubelet/kubelet_pods.go`` ``getServiceEnvVarMap``) instead of a LIST per
        container: one request per pod at 20 pods/s; ``None`` before the first list."""
        if self.services is None or not self.services.has_synced():
            return None
        found = [s for s in self.services.list()
                 if (s.get("metadata") or {}).get("namespace") == namespace]
        if namespace != "default":
            kube = self.services.get("kubernetes", "default")
            found += [kube] if kube else []
        return found

    # -- status ----------------------------------------------------------------------------

    def status(self, worker: PodWorker, sandbox: SandboxStatus | None, inits: list[View],
               apps: list[View], *, terminal: bool = False) -> Obj:
        pod = worker.pod
        pod_phase = podstatus.phase(pod, inits, apps, terminal=terminal)
        if worker.terminal:
            pod_phase = worker.terminal
        now = rfc3339(time.time())
        init_default = "PodInitializing"
        status: Obj = {
            "phase": pod_phase,
            "conditions": podstatus.conditions(pod, inits, apps, pod_phase,
                                               sandbox_ready=sandbox is not None, now=now),
            "hostIP": self.node_ip, "hostIPs": [{"ip": self.node_ip}],
            "startTime": (pod.get("status") or {}).get("startTime") or rfc3339(
                worker.started_at or time.time()),
            "qosClass": podstatus.qos_class(pod),
            "containerStatuses": [podstatus.container_status(
                v, init_default if inits else "ContainerCreating") for v in apps],
        }
        if inits:
            status["initContainerStatuses"] = [podstatus.container_status(v, "PodInitializing")
                                               for v in inits]
        ip = self._pod_ip(pod, sandbox)
        if ip:
            status["podIP"] = ip
            status["podIPs"] = [{"ip": ip}]
        return status

    def _pod_ip(self, pod: Obj, sandbox: SandboxStatus | None) -> str:
        """The sandbox's IP; the node's for a hostNetwork pod (its processes share the
        host's network namespace, under either isolation)."""
        if (pod.get("spec") or {}).get("hostNetwork"):
            return self.node_ip
        return sandbox.ip if sandbox is not None else ""

    async def _write_status(self, worker: PodWorker, sandbox: SandboxStatus | None,
                            inits: list[View], apps: list[View], *,
                            terminal: bool = False) -> None:
        status = self.status(worker, sandbox, inits, apps, terminal=terminal)
        if status["phase"] in (podstatus.SUCCEEDED, podstatus.FAILED):
            worker.terminal = status["phase"]  # terminal phases are never left
        if status == worker.last_status:
            return
        meta = worker.pod["metadata"]
        patch = {"metadata": {"uid": worker.uid}, "status": _status_patch(status)}
        try:
            updated = await self.client.patch(PODS, meta["name"], patch, patch_type="strategic",
                                              namespace=meta.get("namespace"),
                                              subresource="status")
        except (NotFound, Conflict):
            return
        worker.last_status = status
        worker.pod = {**worker.pod, "status": updated.get("status") or status}

    # -- termination -----------------------------------------------------------------------

    async def terminate(self, worker: PodWorker) -> None:
        """Stop the pod's containers within its grace period, write its terminal status,
        remove the sandbox and the volumes, then send the final delete."""
        pod = worker.pod
        meta, spec = pod["metadata"], pod.get("spec") or {}
        began = time.monotonic()
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        sandbox = await self._existing_sandbox(worker)
        if sandbox is not None:
            deadline = time.monotonic() + max(float(grace), MIN_GRACE)
            inits, apps = await self._views(worker, sandbox)
            await asyncio.gather(*(self._kill(worker, v, deadline) for v in apps))
            for view in reversed(inits):
                await self._kill(worker, view, deadline)
            if not worker.gone:
                inits, apps = await self._views(worker, sandbox)
                for view in [*inits, *apps]:
                    view.ready = False
                await self._write_status(worker, sandbox, inits, apps, terminal=True)
        # the pod's resources go before the API object, as kube's status manager sends the
        # final delete only once they are reclaimed (status_manager.go canBeDeleted,
        # kubelet_pods.go PodResourcesAreReclaimed): a pod gone from the API has nothing left
        # on the node (and a failed removal keeps it Terminating, retried at the next pass)
        if worker.sandbox_id:
            for status in await self.runtime.list_containers(worker.sandbox_id):
                self.prober.forget(status.id)
            await self.runtime.remove_pod_sandbox(worker.sandbox_id)
        volumes.tear_down(self.root_dir, worker.uid)
        removed = time.monotonic()
        if not worker.gone:
            with contextlib.suppress(NotFound, Conflict):
                await self.client.delete(PODS, meta["name"], meta.get("namespace"),
                                         grace_period_seconds=0, uid=worker.uid)
        shutil.rmtree(self.pod_log_dir(meta), ignore_errors=True)
        self.tokens.forget(worker.uid)
        self.backoff.forget_pod(worker.uid)
        log.debug("pod %s terminated in %.2fs (%.2fs stopping and removing)", _key(pod),
                  time.monotonic() - began, removed - began)

    async def _existing_sandbox(self, worker: PodWorker) -> SandboxStatus | None:
        """The pod's sandbox if there is one (never makes one)."""
        if not worker.sandbox_id:
            found = await self.runtime.list_pod_sandboxes(worker.uid)
            worker.sandbox_id = found[0].id if found else ""
        if worker.sandbox_id:
            with contextlib.suppress(RuntimeNotFound):
                return await self.runtime.pod_sandbox_status(worker.sandbox_id)
        return None

    async def _kill(self, worker: PodWorker, view: View, deadline: float) -> None:
        if view.latest is None or view.latest.state != CONTAINER_RUNNING:
            return
        self._event(worker.pod, view.spec, "Normal", "Killing",
                    f"Stopping container {view.name}")
        hook = ((view.spec.get("lifecycle") or {}).get("preStop") or {}).get("exec")
        if hook:
            left = max(deadline - time.monotonic(), 0.1)
            try:
                await self.runtime.exec_sync(view.latest.id, list(hook.get("command") or []),
                                             left)
            except RuntimeFailure:
                self._event(worker.pod, view.spec, "Warning", "FailedPreStopHook",
                            "PreStopHook failed")
        left = max(deadline - time.monotonic(), MIN_GRACE)
        await self.runtime.stop_container(view.latest.id, left)

    def _event(self, pod: Obj, spec: Obj, type_: str, reason: str, message: str) -> None:
        obj = {**pod, "kind": "Pod", "apiVersion": "v1"}
        with contextlib.suppress(Exception):  # events are best effort, as kube's recorder
            self.recorder.event(obj, type_, reason, message,
                                field_path=field_path(pod, spec.get("name", "")))


async def _sleep_or_wake(wake: asyncio.Event, seconds: float) -> None:
    """Until ``wake`` is set or ``seconds`` pass. A timer that sets the event costs one
    handle; ``wait_for`` a task, a future and a cancellation per pod per second (a third of
    a 100-pod kubelet's steady CPU)."""
    timer = asyncio.get_running_loop().call_later(seconds, wake.set)
    try:
        await wake.wait()
    finally:
        timer.cancel()


def field_path(pod: Obj, container: str) -> str:
    """``involvedObject.fieldPath`` of a container's events: ``spec.containers{NAME}`` or
    ``spec.initContainers{NAME}`` (kube's ``pkg/kubelet/container/ref.go``); ``""`` for the
    pod as a whole."""
    if not container:
        return ""
    spec = pod.get("spec") or {}
    for key in ("initContainers", "containers", "ephemeralContainers"):
        if any(c.get("name") == container for c in spec.get(key) or ()):
            return f"spec.{key}{{{container}}}"
    return ""


def _status_patch(status: Obj) -> Obj:
    """``status`` as a strategic merge patch: conditions merge by type (kube's PodStatus
    patch strategy), so a condition's reason and message that no longer apply are deleted
    with ``null``; the container status lists have no strategy and are replaced whole."""
    conditions = [{"reason": None, "message": None, **c} for c in status["conditions"]]
    return {**status, "conditions": conditions}


def _failed_volume(pod: Obj, message: str) -> str:
    """The volume a set-up error is about (the first one it names, else the first one)."""
    names = [v.get("name", "") for v in (pod.get("spec") or {}).get("volumes") or ()]
    for name in names:
        for volume in (pod.get("spec") or {}).get("volumes") or ():
            if volume.get("name") == name and any(
                    f'"{ref}"' in message for ref in _refs(volume)):
                return name
    return names[0] if names else ""


def _refs(volume: Obj) -> list[str]:
    parts = [volume, *((volume.get("projected") or {}).get("sources") or ())]
    return [str(p[k].get("name") or p[k].get("secretName") or "") for p in parts
            for k in ("configMap", "secret") if k in p]


def _key(pod: Obj) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def _pod_ref(pod: Obj) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('name')}_{meta.get('namespace')}({meta.get('uid')})"


def _resources(spec: Obj) -> Resources:
    """Kernel units from the container's resources (kube's ``pkg/kubelet/cm/helpers_linux.go``)."""
    res = spec.get("resources") or {}
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    cpu_request = requests.get("cpu", limits.get("cpu"))
    shares = max(2, milli(cpu_request) * 1024 // 1000) if cpu_request is not None else 0
    quota = max(1000, milli(limits["cpu"]) * 100) if "cpu" in limits else 0
    memory = value(limits["memory"]) if "memory" in limits else 0
    return Resources(cpu_shares=shares, cpu_quota=quota, memory_limit=memory)


def _security(pod: Obj, spec: Obj) -> Security:
    pod_ctx: Any = (pod.get("spec") or {}).get("securityContext") or {}
    ctx: Any = spec.get("securityContext") or {}
    caps = ctx.get("capabilities") or {}
    return Security(run_as_user=ctx.get("runAsUser", pod_ctx.get("runAsUser")),
                    run_as_group=ctx.get("runAsGroup", pod_ctx.get("runAsGroup")),
                    capabilities_add=tuple(caps.get("add") or ()),
                    capabilities_drop=tuple(caps.get("drop") or ()),
                    read_only_root=bool(ctx.get("readOnlyRootFilesystem")),
                    no_new_privs=ctx.get("allowPrivilegeEscalation") is False,
                    privileged=bool(ctx.get("privileged")))
