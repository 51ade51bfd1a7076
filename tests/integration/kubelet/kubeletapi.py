"""The kubelet API served over TLS on loopback for integration tests: the kubelet app of a
``Kubelet`` and a client context presenting the admin's certificate from the ``certs``
fixture (conftest.py); the kubelet's serving certificate is self-signed, so not verified."""

from __future__ import annotations

import ssl
from pathlib import Path

from aiohttp import web

from servers.kubelet.api import make_app, serving_context
from servers.kubelet.options import DEFAULT_STREAM_IDLE_TIMEOUT
from servers.kubelet.workers import Kubelet

__all__ = ["serve"]


async def serve(kubelet: Kubelet, certs: Path, root: Path, *,
                stream_idle_timeout: float = DEFAULT_STREAM_IDLE_TIMEOUT
                ) -> tuple[web.AppRunner, str, ssl.SSLContext]:
    """Start ``kubelet``'s API on a free loopback port: its runner, URL and a client context
    with the admin's certificate (streams closed after ``stream_idle_timeout`` idle)."""
    server = serving_context(None, None, str(certs / "ca.crt"), root_dir=str(root),
                             node_name="n1", node_ip="127.0.0.1")
    runner = web.AppRunner(make_app(kubelet, stream_idle_timeout=stream_idle_timeout),
                           access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server).start()
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE  # the kubelet's self-signed serving certificate
    client.load_cert_chain(str(certs / "admin.crt"), str(certs / "admin.key"))
    return runner, f"https://127.0.0.1:{runner.addresses[0][1]}", client
