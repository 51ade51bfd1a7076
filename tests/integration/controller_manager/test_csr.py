"""The certificate controllers against a real apiserver (Node,RBAC; requests made as other
users through impersonation on the loopback port): csrapproving approves what the bootstrap
roles allow and nothing else, csrsigning issues with the cluster CA as kube's signers do
(or fails the request with kube's reason), csrcleaner and tokencleaner delete what has
served its time."""

from __future__ import annotations

import base64
import datetime
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from servers.apiserver.auth import bootstrap as bt
from servers.certs import pki
from servers.client.rest import Client
from servers.controller_manager.controllers.csrutil import CSRS as CSR_REF
from tests.integration.controller_manager.conftest import POLL, WAIT, Manager
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.csr import CSRS, csr_object, make_request
from tests.support.wait import eventually

KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
CLIENT = "kubernetes.io/kube-apiserver-client"
SERVING = "kubernetes.io/kubelet-serving"
BOOTSTRAPPER = ("system:bootstrap:abcdef", "system:bootstrappers")


@pytest.fixture
def apiserver(tmp_path: Path) -> Iterator[ApiServer]:
    with start_apiserver(tmp_path / "data",
                         extra_args=["--authorization-mode", "Node,RBAC"]) as api:
        yield api


@pytest.fixture
def ca_files(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = pki.make_ca("csr-test-ca", 30)
    (tmp_path / "ca.crt").write_bytes(pki.cert_pem(cert))
    (tmp_path / "ca.key").write_bytes(pki.key_pem(key))
    return tmp_path / "ca.crt", tmp_path / "ca.key"


@pytest.fixture
async def http(apiserver: ApiServer) -> AsyncIterator[Any]:
    async with aiohttp.ClientSession(apiserver.url) as session:
        yield session


async def create_as(http: Any, who: tuple[str, str], obj: dict[str, Any]) -> dict[str, Any]:
    headers = {"Impersonate-User": who[0], "Impersonate-Group": who[1]}
    async with http.post(CSRS, json=obj, headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def may_ask(client: Client, group: str) -> None:
    """Bind ``group`` to system:node-bootstrapper: it may create CSRs, and nothing else."""
    from servers.client.resources import ResourceRef

    bindings = ResourceRef("rbac.authorization.k8s.io", "v1", "clusterrolebindings", False,
                           "ClusterRoleBinding")
    await client.create(bindings, {
        "metadata": {"name": f"{group}-asks"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "system:node-bootstrapper"},
        "subjects": [{"kind": "Group", "name": group,
                      "apiGroup": "rbac.authorization.k8s.io"}]})


def certificate(csr: dict[str, Any]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(base64.b64decode(csr["status"]["certificate"]))


async def issued(client: Client, name: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        csr = await client.get(CSR_REF, name)
        return csr if (csr.get("status") or {}).get("certificate") else None
    return await eventually(check, f"csr {name} issued", WAIT, POLL)


def signing(ca_files: tuple[Path, Path], *extra: str) -> list[str]:
    return ["--cluster-signing-cert-file", str(ca_files[0]),
            "--cluster-signing-key-file", str(ca_files[1]), *extra]


async def test_a_bootstrapper_gets_its_node_and_proxy_certificates_and_others_do_not(
        manager: Manager, client: Client, http: Any, ca_files: tuple[Path, Path]) -> None:
    _, node_pem = make_request("system:node:n1", ("system:nodes",))
    _, proxy_pem = make_request("system:kube-proxy")
    _, eve_pem = make_request("system:node:n2", ("system:nodes",))
    await may_ask(client, "developers")
    await create_as(http, BOOTSTRAPPER, csr_object("node", node_pem, KUBELET_CLIENT,
                                                   expiration_seconds=3600))
    await create_as(http, BOOTSTRAPPER, csr_object("proxy", proxy_pem, CLIENT))
    await create_as(http, ("eve", "developers"), csr_object("eve", eve_pem, KUBELET_CLIENT))
    async with manager("--controllers", "csrapproving,csrsigning", *signing(ca_files)):
        node = await issued(client, "node")
        proxy = await issued(client, "proxy")
        eve = await client.get(CSR_REF, "eve")
    assert node["status"]["conditions"][0]["reason"] == "AutoApproved"
    assert "status" not in eve or not eve["status"].get("conditions")
    ca = pki.load_cert(ca_files[0].read_bytes())
    cert = certificate(node)
    assert cert.issuer == ca.subject
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:n1"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == \
        "system:nodes"
    lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(minutes=55) < lifetime <= datetime.timedelta(hours=1)
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    proxy_cert = certificate(proxy)
    assert proxy_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == \
        "system:kube-proxy"
    proxy_life = proxy_cert.not_valid_after_utc - proxy_cert.not_valid_before_utc
    assert proxy_life > datetime.timedelta(days=29)  # the CA's end caps the year


async def approve(client: Client, name: str) -> None:
    csr = await client.get(CSR_REF, name)
    csr["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Test"}]}
    await client.update(CSR_REF, csr, subresource="approval")


async def test_serving_certificates_are_signed_with_their_names_or_failed_without(
        manager: Manager, client: Client, http: Any, ca_files: tuple[Path, Path]) -> None:
    node = ("system:node:n1", "system:nodes")
    _, good = make_request("system:node:n1", ("system:nodes",), ("n1", "127.0.0.1"))
    _, bare = make_request("system:node:n1", ("system:nodes",))
    usages = ("digital signature", "server auth")
    await create_as(http, node, csr_object("serving", good, SERVING, usages))
    await create_as(http, node, csr_object("bare", bare, SERVING, usages))
    for name in ("serving", "bare"):
        await approve(client, name)
    async with manager("--controllers", "csrsigning", *signing(ca_files)):
        serving = await issued(client, "serving")

        async def failed() -> dict[str, Any] | None:
            csr = await client.get(CSR_REF, "bare")
            conds = {c["type"]: c for c in csr["status"].get("conditions") or []}
            return conds.get("Failed")
        condition = await eventually(failed, "the bare serving csr failed", WAIT, POLL)
    assert condition["reason"] == "SignerValidationFailure"
    assert condition["message"] == "DNS or IP subjectAltName is required"
    sans = certificate(serving).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["n1"]
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


async def test_old_denied_requests_and_expired_tokens_are_deleted(
        manager: Manager, client: Client, http: Any) -> None:
    from servers.client.resources import ResourceRef

    secrets = ResourceRef("", "v1", "secrets", True, "Secret")
    _, pem = make_request("jane")
    await may_ask(client, "dev")
    for name in ("old", "fresh"):
        await create_as(http, ("jane", "dev"), csr_object(name, pem, CLIENT))
        csr = await client.get(CSR_REF, name)
        updated = "2020-01-01T00:00:00Z" if name == "old" else None
        cond = {"type": "Denied", "status": "True", "reason": "Test"}
        if updated:
            cond["lastUpdateTime"] = updated
        csr["status"] = {"conditions": [cond]}
        await client.update(CSR_REF, csr, subresource="approval")
    await client.create(secrets, bt.make_secret("dead01", "0123456789abcdef",
                                                expires="2020-01-01T00:00:00Z"), "kube-system")
    soon = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
            ).strftime("%Y-%m-%dT%H:%M:%SZ")
    await client.create(secrets, bt.make_secret("soon01", "0123456789abcdef", expires=soon),
                        "kube-system")
    await client.create(secrets, bt.make_secret("live01", "0123456789abcdef"), "kube-system")
    async with manager("--controllers", "csrcleaner,tokencleaner"):
        async def cleaned() -> bool:
            names = {c["metadata"]["name"] for c in
                     (await client.list(CSR_REF))["items"]}
            tokens = {s["metadata"]["name"] for s in
                      (await client.list(secrets, "kube-system"))["items"]}
            return "old" not in names and "bootstrap-token-dead01" not in tokens \
                and "bootstrap-token-soon01" not in tokens
        await eventually(cleaned, "the old csr and the expired tokens deleted", WAIT, POLL)
    names = {c["metadata"]["name"] for c in (await client.list(CSR_REF))["items"]}
    assert names == {"fresh"}
    tokens = {s["metadata"]["name"] for s in (await client.list(secrets, "kube-system"))["items"]}
    assert "bootstrap-token-live01" in tokens
