"""/metrics for bearer tokens: the real apiserver's TokenReview, then its SubjectAccessReview."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from servers.certs import pki
from servers.client.rest import Client
from servers.component.serving import secure_serving
from tests.integration.component.test_serving import get, registry_with_a_counter, serving_opts
from tests.support.apiserver import ApiServer, start_apiserver

ADMIN_TOKEN = "admin-token-1b2c3d"
BOB_TOKEN = "bob-token-4e5f6a"


@pytest.fixture(scope="module")
def token_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    folder = tmp_path_factory.mktemp("tokens")
    tokens = folder / "tokens.csv"
    tokens.write_text(f'{ADMIN_TOKEN},root,uid-root,"system:masters"\n'
                      f"{BOB_TOKEN},bob,uid-bob\n")
    tokens.chmod(0o600)
    # Tokens authenticate on the HTTPS port only, so it is on too (unused here: the
    # component's own client stays on the plain loopback port, as the admin).
    ca_key, ca = pki.make_ca("test-ca", 1)
    key, cert = pki.sign(ca, ca_key, "kube-apiserver", (), 1, sans=["127.0.0.1"])
    (folder / "apiserver.crt").write_bytes(pki.cert_pem(cert))
    (folder / "apiserver.key").write_bytes(pki.key_pem(key))
    with start_apiserver(folder / "data", extra_args=[
            "--compaction-interval", "0", "--authorization-mode", "RBAC",
            "--token-auth-file", str(tokens), "--secure-port", "0",
            "--tls-cert-file", str(folder / "apiserver.crt"),
            "--tls-private-key-file", str(folder / "apiserver.key")]) as api:
        yield api


@pytest.fixture
async def client(token_apiserver: ApiServer) -> AsyncIterator[Client]:
    async with Client(token_apiserver.url, request_timeout=10.0) as opened:
        yield opened


async def test_tokens_are_reviewed_by_the_apiserver(client: Client, tmp_path: Path) -> None:
    registry = registry_with_a_counter()
    async with secure_serving(serving_opts(), registry, client, name="x") as port:
        assert port is not None
        status, text = await get(port, "/metrics", token=ADMIN_TOKEN)
        assert status == 200 and "km_test_things_total 3.0" in text
        status, body = await get(port, "/metrics", token=BOB_TOKEN)
        assert status == 403
        assert body["message"].startswith('forbidden: User "bob" cannot get path "/metrics"')
        status, body = await get(port, "/metrics", token="nobodys-token")
        assert (status, body["reason"]) == (401, "Unauthorized")


async def test_nothing_but_health_without_a_token(client: Client) -> None:
    async with secure_serving(serving_opts(), CollectorRegistry(), client, name="x") as port:
        assert port is not None
        assert (await get(port, "/healthz"))[0] == 200
        assert (await get(port, "/metrics"))[0] == 401
