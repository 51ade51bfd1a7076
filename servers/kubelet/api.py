"""The kubelet API on --port (HTTPS): /healthz, /pods, /containerLogs, /exec, /attach and
/portForward.

As kube's ``pkg/kubelet/server/server.go``, with authentication by client certificate
(``--client-ca-file``) only: a request without a verified certificate is anonymous and
refused (401 Unauthorized). Authorization without a SubjectAccessReview webhook: members of
``system:masters`` and the apiserver's kubelet client (``kube-apiserver-kubelet-client``) may
do everything; anyone else gets kube's 403 text. /healthz answers everyone, and plain http
on 127.0.0.1:--healthz-port answers /healthz alone.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from servers.apimachinery.meta import parse_rfc3339
from servers.kubelet.logs import LogOptions, read_log
from servers.kubelet.options import DEFAULT_STREAM_IDLE_TIMEOUT

if TYPE_CHECKING:
    from servers.kubelet.workers import Kubelet

__all__ = ["make_app", "serving_context"]

log = logging.getLogger(__name__)

KUBELET: web.AppKey[Kubelet] = web.AppKey("kubelet")  # the app's Kubelet, for every handler
# --streaming-connection-idle-timeout, in seconds (0: none), for /exec, /attach, /portForward
STREAM_IDLE_TIMEOUT: web.AppKey[float] = web.AppKey("stream_idle_timeout")
ALLOWED_USERS = ("kube-apiserver-kubelet-client", "system:kube-apiserver")
MASTERS = "system:masters"


def serving_context(cert: str | None, key: str | None, client_ca: str | None, *,
                    root_dir: str, node_name: str, node_ip: str) -> ssl.SSLContext:
    """TLS for the kubelet API: the given pair, else a self-signed one kept in --root-dir
    (as kube writes ``pki/kubelet.crt``); client certificates checked against ``client_ca``."""
    if not cert or not key:
        cert, key = _self_signed(root_dir, node_name, node_ip)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _self_signed(root_dir: str, node_name: str, node_ip: str) -> tuple[str, str]:
    folder = os.path.join(root_dir, "pki")
    cert, key = os.path.join(folder, "kubelet.crt"), os.path.join(folder, "kubelet.key")
    if os.path.exists(cert) and os.path.exists(key):
        return cert, key
    from servers.certs import pki

    os.makedirs(folder, mode=0o700, exist_ok=True)
    ca_key, ca = pki.make_ca(f"{node_name}-ca@{int(time.time())}", 365)
    leaf_key, leaf = pki.sign(ca, ca_key, f"{node_name}@{int(time.time())}", (), 365,
                              sans=[node_name, node_ip])
    with open(key, "wb", opener=lambda p, f: os.open(p, f, 0o600)) as f:
        f.write(pki.key_pem(leaf_key))
    with open(cert, "wb") as f:
        f.write(pki.cert_pem(leaf) + pki.cert_pem(ca))
    return cert, key


def _subject(request: web.Request) -> tuple[str, list[str]] | None:
    """(user, groups) of a verified client certificate, else ``None`` (anonymous)."""
    transport = request.transport
    peer = transport.get_extra_info("peercert") if transport is not None else None
    if not peer:
        return None
    user, groups = "", []
    for rdn in peer.get("subject", ()):
        for name, val in rdn:
            if name == "commonName":
                user = val
            elif name == "organizationName":
                groups.append(val)
    return user, groups


@web.middleware
async def _auth(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path == "/healthz":
        return await handler(request)
    who = _subject(request)
    if who is None:
        return web.Response(status=401, text="Unauthorized")
    user, groups = who
    if MASTERS not in groups and user not in ALLOWED_USERS:
        verb = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update",
                "PATCH": "patch", "DELETE": "delete"}.get(request.method, "get")
        node = request.app[KUBELET].node_name
        return web.Response(status=403, text=(
            f"Forbidden (user={user}, verb={verb}, resource=nodes, subresource=proxy, "
            f"name={node})"))
    return await handler(request)


def make_app(kubelet: Kubelet, *,
             stream_idle_timeout: float = DEFAULT_STREAM_IDLE_TIMEOUT) -> web.Application:
    app = web.Application(middlewares=[_auth])
    app[KUBELET] = kubelet
    app[STREAM_IDLE_TIMEOUT] = stream_idle_timeout
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/pods", _pods)
    app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", _container_logs)
    from servers.kubelet import streaming  # it imports KUBELET from here

    streaming.add_routes(app)
    from servers.kubelet import portforward  # it imports KUBELET from here too

    portforward.add_routes(app)
    return app


def healthz_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/healthz", _healthz)
    return app


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _pods(request: web.Request) -> web.Response:
    kubelet: Kubelet = request.app[KUBELET]
    items = [w.pod for w in kubelet.workers.values()]
    return web.Response(text=json.dumps({"kind": "PodList", "apiVersion": "v1",
                                         "metadata": {}, "items": items}),
                        content_type="application/json")


def _bad(text: str, status: int = 400) -> web.Response:
    return web.Response(status=status, text=text)


def _options(query: Any) -> LogOptions:
    def number(name: str) -> int | None:
        raw = query.get(name)
        return None if raw in (None, "") else int(raw)

    since = None
    if query.get("sinceSeconds"):
        since = time.time() - int(query["sinceSeconds"])
    elif query.get("sinceTime"):
        since = parse_rfc3339(query["sinceTime"]).timestamp()
    return LogOptions(follow=query.get("follow") == "true",
                      timestamps=query.get("timestamps") == "true",
                      tail_lines=number("tailLines") if "tailLines" in query else number("tail"),
                      limit_bytes=number("limitBytes"), since=since)


async def _container_logs(request: web.Request) -> web.StreamResponse:
    kubelet: Kubelet = request.app[KUBELET]
    ns, name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
    worker = next((w for w in kubelet.workers.values()
                   if w.pod["metadata"].get("namespace") == ns
                   and w.pod["metadata"]["name"] == name), None)
    if worker is None:
        return _bad(f'pod "{name}" not found', 404)
    try:
        opts = _options(request.query)
    except ValueError as exc:
        return _bad(f"invalid log options: {exc}")
    previous = request.query.get("previous") == "true"
    statuses = [s for s in await kubelet.runtime.list_containers(worker.sandbox_id or None)
                if s.name == container] if worker.sandbox_id else []
    statuses.sort(key=lambda s: s.attempt)
    if previous:
        if len(statuses) < 2:
            return _bad(f'previous terminated container "{container}" in pod "{name}" '
                        "not found")
        target = statuses[-2]
    else:
        if not statuses:
            reason = (worker.waiting.get(container) or ("ContainerCreating", ""))[0]
            return _bad(f'container "{container}" in pod "{name}" is waiting to start: '
                        f"{reason}")
        target = statuses[-1]
    cid = target.id
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    try:
        async for chunk in read_log(target.log_path, opts, lambda: kubelet.is_running(cid)):
            await response.write(chunk)
    except ConnectionError:
        pass  # the apiserver hung up (kubectl logs -f ended)
    return response
