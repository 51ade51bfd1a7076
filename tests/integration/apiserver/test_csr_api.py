"""certificates.k8s.io/v1 CertificateSigningRequests on the in-process apiserver (no
authentication: writes carry no requester): validation, the fixed spec, /approval and
/status each changing only its part, the table kubectl prints."""

from __future__ import annotations

import base64
from typing import Any

from tests.integration.apiserver.conftest import Client
from tests.support.csr import CSRS, csr_object, make_request

CLIENT = "kubernetes.io/kube-apiserver-client"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


async def create(api: Client, name: str = "req", **kw: Any) -> dict[str, Any]:
    _, pem = make_request("jane", ("dev",))
    resp = await api.post(CSRS, json=csr_object(name, pem, CLIENT, **kw))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_a_request_is_created_with_an_empty_status_and_found_in_discovery(
        api: Client) -> None:
    body = await create(api, expiration_seconds=3600)
    assert body["status"] == {}
    assert body["spec"]["signerName"] == CLIENT and "username" not in body["spec"]
    resp = await api.get("/apis/certificates.k8s.io/v1")
    names = {r["name"]: r for r in (await resp.json())["resources"]}
    assert names["certificatesigningrequests"]["namespaced"] is False
    assert names["certificatesigningrequests"]["shortNames"] == ["csr"]
    assert set(names) >= {"certificatesigningrequests/approval",
                          "certificatesigningrequests/status"}


async def causes(api: Client, obj: dict[str, Any]) -> dict[str, str]:
    resp = await api.post(CSRS, json=obj)
    assert resp.status == 422, await resp.text()
    return {c["field"]: c["message"] for c in (await resp.json())["details"]["causes"]}


async def test_bad_requests_are_refused_with_kubes_causes(api: Client) -> None:
    _, pem = make_request("jane")
    bad = csr_object("bad", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                     "example.com", ("client auth", "client auth", "flying"), 60)
    found = await causes(api, bad)
    assert "PEM block type must be CERTIFICATE REQUEST" in found["spec.request"]
    assert "fully qualified domain and path" in found["spec.signerName"]
    assert "may not specify a duration less than 600 seconds" in found["spec.expirationSeconds"]
    assert found["spec.usages[1]"].startswith("Duplicate value")
    assert found["spec.usages[2]"].startswith("Unsupported value")
    found = await causes(api, csr_object("no-signer", pem, "", ()))
    assert found["spec.signerName"] == "Required value"
    assert found["spec.usages"] == "Required value"
    tampered = csr_object("tampered", pem.replace(b"A", b"B", 1) if b"A" in pem[40:] else pem,
                          CLIENT)
    raw = base64.b64decode(tampered["spec"]["request"])
    tampered["spec"]["request"] = base64.b64encode(raw[:-60] + raw[-60:].swapcase()).decode()
    assert "spec.request" in await causes(api, tampered)


async def test_the_spec_never_changes_and_status_is_kept_on_plain_updates(api: Client) -> None:
    body = await create(api)
    body["spec"]["signerName"] = "example.com/other"
    body["status"] = {"certificate": "AAAA"}
    resp = await api.put(f"{CSRS}/req", json=body)
    assert resp.status == 200, await resp.text()
    stored = await resp.json()
    assert stored["spec"]["signerName"] == CLIENT and stored["status"] == {}


async def approve(api: Client, body: dict[str, Any], kind: str = "Approved") -> Any:
    body.setdefault("status", {})["conditions"] = [
        {"type": kind, "status": "True", "reason": "Test", "message": "ok"}]
    return await api.put(f"{CSRS}/{body['metadata']['name']}/approval", json=body)


async def test_approval_sets_conditions_only_and_they_stay(api: Client) -> None:
    body = await create(api)
    body["spec"]["usages"] = ["server auth"]
    resp = await approve(api, body)
    assert resp.status == 200, await resp.text()
    approved = await resp.json()
    cond = approved["status"]["conditions"][0]
    assert cond["type"] == "Approved" and cond["lastUpdateTime"] and cond["lastTransitionTime"]
    assert approved["spec"]["usages"] == ["digital signature", "client auth"]
    approved["status"]["conditions"] = []
    resp = await api.put(f"{CSRS}/req/approval", json=approved)
    assert resp.status == 422
    assert 'updates may not remove a condition of type \\"Approved\\"' in await resp.text()
    both = await approve(api, approved, "Denied")
    assert both.status == 422  # replacing Approved by Denied removes Approved


async def test_approval_is_not_possible_through_status_nor_the_object(api: Client) -> None:
    body = await create(api)
    for path in (f"{CSRS}/req/status", f"{CSRS}/req"):
        body["status"] = {"conditions": [{"type": "Approved", "status": "True"}]}
        resp = await api.put(path, json=body)
        if path.endswith("/status"):
            assert resp.status == 422, await resp.text()
            assert 'may not add a condition of type \\"Approved\\"' in await resp.text()
        else:  # the object's own write keeps the stored status
            assert (await resp.json())["status"] == {}


async def test_the_certificate_is_set_through_status_once(api: Client) -> None:
    from servers.certs import pki

    ca_key, ca = pki.make_ca("test-ca", 1)
    _, cert = pki.sign(ca, ca_key, "jane", ("dev",), 1)
    pem = base64.b64encode(pki.cert_pem(cert)).decode()
    body = await create(api)
    body["status"] = {"certificate": pem}
    resp = await api.put(f"{CSRS}/req/approval", json=body)  # /approval takes conditions only
    assert resp.status == 200 and "certificate" not in (await resp.json())["status"]
    body["metadata"]["resourceVersion"] = (await resp.json())["metadata"]["resourceVersion"]
    resp = await api.put(f"{CSRS}/req/status", json=body)
    assert resp.status == 200, await resp.text()
    issued = await resp.json()
    _, other = pki.sign(ca, ca_key, "joe", (), 1)
    issued["status"]["certificate"] = base64.b64encode(pki.cert_pem(other)).decode()
    resp = await api.put(f"{CSRS}/req/status", json=issued)
    assert resp.status == 422
    assert "may not modify existing certificate content" in await resp.text()
    issued["status"]["certificate"] = base64.b64encode(b"not a cert").decode()
    resp = await api.put(f"{CSRS}/req/status", json=issued)
    assert resp.status == 422


async def test_the_table_has_kubectls_columns(api: Client) -> None:
    await create(api, "one", expiration_seconds=86400)
    body = await create(api, "two")
    await approve(api, body)
    resp = await api.get(CSRS, headers={"Accept": TABLE})
    table = await resp.json()
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"]
    rows = {r["cells"][0]: r["cells"] for r in table["rows"]}
    assert rows["one"][2:] == [CLIENT, "", "24h", "Pending"]
    assert rows["two"][4:] == ["<none>", "Approved"]
