"""root-ca-cert-publisher: the ``kube-root-ca.crt`` ConfigMap in every namespace
(``pkg/controller/certificates/rootcacertpublisher/publisher.go``).

The ConfigMap holds ``ca.crt``, the CA that signs the apiserver's serving certificate (from
--root-ca-file, else the kubeconfig's certificate authority), so a pod can verify
kubernetes.default.svc; the ServiceAccount admission plugin projects it into every pod's token
volume. Namespaces added and updated, and the ConfigMap updated or deleted, enqueue the
namespace; a sync creates the ConfigMap, or puts back its data and description annotation when
someone changed them. A namespace being deleted (NotFound, or 403 NamespaceTerminating) is no
failure. Without any CA the controller is not started (logged once).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import AlreadyExists, NotFound, StatusError
from servers.client.resources import CONFIGMAPS, NAMESPACES
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import namespace_terminating, wait_synced

if TYPE_CHECKING:
    import asyncio

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "root-ca-certificate-publisher-controller"
CONFIGMAP = "kube-root-ca.crt"
DATA_KEY = "ca.crt"
DESCRIPTION_KEY = "kubernetes.io/description"
# publisher.go's DescriptionAnnotation value, word for word.
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using "
               "internal endpoints such as the internal service IP or kubernetes.default.svc. "
               "No other usage is guaranteed across distributions of Kubernetes clusters.")
WORKERS = 1  # kube runs it with one worker


class RootCACertPublisher:
    """Keeps ``kube-root-ca.crt`` holding ``ca`` in every namespace."""

    def __init__(self, ctx: Context, ca: str, *, workers: int = WORKERS) -> None:
        self.name = "root-ca-cert-publisher"
        self.client = ctx.client
        self.ca = ca
        self.workers = workers
        self.namespaces = ctx.factory.informer(NAMESPACES)
        self.configmaps = ctx.factory.informer(CONFIGMAPS,
                                               field_selector=f"metadata.name={CONFIGMAP}")
        self.queue = ctx.queue("root_ca_cert_publisher")
        self.namespaces.add_handler(self._namespace, lambda _, new: self._namespace(new), None)
        self.configmaps.add_handler(None, lambda _, new: self._configmap(new), self._configmap)

    def _namespace(self, ns: Obj) -> None:
        self.queue.add(o.name(ns))

    def _configmap(self, cm: Obj) -> None:
        if o.name(cm) == CONFIGMAP:
            self.queue.add(o.namespace(cm))

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.namespaces, self.configmaps):
            return
        await run_workers(self.queue, self.sync, self.workers, stop)

    async def sync(self, namespace: str) -> None:
        """Create the ConfigMap, or put back what differs (kube's syncNamespace)."""
        ns = self.namespaces.get(namespace)
        if ns is None or o.status(ns).get("phase") == "Terminating":
            return
        current = self.configmaps.get(CONFIGMAP, namespace)
        try:
            if current is None:
                await self.client.create(CONFIGMAPS, self.wanted(), namespace)
            elif self._differs(current):
                await self.client.update(CONFIGMAPS, self._repaired(current),
                                         namespace=namespace)
        except (AlreadyExists, NotFound):
            return
        except StatusError as exc:
            if not namespace_terminating(exc):
                raise

    def wanted(self) -> Obj:
        return {"metadata": {"name": CONFIGMAP, "annotations": {DESCRIPTION_KEY: DESCRIPTION}},
                "data": {DATA_KEY: self.ca}}

    def _differs(self, cm: Obj) -> bool:
        annotations = (cm.get("metadata") or {}).get("annotations") or {}
        return cm.get("data") != {DATA_KEY: self.ca} or \
            annotations.get(DESCRIPTION_KEY) != DESCRIPTION

    def _repaired(self, cm: Obj) -> Obj:
        # kube replaces the data whole and sets the annotation, keeping the resourceVersion
        # as the precondition (a conflict requeues).
        fixed = copy.deepcopy(cm)
        fixed["data"] = {DATA_KEY: self.ca}
        fixed.pop("binaryData", None)
        fixed["metadata"].setdefault("annotations", {})[DESCRIPTION_KEY] = DESCRIPTION
        return fixed


def root_ca(ctx: Context) -> str:
    """--root-ca-file's PEM, else the kubeconfig's CA (kube's fallback), else ""."""
    path = getattr(ctx.opts, "root_ca_file", None)
    if path:
        return Path(path).read_text(encoding="ascii")
    config = getattr(ctx.client, "config", None)
    if config is None:
        return ""
    if getattr(config, "ca_data", None):
        return str(config.ca_data)
    ca_file = getattr(config, "ca_file", None)
    return Path(ca_file).read_text(encoding="ascii") if ca_file else ""


def new(ctx: Context) -> RootCACertPublisher | None:
    ca = root_ca(ctx)
    if not ca:
        log.info("%s not started: no --root-ca-file and no CA in the kubeconfig", NAME)
        return None
    return RootCACertPublisher(ctx, ca)
