"""The certificate controllers over filled caches and a fake client: which requests the
approver recognizes and asks about, what the signer issues or fails, which the cleaner and
the token cleaner delete."""

from __future__ import annotations

import asyncio
import base64
import datetime
from typing import Any

import pytest
from cryptography import x509

from servers.apiserver.auth import bootstrap as bt
from servers.certs import pki
from servers.controller_manager.controllers import (
    csrapproving,
    csrcleaner,
    csrsigning,
    tokencleaner,
)
from servers.controller_manager.controllers import csrutil as cu
from tests.support.csr import csr_object, make_request
from tests.unit.controller_manager.fakes import FakeClient, context

Obj = dict[str, Any]
NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.timezone.utc)


class ReviewingClient(FakeClient):
    """Answers SubjectAccessReviews: allowed for the (user, subresource) pairs given."""

    def __init__(self, allowed: set[tuple[str, str]]) -> None:
        super().__init__()
        self.allowed = allowed
        self.reviews: list[tuple[str, str]] = []

    async def create(self, resource: Any, obj: Obj, namespace: str | None = None,
                     **kw: Any) -> Obj:
        if resource.plural != "subjectaccessreviews":
            return await super().create(resource, obj, namespace, **kw)
        asked = (obj["spec"]["user"], obj["spec"]["resourceAttributes"]["subresource"])
        self.reviews.append(asked)
        return {**obj, "status": {"allowed": asked in self.allowed}}


def request(name: str, cn: str, orgs: tuple[str, ...], signer: str, user: str,
            usages: tuple[str, ...] = ("digital signature", "client auth"),
            sans: tuple[str, ...] = ()) -> Obj:
    _, pem = make_request(cn, orgs, sans)
    csr = csr_object(name, pem, signer, usages)
    csr["spec"].update(username=user, groups=["system:bootstrappers"])
    csr["metadata"]["uid"] = f"uid-{name}"
    return csr


def approver(allowed: set[tuple[str, str]]) -> tuple[Any, Any, ReviewingClient]:
    ctx, factory, _ = context()
    client = ReviewingClient(allowed)
    ctx.client = client
    return csrapproving.CSRApprover(ctx), factory, client


NODE = ("system:node:n1", ("system:nodes",), cu.KUBE_APISERVER_CLIENT_KUBELET)


async def test_a_bootstrapper_node_client_request_is_approved_after_review() -> None:
    controller, factory, client = approver({("system:bootstrap:abc", "nodeclient")})
    factory["certificatesigningrequests"].add(request("a", *NODE, "system:bootstrap:abc"))
    await controller.sync("a")
    assert client.reviews == [("system:bootstrap:abc", "nodeclient")]
    (verb, _, _, name, body), = client.writes
    assert (verb, name) == ("update/approval", "a")
    assert body["status"]["conditions"] == [{
        "type": "Approved", "status": "True", "reason": "AutoApproved",
        "message": "Auto approving kubelet client certificate after SubjectAccessReview."}]


async def test_a_node_renewing_its_own_certificate_asks_selfnodeclient_first() -> None:
    controller, factory, client = approver({("system:node:n1", "selfnodeclient")})
    factory["certificatesigningrequests"].add(request("r", *NODE, "system:node:n1"))
    await controller.sync("r")
    assert client.reviews == [("system:node:n1", "selfnodeclient")]
    assert client.verbs("update/approval")


async def test_a_recognized_request_not_allowed_is_retried_and_others_ignored() -> None:
    controller, factory, client = approver(set())
    informer = factory["certificatesigningrequests"]
    informer.add(request("n", *NODE, "eve"))
    with pytest.raises(csrapproving.NotApproved):
        await controller.sync("n")
    informer.add(request("wrong-o", "system:node:n1", ("ops",),
                         cu.KUBE_APISERVER_CLIENT_KUBELET, "eve"))
    informer.add(request("sans", *NODE, "eve", sans=("n1",)))
    informer.add(request("other", "jane", (), cu.KUBE_APISERVER_CLIENT, "eve"))
    informer.add(request("proxy-with-o", "system:kube-proxy", ("x",),
                         cu.KUBE_APISERVER_CLIENT, "eve"))
    for name in ("wrong-o", "sans", "other", "proxy-with-o"):
        await controller.sync(name)
    assert client.reviews == [("eve", "nodeclient")] and not client.writes


