"""``km controller-manager``: kube-controller-manager's server around km's controllers.

The steps of ``cmd/kube-controller-manager/app/controllermanager.go`` (``Run``):

1. check the flags and pick the controllers (``--controllers``, kube's names);
2. connect to the apiserver and wait for it (``--kubeconfig``/``--master``);
3. serve /healthz and /metrics (``workqueue_*`` per queue) on ``--secure-port``;
4. build the controllers (each registers its informer handlers) and start the shared
   informers; each controller waits for the first lists of its own informers only, so a
   resource one controller cannot list holds up no other;
5. run every controller: at once with ``--leader-elect=false``, else only while holding the
   Lease ``kube-system/kube-controller-manager``. Losing it ends the server (exit 1, one
   line), as kube-controller-manager exits on "leaderelection lost".

Every controller is level-triggered (R18), so a restart, a kill -9 or a new leader costs one
more sync of everything, never a duplicate: expectations are rebuilt from what the informers
list, and the replica count is compared with the pods that exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from servers.client import leaderelection
from servers.client.informer import SharedInformerFactory
from servers.component.connect import client_from_options, wait_for_apiserver
from servers.component.options import validate_leader_election
from servers.controller_manager import options
from servers.controller_manager.controllers.base import Context
from servers.controller_manager.metrics import WorkQueueMetrics

if TYPE_CHECKING:
    import argparse

    from servers.client.rest import Client
    from servers.controller_manager.controllers.base import Controller

log = logging.getLogger(__name__)

USER_AGENT = "km-controller-manager"
EVENT_COMPONENT = "kube-controller-manager"

# Each controller's constructor, "module:function" (imported only when enabled). A
# constructor returns None when its flags leave it nothing to do (kube logs "skipping").
CONSTRUCTORS = {
    "job-controller": "servers.controller_manager.controllers.job:new",
    "cronjob-controller": "servers.controller_manager.controllers.cronjob:new",
    "ttl-after-finished-controller": "servers.controller_manager.controllers.jobttl:new",
    "replicationcontroller-controller":
        "servers.controller_manager.controllers.replicationcontroller:new",
    "endpoints-controller": "servers.controller_manager.controllers.endpoints:new",
    "endpointslice-controller": "servers.controller_manager.controllers.endpointslice:new",
    "endpointslice-mirroring-controller":
        "servers.controller_manager.controllers.endpointslice_mirroring:new",
    "node-lifecycle-controller": "servers.controller_manager.controllers.nodelifecycle:new",
    "taint-eviction-controller": "servers.controller_manager.controllers.tainteviction:new",
    "node-ipam-controller": "servers.controller_manager.controllers.nodeipam:new",
    "pod-garbage-collector-controller": "servers.controller_manager.controllers.podgc:new",
    "garbage-collector-controller":
        "servers.controller_manager.controllers.garbagecollector:new",
    "replicaset-controller": "servers.controller_manager.controllers.replicaset_apps:new",
    "deployment-controller": "servers.controller_manager.controllers.deployment:new",
    "statefulset-controller": "servers.controller_manager.controllers.statefulset:new",
    "daemonset-controller": "servers.controller_manager.controllers.daemonset:new",
    "disruption-controller": "servers.controller_manager.controllers.disruption:new",
    "namespace-controller": "servers.controller_manager.controllers.namespace:new",
    "serviceaccount-controller": "servers.controller_manager.controllers.serviceaccount:new",
    "root-ca-certificate-publisher-controller":
        "servers.controller_manager.controllers.rootcacertpublisher:new",
    "certificatesigningrequest-approving-controller":
        "servers.controller_manager.controllers.csrapproving:new",
    "certificatesigningrequest-signing-controller":
        "servers.controller_manager.controllers.csrsigning:new",
    "certificatesigningrequest-cleaner-controller":
        "servers.controller_manager.controllers.csrcleaner:new",
    "token-cleaner-controller": "servers.controller_manager.controllers.tokencleaner:new",
}


def build_controllers(ctx: Context, names: list[str]) -> list[Controller]:
    """The enabled controllers, built in ``names`` order (each registers its handlers)."""
    built: list[Controller] = []
    for name in names:
        module, _, function = CONSTRUCTORS[name].partition(":")
        controller = getattr(importlib.import_module(module), function)(ctx)
        if controller is None:
            log.info("skipping %s (nothing to do with these flags)", name)
            continue
        built.append(controller)
    return built


async def run(opts: argparse.Namespace, stop: asyncio.Event) -> int:
    """Run the controller-manager until ``stop`` (see the module docstring)."""
    options.validate(opts)
    validate_leader_election(opts)
    names = options.enabled_controllers(opts.controllers)
    registry = CollectorRegistry()
    async with client_from_options(opts, user_agent=USER_AGENT) as client:
        if not await wait_for_apiserver(client, stop):
            return 0
        await _serve_and_control(opts, stop, client, names, registry)
    return 0


async def _serve_and_control(opts: argparse.Namespace, stop: asyncio.Event, client: Client,
                             names: list[str], registry: CollectorRegistry) -> None:
    from servers.component.serving import secure_serving

    halt = asyncio.Event()  # ends the informers and the event recorders
    factory = SharedInformerFactory(client)
    ctx = Context(client, factory, opts, metrics=WorkQueueMetrics(registry))
    controllers = build_controllers(ctx, names)
    for controller in controllers:  # e.g. the garbage collector's discovery
        prepare = getattr(controller, "prepare", None)
        if prepare is not None:
            await prepare(stop)
    elector = leaderelection.from_options(opts, client, ctx.recorder(EVENT_COMPONENT),
                                           registry)
    recorders = [asyncio.ensure_future(r.run(halt)) for r in ctx.recorders.values()]
    factory.start(halt)
    healthy = elector.healthy if elector is not None else None
    try:
        async with secure_serving(opts, registry, client, name="controller-manager",
                                  healthy=healthy):
            # Each controller waits for its own informers (a resource it cannot list stops
            # only the controllers that need it).
            log.info("starting %s", ", ".join(c.name for c in controllers) or "no controllers")

            async def lead(lost: asyncio.Event) -> None:
                await asyncio.gather(*(c.run(lost) for c in controllers))

            if elector is None:
                await lead(stop)
            else:
                await elector.run(stop, lead)
    finally:
        halt.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(
                *(r.flush() for r in ctx.recorders.values())), 2.0)
        await asyncio.gather(*recorders, factory.join(), return_exceptions=True)

