"""The controller-manager on its own credentials (``km certs``' controller-manager kubeconfig)
under ``--authorization-mode Node,RBAC``: every controller at work, no 403 in its log."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servers.apimachinery.errors import NotFound
from servers.client.kubeconfig import load_kubeconfig
from servers.client.resources import (
    CONFIGMAPS,
    NAMESPACES,
    PODS,
    REPLICATION_CONTROLLERS,
    SERVICEACCOUNTS,
)
from servers.client.rest import Client
from tests.integration.controller_manager.conftest import POLL
from tests.support.apiserver import ROOT, ApiServer, start_apiserver
from tests.support.pki import make_certs
from tests.support.wait import eventually


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[ApiServer, Path]]:
    certs = make_certs(tmp_path / "pki")
    args = ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"), "--authorization-mode", "Node,RBAC"]
    with start_apiserver(tmp_path / "data", secure=True, extra_args=args) as api:
        yield api, certs


@pytest.fixture
def manager_log(secured: tuple[ApiServer, Path]) -> Iterator[list[str]]:
    api, certs = secured
    proc = subprocess.Popen(
        [sys.executable, "-m", "servers.km", "controller-manager", "--kubeconfig",
         str(certs / "controller-manager.kubeconfig"), "--master", api.url,
         "--secure-port", "0", "-v", "4"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    reader.start()
    try:
        yield lines
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        proc.stderr.close()


async def gone(client: Client, resource: Any, name: str, namespace: str | None = None) -> bool:
    try:
        await client.get(resource, name, namespace)
    except NotFound:
        return True
    return False


async def test_every_controller_works_with_no_forbidden_answer(
        secured: tuple[ApiServer, Path], manager_log: list[str]) -> None:
    api, certs = secured
    config = dataclasses.replace(load_kubeconfig(str(certs / "admin.kubeconfig")),
                                 server=api.url)
    async with Client(config, request_timeout=10.0) as admin:
        await admin.create(NAMESPACES, {"metadata": {"name": "work"}})
        labels = {"app": "w"}
        await admin.create(REPLICATION_CONTROLLERS, {"metadata": {"name": "w"}, "spec": {
            "replicas": 1, "selector": labels, "template": {"metadata": {"labels": labels},
                                                            "spec": {"containers": [
                                                                {"name": "c", "image": "x"}]}}}},
            "work")
        await admin.create(CONFIGMAPS, {"metadata": {"name": "c"}}, "work")

        async def replica() -> bool:
            return bool((await admin.list(PODS, "work"))["items"])

        await eventually(replica, "the RC's pod", 30, POLL)
        async def account() -> bool:
            return not await gone(admin, SERVICEACCOUNTS, "default", "work")

        await eventually(account, "the default ServiceAccount", 30, POLL)
        await admin.delete(NAMESPACES, "work")
        await eventually(lambda: gone(admin, NAMESPACES, "work"), "the namespace to go", 30, POLL)
        await asyncio.sleep(0.5)
    log = "".join(manager_log)
    assert "starting" in log, log[-3000:]
    # Authorization's 403s read 'is forbidden: User "..." cannot <verb> resource ...'; the
    # NamespaceTerminating refusals of late creates into "work" are kube's too, not RBAC's.
    denied = [line for line in manager_log if "cannot" in line and "forbidden" in line]
    assert not denied, "".join(denied[:10])
