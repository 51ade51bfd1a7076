"""The secure port against a real apiserver (RBAC): /healthz open, /metrics delegated."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from prometheus_client import CollectorRegistry, Counter

from servers.certs import pki
from servers.client.rest import Client
from servers.component import options
from servers.component.serving import ServingError, secure_serving
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.ports import free_port

RBAC = "/apis/rbac.authorization.k8s.io/v1"


@pytest.fixture(scope="module")
def rbac_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """Plain HTTP (the component's own client is the admin) with RBAC deciding reviews."""
    data = tmp_path_factory.mktemp("serving") / "data"
    with start_apiserver(data, extra_args=["--compaction-interval", "0",
                                           "--authorization-mode", "RBAC"]) as api:
        yield api


@pytest.fixture
async def client(rbac_apiserver: ApiServer) -> AsyncIterator[Client]:
    async with Client(rbac_apiserver.url, request_timeout=10.0) as opened:
        yield opened


class Pki:
    """A CA and client certificates it signs, as files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ca_key, self.ca = pki.make_ca("test-ca", 1)
        self.ca_file = folder / "ca.crt"
        self.ca_file.write_bytes(pki.cert_pem(self.ca))

    def client(self, user: str, *groups: str) -> ssl.SSLContext:
        key, cert = pki.sign(self.ca, self.ca_key, user, groups, 1)
        (self.folder / f"{user}.crt").write_bytes(pki.cert_pem(cert))
        (self.folder / f"{user}.key").write_bytes(pki.key_pem(key))
        context = insecure()
        context.load_cert_chain(self.folder / f"{user}.crt", self.folder / f"{user}.key")
        return context


def insecure() -> ssl.SSLContext:
    """Trust any server certificate (the self-signed one is checked on its own)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@pytest.fixture
def certs(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def serving_opts(*args: str, client_ca: Path | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    options.add_serving_flags(parser, default_port=10259)
    extra = ["--client-ca-file", str(client_ca)] if client_ca else []
    return parser.parse_args(["--bind-address", "127.0.0.1", "--secure-port",
                              str(free_port()), *extra, *args])


async def get(port: int, path: str, context: ssl.SSLContext | None = None,
              token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(
            f"https://127.0.0.1:{port}{path}", ssl=context or insecure(),
            headers=headers) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


def registry_with_a_counter() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("km_test_things", "Things counted by the test.", registry=registry).inc(3)
    return registry


async def test_healthz_is_open_over_https_with_a_self_signed_certificate(
        client: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "servers.component.serving")
    opts = serving_opts()
    async with secure_serving(opts, CollectorRegistry(), client, name="kube-scheduler") as port:
        assert port is not None and port == opts.secure_port
        for path in ("/healthz", "/livez", "/readyz"):
            assert await get(port, path) == (200, "ok")
        # A verifying client does not trust it: it is self-signed, for loopback names.
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await get(port, "/healthz", ssl.create_default_context())
        pem = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", port))
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert cert.subject.rfc4514_string().startswith("CN=kube-scheduler@")
    assert cert.issuer.rfc4514_string().startswith("CN=kube-scheduler-ca@")
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert f"serving securely on https://127.0.0.1:{port}" in caplog.text


async def test_unhealthy_is_500(client: Client) -> None:
    async with secure_serving(serving_opts(), CollectorRegistry(), client, name="x",
                              healthy=lambda: False) as port:
        assert port is not None
        assert await get(port, "/healthz") == (500, "healthz check failed")


async def test_metrics_without_credentials_is_401(client: Client, certs: Pki) -> None:
    opts = serving_opts(client_ca=certs.ca_file)
    async with secure_serving(opts, registry_with_a_counter(), client, name="x") as port:
        assert port is not None
        status, body = await get(port, "/metrics")
    assert status == 401
    assert (body["kind"], body["reason"], body["message"]) == (
        "Status", "Unauthorized", "Unauthorized")


async def test_metrics_for_an_admin_certificate_is_the_registrys_text(
        client: Client, certs: Pki) -> None:
    opts = serving_opts(client_ca=certs.ca_file)
    admin = certs.client("admin", "system:masters")
    async with secure_serving(opts, registry_with_a_counter(), client, name="x") as port:
        assert port is not None
        status, text = await get(port, "/metrics", admin)
    assert status == 200
    assert "km_test_things_total 3.0" in text
    # Only this server's registry: nothing from prometheus_client's global default one.
    assert "process_cpu_seconds_total" not in text and "python_info" not in text


async def test_metrics_refused_by_rbac_is_403(client: Client, certs: Pki) -> None:
    opts = serving_opts(client_ca=certs.ca_file)
    bob = certs.client("bob", "developers")
    async with secure_serving(opts, registry_with_a_counter(), client, name="x") as port:
        assert port is not None
        status, body = await get(port, "/metrics", bob)
    assert status == 403
    assert body["reason"] == "Forbidden"
    assert body["message"].startswith('forbidden: User "bob" cannot get path "/metrics"')


async def test_metrics_allowed_by_an_rbac_binding(client: Client, certs: Pki) -> None:
    await client.request("POST", f"{RBAC}/clusterroles", body={
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "metrics-reader"},
        "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]})
    await client.request("POST", f"{RBAC}/clusterrolebindings", body={
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "prometheus-metrics"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "metrics-reader"},
        "subjects": [{"kind": "Group", "name": "monitoring",
                      "apiGroup": "rbac.authorization.k8s.io"}]})
    opts = serving_opts(client_ca=certs.ca_file)
    carol = certs.client("carol", "monitoring")
    async with secure_serving(opts, registry_with_a_counter(), client, name="x") as port:
        assert port is not None
        status, _ = await get(port, "/metrics", carol)
        assert status == 200
        # /metrics is allowed; other paths are not (and are asked about, not 404).
        status, body = await get(port, "/debug/pprof", carol)
        assert status == 403 and 'cannot get path "/debug/pprof"' in body["message"]


async def test_a_certificate_from_another_ca_is_refused_in_the_handshake(
        client: Client, certs: Pki, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    stranger = Pki(tmp_path / "other")
    opts = serving_opts(client_ca=certs.ca_file)
    async with secure_serving(opts, CollectorRegistry(), client, name="x") as port:
        assert port is not None
        with pytest.raises(aiohttp.ClientError):
            await get(port, "/metrics", stranger.client("admin", "system:masters"))


async def test_port_zero_serves_nothing(client: Client,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "servers.component.serving")
    opts = serving_opts("--secure-port", "0")
    async with secure_serving(opts, CollectorRegistry(), client, name="x") as port:
        assert port is None
    assert "secure serving is off" in caplog.text


async def test_a_taken_port_is_one_line(client: Client) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        opts = serving_opts("--secure-port", str(taken.getsockname()[1]))
        opts.bind_address = "127.0.0.1"
        with pytest.raises(ServingError, match=r"^cannot serve on 127\.0\.0\.1:\d+: "):
            async with secure_serving(opts, CollectorRegistry(), client, name="x"):
                pass


async def test_given_certificate_files_are_served(client: Client, certs: Pki,
                                                  tmp_path: Path) -> None:
    key, cert = pki.sign(certs.ca, certs.ca_key, "my-scheduler", (), 1, sans=["127.0.0.1"])
    (tmp_path / "s.crt").write_bytes(pki.cert_pem(cert))
    (tmp_path / "s.key").write_bytes(pki.key_pem(key))
    opts = serving_opts("--tls-cert-file", str(tmp_path / "s.crt"),
                        "--tls-private-key-file", str(tmp_path / "s.key"))
    verifying = ssl.create_default_context(cafile=str(certs.ca_file))
    async with secure_serving(opts, CollectorRegistry(), client, name="x") as port:
        assert port is not None
        assert await get(port, "/healthz", verifying) == (200, "ok")


@pytest.mark.parametrize(("args", "text"), [
    (["--tls-cert-file", "/nonexistent/s.crt"], "must be given together"),
    (["--tls-cert-file", "/nonexistent/s.crt", "--tls-private-key-file", "/nonexistent/s.key"],
     "cannot load --tls-cert-file/--tls-private-key-file: No such file or directory"),
    (["--client-ca-file", "/nonexistent/ca.crt"],
     "cannot load --client-ca-file /nonexistent/ca.crt: No such file or directory"),
])
async def test_files_that_do_not_load_are_one_line(client: Client, args: list[str],
                                                   text: str) -> None:
    with pytest.raises(ServingError) as caught:
        async with secure_serving(serving_opts(*args), CollectorRegistry(), client, name="x"):
            pass
    assert text in str(caught.value) and "\n" not in str(caught.value)