async def test_the_proxy_identity_is_kms_extension_for_bootstrappers_and_nodes() -> None:
    controller, factory, client = approver({("system:node:n1", "selfnodeclient")})
    factory["certificatesigningrequests"].add(
        request("p", "system:kube-proxy", (), cu.KUBE_APISERVER_CLIENT, "system:node:n1"))
    await controller.sync("p")
    assert client.reviews == [("system:node:n1", "nodeclient"),
                              ("system:node:n1", "selfnodeclient")]
    assert "kube-proxy" in client.verbs("update/approval")[0][4]["status"]["conditions"][0][
        "message"]


SERVING = ("system:node:n1", ("system:nodes",), cu.KUBELET_SERVING)
SERVING_USAGES = ("digital signature", "key encipherment", "server auth")


def node(name: str, *addresses: tuple[str, str]) -> Obj:
    return {"metadata": {"name": name}, "status": {"addresses": [
        {"type": kind, "address": value} for kind, value in addresses]}}


async def test_a_nodes_serving_request_for_its_own_names_is_kms_extension() -> None:
    controller, factory, client = approver({("system:node:n1", "selfnodeclient")})
    factory["nodes"].add(node("n1", ("InternalIP", "192.0.2.7"), ("Hostname", "n1.lan")))
    informer = factory["certificatesigningrequests"]
    informer.add(request("s", *SERVING, "system:node:n1", SERVING_USAGES,
                         sans=("n1", "n1.lan", "192.0.2.7")))
    await controller.sync("s")
    (_, _, _, name, body), = client.verbs("update/approval")
    assert name == "s" and "serving" in body["status"]["conditions"][0]["message"]
    # Another node's name is not recognized at all; a name the Node does not have, or no
    # Node yet, is retried with backoff (so a Node whose addresses come later gets it then).
    informer.add(request("other-node", *SERVING, "system:node:n2", SERVING_USAGES,
                         sans=("n1",)))
    await controller.sync("other-node")
    informer.add(request("other-ip", *SERVING, "system:node:n1", SERVING_USAGES,
                         sans=("n1", "192.0.2.8")))
    with pytest.raises(csrapproving.NotApproved):
        await controller.sync("other-ip")
    factory["nodes"].delete(node("n1"))
    informer.add(request("s2", *SERVING, "system:node:n1", SERVING_USAGES, sans=("n1",)))
    with pytest.raises(csrapproving.NotApproved):
        await controller.sync("s2")
    assert len(client.verbs("update/approval")) == 1


async def test_decided_or_issued_requests_are_left_alone() -> None:
    controller, factory, client = approver({("system:bootstrap:abc", "nodeclient")})
    denied = request("d", *NODE, "system:bootstrap:abc")
    denied["status"] = {"conditions": [{"type": "Denied", "status": "True"}]}
    factory["certificatesigningrequests"].add(denied)
    assert len(controller.queue) == 0
    await controller.sync("d")
    assert not client.reviews


def signer(days: int = 365, duration: float = 365 * 86400.0) -> tuple[Any, Any, FakeClient]:
    ctx, factory, client = context()
    key, ca = pki.make_ca("unit-ca", days)
    return csrsigning.CSRSigner(ctx, ca, key, duration), factory, client


def approved(csr: Obj) -> Obj:
    csr["status"] = {"conditions": [{"type": "Approved", "status": "True"}]}
    return csr


