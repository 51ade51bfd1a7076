"""CertificateSigningRequest rules (kube's certificates validation and strategy) and its
admission (requester in the spec, approve/sign on signers, no system:masters)."""

from __future__ import annotations

from typing import Any

import pytest

from servers.apimachinery import errors
from servers.apiserver.admission import certificates as admission
from servers.apiserver.auth import UserInfo
from servers.apiserver.authz import Attributes, Decision
from servers.apiserver.kinds import certificates as csr_kind
from tests.support.csr import csr_object, make_request

CLIENT = "kubernetes.io/kube-apiserver-client"


@pytest.mark.parametrize(("name", "message"), [
    ("example.com/signer", ""),
    ("a.b.c/x.y", ""),
    ("", "Required value"),
    ("example.com", "must be a fully qualified domain and path"),
    ("a/b/c", "must be a fully qualified domain and path"),
    ("example/signer", "should be a domain with at least two segments separated by dots"),
    ("Example.com/x", 'validating label "Example"'),
    ("example.com/Bad_Path", 'validating label "Bad_Path"'),
    ("kubernetes.io/legacy-unknown", "the legacy signerName is not allowed"),
])
def test_signer_names_follow_kubes_rule(name: str, message: str) -> None:
    causes = csr_kind.signer_name("spec.signerName", name)
    if not message:
        assert causes == []
    else:
        assert any(message in c.message for c in causes), causes


def test_conditions_are_validated_as_kube_does() -> None:
    _, pem = make_request("jane")
    csr = csr_object("x", pem, CLIENT)
    csr["status"] = {"conditions": [{"type": "Approved", "status": "False"},
                                    {"type": "Denied", "status": "True"},
                                    {"type": "Denied", "status": "True"}, {"status": "Maybe"}]}
    fields = {c.field: c.message for c in csr_kind.validate(csr)}
    assert fields["status.conditions[0].status"].startswith("Unsupported value")
    assert fields["status.conditions[2].type"].startswith("Duplicate value")
    assert fields["status.conditions[3].type"] == "Required value"
    assert "mutually exclusive" in fields["status.conditions"]


def test_an_update_gets_the_stored_spec_and_condition_times() -> None:
    _, pem = make_request("jane")
    old = csr_object("x", pem, CLIENT)
    old["status"] = {"conditions": [{"type": "Approved", "status": "True",
                                     "lastTransitionTime": "2026-01-01T00:00:00Z",
                                     "lastUpdateTime": "2026-01-01T00:00:00Z"}]}
    new = csr_object("x", pem, "example.com/other")
    new["status"] = {"conditions": [{"type": "Approved", "status": "True"},
                                    {"type": "Failed", "status": "True"}]}
    csr_kind.default(new, old)
    assert new["spec"]["signerName"] == CLIENT
    approved, failed = new["status"]["conditions"]
    assert approved["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert approved["lastUpdateTime"] != "2026-01-01T00:00:00Z"
    assert failed["lastTransitionTime"] and failed["lastUpdateTime"]


@pytest.mark.parametrize(("conditions", "certificate", "text"), [
    ([], "", "Pending"),
    ([{"type": "Approved"}], "", "Approved"),
    ([{"type": "Approved"}], "QUJD", "Approved,Issued"),
    ([{"type": "Denied"}, {"type": "Failed"}], "", "Denied,Failed"),
])
def test_the_condition_column(conditions: list[dict[str, Any]], certificate: str,
                              text: str) -> None:
    status: dict[str, Any] = {"conditions": conditions}
    if certificate:
        status["certificate"] = certificate
    assert csr_kind.condition_text({"status": status}) == text


class Only:
    """An authorizer allowing exactly the (verb, name) pairs given."""

    def __init__(self, *allowed: tuple[str, str]) -> None:
        self.allowed = set(allowed)
        self.asked: list[Attributes] = []

    def authorize(self, attrs: Attributes) -> Decision:
        self.asked.append(attrs)
        return Decision((attrs.verb, attrs.name) in self.allowed, "")


def requested_by(user: UserInfo, authorizer: Any) -> Any:
    return admission._REQUESTER.set((user, authorizer))


def test_create_puts_the_requester_in_the_spec_and_refuses_masters() -> None:
    _, pem = make_request("jane", ("dev",))
    csr = csr_object("x", pem, CLIENT)
    csr["spec"].update(username="root", groups=["system:masters"], extra={"a": ["b"]})
    csr["status"] = {"conditions": [{"type": "Approved", "status": "True"}]}
    token = requested_by(UserInfo("bob", ("dev", "system:authenticated"), "u-1"), Only())
    try:
        admission.admit_create(csr)
        _, masters = make_request("mallory", ("system:masters",))
        with pytest.raises(errors.Forbidden, match="system:masters group is not allowed"):
            admission.admit_create(csr_object("m", masters, CLIENT))
        admission.admit_create(csr_object("m", masters, "example.com/mine"))  # other signer
    finally:
        admission._REQUESTER.reset(token)
    assert csr["spec"]["username"] == "bob" and csr["spec"]["uid"] == "u-1"
    assert csr["spec"]["groups"] == ["dev", "system:authenticated"]
    assert "extra" not in csr["spec"] and csr["status"] == {}


def test_approving_and_signing_need_their_verb_on_the_signer_or_its_domain() -> None:
    _, pem = make_request("jane")
    old = csr_object("x", pem, CLIENT)
    approved = {**old, "status": {"conditions": [{"type": "Approved", "status": "True"}]}}
    signed = {**approved, "status": {**approved["status"], "certificate": "QUJD"}}
    authorizer = Only(("approve", "kubernetes.io/*"))
    token = requested_by(UserInfo("ann", ()), authorizer)
    try:
        admission.admit_update(approved, old, "approval")  # through the domain wildcard
        assert [a.name for a in authorizer.asked] == [CLIENT, "kubernetes.io/*"]
        assert authorizer.asked[0].resource == "signers"
        with pytest.raises(errors.Forbidden, match="not permitted to sign requests"):
            admission.admit_update(signed, approved, "status")
    finally:
        admission._REQUESTER.reset(token)
    admission.admit_update(signed, approved, "status")  # nobody over HTTP: not checked
