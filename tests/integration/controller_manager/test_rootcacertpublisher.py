"""root-ca-cert-publisher against a real apiserver: kube-root-ca.crt in every namespace,
new ones included, and put back when changed or deleted."""

from __future__ import annotations

from pathlib import Path

from servers.apimachinery.errors import NotFound
from servers.client.resources import CONFIGMAPS, NAMESPACES
from servers.client.rest import Client
from tests.integration.controller_manager.conftest import POLL, WAIT, Manager
from tests.support.wait import eventually

CA = "-----BEGIN CERTIFICATE-----\nMIIBkm\n-----END CERTIFICATE-----\n"


async def published(client: Client, namespace: str, ca: str = CA) -> bool:
    try:
        cm = await client.get(CONFIGMAPS, "kube-root-ca.crt", namespace)
    except NotFound:
        return False
    return bool(cm.get("data") == {"ca.crt": ca})


async def test_kube_root_ca_is_published_everywhere(client: Client, manager: Manager,
                                                    tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text(CA)
    async with manager("--controllers", "root-ca-cert-publisher",
                       "--root-ca-file", str(tmp_path / "ca.crt")):
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            await eventually(lambda ns=ns: published(client, ns), f"the CA in {ns}", WAIT, POLL)
        await client.create(NAMESPACES, {"metadata": {"name": "team"}})
        await eventually(lambda: published(client, "team"), "the CA in a new namespace", WAIT, POLL)
        cm = await client.get(CONFIGMAPS, "kube-root-ca.crt", "team")
        cm["data"] = {"ca.crt": "changed"}
        await client.update(CONFIGMAPS, cm)
        await eventually(lambda: published(client, "team"), "the CA put back", WAIT, POLL)
        await client.delete(CONFIGMAPS, "kube-root-ca.crt", "team")
        await eventually(lambda: published(client, "team"), "the CA made again", WAIT, POLL)
