"""Container probes: startup, liveness and readiness, by exec, httpGet and tcpSocket.

As kube's ``pkg/kubelet/prober`` (worker.go, prober.go) and ``pkg/probe``: one loop per
probe of a running container, the first run after ``initialDelaySeconds``, then every
``periodSeconds`` (10), each try bounded by ``timeoutSeconds`` (1); ``failureThreshold`` (3)
failures in a row flip the result, ``successThreshold`` (1) successes flip it back. Liveness
and readiness wait until the startup probe succeeded. A failed liveness or startup probe
kills the container (the pod worker restarts it as restartPolicy says); readiness drives
the container's ``ready``. httpGet sends ``User-Agent: kube-probe/1.32`` and takes 200-399.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from servers.kubelet.runtime.errors import RuntimeFailure

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from servers.apimachinery.meta import Obj
    from servers.kubelet.runtime.interface import Runtime

__all__ = ["Prober", "run_probe"]

log = logging.getLogger(__name__)

KINDS = (("startupProbe", "Startup"), ("livenessProbe", "Liveness"),
         ("readinessProbe", "Readiness"))
USER_AGENT = "kube-probe/1.32"
BODY_LIMIT = 10 * 1024


@dataclass
class _Results:
    started: bool = False
    ready: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def run_probe(probe: Obj, *, runtime: Runtime, container_id: str, pod_ip: str,
                    ports: list[Obj]) -> tuple[bool, str]:
    """One try of ``probe``: (success, output or why it failed)."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    if "exec" in probe:
        command = list((probe["exec"] or {}).get("command") or [])
        try:
            result = await runtime.exec_sync(container_id, command, timeout)
        except RuntimeFailure as exc:
            return False, str(exc)
        out = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
        if result.exit_code != 0:
            return False, out or f"command {command} exited with {result.exit_code}"
        return True, out
    action = probe.get("httpGet") or probe.get("tcpSocket")
    if action is None:
        return False, "the probe has no exec, httpGet or tcpSocket handler"
    host = action.get("host") or pod_ip
    port = _port(action.get("port"), ports)
    if port is None:
        return False, f"unknown port {action.get('port')!r}"
    if "tcpSocket" in probe:
        return await _tcp(host, port, timeout)
    return await _http(action, host, port, timeout)


def _port(port: Any, ports: list[Obj]) -> int | None:
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for entry in ports:
        if entry.get("name") == port:
            return int(entry.get("containerPort") or 0)
    return None


async def _tcp(host: str, port: int, timeout: float) -> tuple[bool, str]:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        return False, f"dial tcp {host}:{port}: {_why(exc)}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, ""


def _why(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "i/o timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect: connection refused"
    return str(exc)


async def _http(action: Obj, host: str, port: int, timeout: float) -> tuple[bool, str]:
    """GET over plain HTTP/1.1 (HTTPS without certificate checks); 200-399 is success."""
    import ssl

    scheme = (action.get("scheme") or "HTTP").lower()
    path = action.get("path") or "/"
    url = f"{scheme}://{host}:{port}{path}"
    context = None
    if scheme == "https":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    headers = {"Host": f"{host}:{port}", "User-Agent": USER_AGENT, "Accept": "*/*",
               "Connection": "close"}
    for header in action.get("httpHeaders") or ():
        headers[header.get("name", "")] = header.get("value", "")
    request = f"GET {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"

    async def exchange() -> int:
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
        try:
            writer.write(request.encode("latin-1"))
            await writer.drain()
            line = await reader.readline()
            await reader.read(BODY_LIMIT)
        finally:
            writer.close()
        parts = line.split()
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    try:
        code = await asyncio.wait_for(exchange(), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        reason = _why(exc)
        return False, f'Get "{url}": dial tcp {host}:{port}: {reason}'
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


class Prober:
    """The probe loops of every running container, and their results."""

    def __init__(self, runtime: Runtime, *,
                 on_event: Callable[[Obj, Obj, str, str, str], None],
                 on_change: Callable[[str], None],
                 kill: Callable[[str, Obj, float], Awaitable[None]]) -> None:
        self.runtime = runtime
        self.on_event = on_event  # (pod, container spec, type, reason, message)
        self.on_change = on_change  # pod uid whose results changed
        self.kill = kill  # (container id, container spec, grace)
        self._by_container: dict[str, _Results] = {}

    def started(self, container_id: str, spec: Obj) -> bool:
        if not spec.get("startupProbe"):
            return True
        results = self._by_container.get(container_id)
        return results is not None and results.started

    def ready(self, container_id: str, spec: Obj) -> bool:
        if not spec.get("readinessProbe"):
            return self.started(container_id, spec)
        results = self._by_container.get(container_id)
        return results is not None and results.ready

    def ensure(self, pod: Obj, spec: Obj, container_id: str, pod_ip: str) -> None:
        """Start the probe loops of a running container (once)."""
        if container_id in self._by_container:
            return
        results = self._by_container[container_id] = _Results()
        for key, kind in KINDS:
            probe = spec.get(key)
            if probe:
                results.tasks.append(asyncio.ensure_future(self._loop(
                    pod, spec, container_id, pod_ip, key, kind, probe, results)))

    def forget(self, container_id: str) -> None:
        """Stop the loops of a container that is no longer running."""
        results = self._by_container.pop(container_id, None)
        for task in results.tasks if results else ():
            task.cancel()

    def stop(self) -> None:
        for cid in list(self._by_container):
            self.forget(cid)

    async def _loop(self, pod: Obj, spec: Obj, cid: str, pod_ip: str, key: str, kind: str,
                    probe: Obj, results: _Results) -> None:
        period = float(probe.get("periodSeconds") or 10)
        failures_needed = int(probe.get("failureThreshold") or 3)
        successes_needed = int(probe.get("successThreshold") or 1)
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        failures = successes = 0
        while True:
            if key != "startupProbe" and spec.get("startupProbe") and not results.started:
                await asyncio.sleep(min(period, 1.0))
                continue
            ok, output = await run_probe(probe, runtime=self.runtime, container_id=cid,
                                         pod_ip=pod_ip, ports=list(spec.get("ports") or ()))
            if ok:
                successes, failures = successes + 1, 0
                if successes >= successes_needed:
                    await self._succeeded(pod, key, results)
                    if key == "startupProbe":
                        return
            else:
                failures, successes = failures + 1, 0
                self.on_event(pod, spec, "Warning", "Unhealthy", f"{kind} probe failed: {output}")
                if failures >= failures_needed and await self._failed(pod, spec, cid, key,
                                                                      kind, probe, results):
                    return
            await asyncio.sleep(period)

    async def _succeeded(self, pod: Obj, key: str, results: _Results) -> None:
        if key == "startupProbe" and not results.started:
            results.started = True
            self.on_change(pod["metadata"]["uid"])
        elif key == "readinessProbe" and not results.ready:
            results.ready = True
            self.on_change(pod["metadata"]["uid"])

    async def _failed(self, pod: Obj, spec: Obj, cid: str, key: str, kind: str, probe: Obj,
                      results: _Results) -> bool:
        """Act on a probe past its failure threshold; ``True`` when the loop ends."""
        if key == "readinessProbe":
            if results.ready:
                results.ready = False
                self.on_change(pod["metadata"]["uid"])
            return False
        self.on_event(pod, spec, "Normal", "Killing",
                      f"Container {spec['name']} failed {kind.lower()} probe, will be "
                      "restarted")
        grace = probe.get("terminationGracePeriodSeconds")
        if grace is None:
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        await self.kill(cid, spec, float(grace))
        return True
