"""The kubelet's /portForward/{namespace}/{pod}[/{uid}] routes: find the pod, check the
request as kube's kubelet does (``pkg/kubelet/server/server.go`` getPortForward,
``portforward.NewV4Options``) and hand it to the transport it asks for."""

from __future__ import annotations

from aiohttp import web

from servers.kubelet.api import KUBELET
from servers.kubelet.portforward.channels import serve_channels
from servers.kubelet.portforward.connection import OPEN, TUNNEL_PROTOCOL, Closer, close_all
from servers.kubelet.portforward.podport import pod_target
from servers.kubelet.portforward.tunnel import serve_tunnel
from servers.kubelet.portforward.upgrade import serve_upgrade
from servers.kubelet.runtime.errors import NotFound as RuntimeNotFound

__all__ = ["add_routes", "port_forward"]


def add_routes(app: web.Application) -> None:
    """Register /portForward (with and without the pod's uid) on the kubelet's app."""
    opened: set[Closer] = set()
    app[OPEN] = opened
    app.on_shutdown.append(close_all)
    for path in ("/portForward/{namespace}/{pod}", "/portForward/{namespace}/{pod}/{uid}"):
        app.router.add_get(path, port_forward)
        app.router.add_post(path, port_forward)


async def port_forward(request: web.Request) -> web.StreamResponse:
    """GET (WebSocket) or POST (SPDY upgrade) /portForward/{namespace}/{pod}[/{uid}]."""
    kubelet = request.app[KUBELET]
    ns, name = request.match_info["namespace"], request.match_info["pod"]
    worker = next((w for w in kubelet.workers.values()
                   if w.pod["metadata"].get("namespace") == ns
                   and w.pod["metadata"]["name"] == name), None)
    if worker is None:  # kube's server.go getPortForward
        return web.Response(status=404, text="pod does not exist")
    uid = request.match_info.get("uid")
    if uid and worker.uid != uid:
        return web.Response(status=404, text="pod not found")
    if not worker.sandbox_id:
        return web.Response(status=500, text=(
            f"failed to find sandboxID for pod {name}_{ns}({worker.uid})"))
    try:
        target = await pod_target(kubelet, worker)
    except RuntimeNotFound:
        return web.Response(status=404, text="pod not found")
    if request.headers.get("Upgrade", "").lower() == "spdy/3.1":
        return await serve_upgrade(request, target)
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return web.Response(status=400, text=(
            "unable to upgrade: missing upgrade headers in request"))
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if TUNNEL_PROTOCOL in offered:
        return await serve_tunnel(request, target)
    try:
        ports = _ports(request)
    except ValueError as exc:
        return web.Response(status=400, text=str(exc))
    return await serve_channels(request, target, ports)


def _ports(request: web.Request) -> list[int]:
    """``?port=`` / ``?ports=`` as kube's NewV4Options checks them."""
    # kube's name first; ``ports`` (the Python client's) only when the apiserver sent none
    raw = request.query.getall("port", []) or request.query.getall("ports", [])
    if not raw:
        raise ValueError('query parameter "port" is required')
    ports = []
    for item in raw:
        if not item:
            raise ValueError('query parameter "port" cannot be empty')
        for part in item.split(","):
            if not part.isdigit():
                msg = (f'unable to parse "{item}" as a port: strconv.ParseUint: '
                       f'parsing "{part}": invalid syntax')
                raise ValueError(msg)
            if int(part) > 65535:
                msg = (f'unable to parse "{item}" as a port: strconv.ParseUint: '
                       f'parsing "{part}": value out of range')
                raise ValueError(msg)
            if int(part) < 1:
                msg = f'port "{item}" must be > 0'
                raise ValueError(msg)
            ports.append(int(part))
    return ports