async def test_an_approved_kubelet_client_request_is_signed_for_the_asked_time() -> None:
    controller, factory, client = signer()
    csr = approved(request("a", *NODE, "x"))
    csr["spec"]["expirationSeconds"] = 7200
    factory["certificatesigningrequests"].add(csr)
    await controller.sync("a")
    (verb, _, _, _, body), = client.writes
    assert verb == "update/status"
    cert = x509.load_pem_x509_certificate(base64.b64decode(body["status"]["certificate"]))
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(hours=2)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.mark.parametrize(("asked", "seconds"), [(None, 86400), (60, 600), (3600, 3600),
                                                (10**9, 86400)])
def test_the_validity_is_the_flags_or_the_asked_one_bounded(asked: int | None,
                                                            seconds: int) -> None:
    controller, _, _ = signer(duration=86400.0)
    assert controller.valid_seconds(asked) == seconds


def test_long_certificates_are_backdated_and_capped_by_the_ca() -> None:
    controller, _, _ = signer(days=2)
    req = cu.parse(request("a", *NODE, "x"))
    cert = x509.load_pem_x509_certificate(controller.sign(req, {"usages": ["client auth"]},
                                                          NOW))
    assert cert.not_valid_before_utc == NOW - datetime.timedelta(minutes=5)
    assert cert.not_valid_after_utc == controller.ca.not_valid_after_utc


@pytest.mark.parametrize(("signer_name", "cn", "orgs", "usages", "sans", "why"), [
    (cu.KUBE_APISERVER_CLIENT_KUBELET, "system:node:n1", ("ops",),
     ("digital signature", "client auth"), (), "subject organization is not system:nodes"),
    (cu.KUBE_APISERVER_CLIENT_KUBELET, "n1", ("system:nodes",),
     ("digital signature", "client auth"), (),
     'subject common name does not begin with "system:node:"'),
    (cu.KUBE_APISERVER_CLIENT_KUBELET, "system:node:n1", ("system:nodes",),
     ("client auth",), (), "usages did not match [client auth digital signature key "
     "encipherment]"),
    (cu.KUBE_APISERVER_CLIENT, "jane", (), ("server auth",), (),
     "invalid usage for client certificate: server auth"),
    (cu.KUBELET_SERVING, "system:node:n1", ("system:nodes",),
     ("digital signature", "server auth"), (), "DNS or IP subjectAltName is required"),
])
async def test_requests_the_signer_refuses_get_kubes_failed_condition(
        signer_name: str, cn: str, orgs: tuple[str, ...], usages: tuple[str, ...],
        sans: tuple[str, ...], why: str) -> None:
    controller, factory, client = signer()
    factory["certificatesigningrequests"].add(
        approved(request("a", cn, orgs, signer_name, "x", usages, sans)))
    await controller.sync("a")
    (_, _, _, _, body), = client.writes
    failed = body["status"]["conditions"][-1]
    assert (failed["type"], failed["reason"], failed["message"]) == (
        "Failed", "SignerValidationFailure", why)
    assert "certificate" not in body["status"]


async def test_pending_denied_and_other_signers_requests_are_not_signed() -> None:
    controller, factory, client = signer()
    informer = factory["certificatesigningrequests"]
    informer.add(request("pending", *NODE, "x"))
    denied = approved(request("both", *NODE, "x"))
    denied["status"]["conditions"].append({"type": "Denied", "status": "True"})
    informer.add(denied)
    informer.add(approved(request("custom", "a", (), "example.com/mine", "x")))
    assert len(controller.queue) == 0
    for name in ("pending", "both", "custom"):
        await controller.sync(name)
    assert not client.writes


def aged(conditions: list[Obj], created: str = "2026-12-06T11:30:00Z",
         certificate: str = "") -> Obj:
    csr: Obj = {"metadata": {"name": "c", "uid": "u", "creationTimestamp": created},
                "status": {"conditions": conditions}}
    if certificate:
        csr["status"]["certificate"] = certificate
    return csr


