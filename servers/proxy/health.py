"""/healthz, /livez and /metrics over HTTP, as kube-proxy serves them.

/healthz and /livez answer JSON ``{"lastUpdated", "currentTime", "nodeEligible"}``: 200, or 503
when a queued change has waited longer than the health timeout (two sync periods) without a
successful sync (kube ``pkg/proxy/healthcheck/proxy_health.go``). Each listener is optional.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["HealthState", "serving"]

log = logging.getLogger(__name__)


class HealthState:
    """When rules were last synced and since when a change waits (wall-clock seconds)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.last_updated = 0.0
        self.oldest_queued = 0.0  # 0: nothing waits

    def queued(self) -> None:
        if not self.oldest_queued:
            self.oldest_queued = time.time()

    def updated(self, started: float) -> None:
        """A sync that began at ``started`` succeeded: what was queued before is done."""
        self.last_updated = time.time()
        if self.oldest_queued and self.oldest_queued <= started:
            self.oldest_queued = 0.0

    def healthy(self) -> bool:
        return not self.oldest_queued or time.time() - self.oldest_queued < self.timeout


def _rfc3339(seconds: float) -> str:
    if not seconds:
        return ""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def _health_app(state: HealthState) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        body = {"lastUpdated": _rfc3339(state.last_updated),
                "currentTime": _rfc3339(time.time()), "nodeEligible": True}
        return web.Response(text=json.dumps(body), content_type="application/json",
                            status=200 if state.healthy() else 503)

    app = web.Application()
    app.router.add_get("/healthz", health)
    app.router.add_get("/livez", health)
    return app


def _metrics_app(registry: CollectorRegistry, state: HealthState) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = _health_app(state)  # kube-proxy's metrics server answers /healthz too
    app.router.add_get("/metrics", metrics)
    return app


@contextlib.asynccontextmanager
async def serving(healthz: tuple[str, int] | None, metrics: tuple[str, int] | None,
                  state: HealthState, registry: CollectorRegistry) -> AsyncIterator[None]:
    """Serve the listeners that are on for the duration of the block."""
    runners: list[web.AppRunner] = []
    try:
        for what, address, app in (("healthz", healthz, lambda: _health_app(state)),
                                   ("metrics", metrics,
                                    lambda: _metrics_app(registry, state))):
            if address is None:
                continue
            runner = web.AppRunner(app(), access_log=None, handle_signals=False)
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(runner, address[0], address[1], reuse_address=True)
            await site.start()
            for host, port, *_ in runner.addresses:
                log.info("serving %s on %s:%d", what, host, port)
        yield
    finally:
        for runner in runners:
            await runner.cleanup()