def test_the_cleaner_uses_kubes_ages() -> None:
    hour_ago = "2026-12-06T10:59:00Z"
    recent = "2026-12-06T11:30:00Z"
    cert = base64.b64encode(pki.cert_pem(pki.make_ca("x", 1)[1])).decode()
    why = csrcleaner.why_delete
    assert why(aged([{"type": "Denied", "lastUpdateTime": hour_ago}]), NOW)
    assert not why(aged([{"type": "Denied", "lastUpdateTime": recent}]), NOW)
    assert why(aged([{"type": "Failed", "lastUpdateTime": hour_ago}]), NOW)
    assert why(aged([{"type": "Approved", "lastUpdateTime": hour_ago}], certificate=cert), NOW)
    assert not why(aged([{"type": "Approved", "lastUpdateTime": hour_ago}]), NOW)
    assert why(aged([], created="2026-12-05T11:59:00Z"), NOW) == "pending for more than a day"
    assert not why(aged([], created="2026-12-05T12:01:00Z"), NOW)
    far = NOW + datetime.timedelta(days=3)
    assert why(aged([{"type": "Approved", "lastUpdateTime": recent}], certificate=cert),
               far) in ("issued more than an hour ago", "its certificate has expired")


async def test_the_cleaner_deletes_with_the_uid_as_precondition() -> None:
    ctx, factory, client = context()
    controller = csrcleaner.CSRCleaner(ctx)
    factory["certificatesigningrequests"].add(
        aged([{"type": "Denied", "lastUpdateTime": "2020-01-01T00:00:00Z"}]))
    await controller.sync("c", NOW)
    assert client.writes == [("delete", "certificatesigningrequests", None, "c", {"uid": "u"})]


async def test_the_token_cleaner_deletes_expired_tokens_and_waits_for_the_others() -> None:
    ctx, factory, client = context()
    controller = tokencleaner.TokenCleaner(ctx)
    informer = factory["secrets"]
    for token_id, expires in (("dead01", "2026-12-06T11:00:00Z"),
                              ("soon01", "2026-12-06T12:00:30Z"), ("ever01", "")):
        secret = bt.make_secret(token_id, "0123456789abcdef", expires=expires)
        secret["metadata"]["uid"] = token_id
        informer.add(secret)
    for token_id in ("dead01", "soon01", "ever01"):
        await controller.sync(bt.secret_name(token_id), NOW)
    assert client.writes == [("delete", "secrets", "kube-system", "bootstrap-token-dead01",
                              {"uid": "dead01"})]
    due = controller.queue._timers["bootstrap-token-soon01"][0]  # looked at when it ends
    assert 30 < due - asyncio.get_running_loop().time() <= 31
    assert "bootstrap-token-ever01" not in controller.queue._timers


def test_the_signing_files_load_ecdsa_or_rsa_and_must_match(tmp_path: Any) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key, ca = pki.make_ca("ec-ca", 1)
    (tmp_path / "ec.crt").write_bytes(pki.cert_pem(ca))
    (tmp_path / "ec.key").write_bytes(pki.key_pem(key))
    assert csrsigning.load_ca(str(tmp_path / "ec.crt"), str(tmp_path / "ec.key"))[1]
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rsa-ca")])
    rsa_ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
              .public_key(rsa_key.public_key()).serial_number(1)
              .not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .sign(rsa_key, hashes.SHA256()))
    (tmp_path / "rsa.crt").write_bytes(pki.cert_pem(rsa_ca))
    (tmp_path / "rsa.key").write_bytes(rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    ca_cert, ca_key = csrsigning.load_ca(str(tmp_path / "rsa.crt"), str(tmp_path / "rsa.key"))
    ctx, _, _ = context()
    signer_ = csrsigning.CSRSigner(ctx, ca_cert, ca_key, 3600.0)
    req = cu.parse(request("a", *NODE, "x"))
    cert = x509.load_pem_x509_certificate(signer_.sign(req, {"usages": ["client auth"]}, NOW))
    assert cert.issuer == name
    with pytest.raises(csrsigning.SigningError, match="is not the key of"):
        csrsigning.load_ca(str(tmp_path / "rsa.crt"), str(tmp_path / "ec.key"))
    with pytest.raises(csrsigning.SigningError, match="no PEM certificate"):
        csrsigning.load_ca(str(tmp_path / "ec.key"), str(tmp_path / "ec.key"))
