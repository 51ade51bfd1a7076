"""certificates.k8s.io/v1 CertificateSigningRequest: strategy, validation and printing.

As kube's ``pkg/registry/certificates/certificates/strategy.go`` and
``pkg/apis/certificates/validation/validation.go`` at v1.32:

* the spec never changes after create (every update, of the object or a subresource, gets the
  stored spec back, as the strategies' ``PrepareForUpdate``); ``spec.username``, ``uid``,
  ``groups`` and ``extra`` are the requester's, set at create by admission
  (``servers.apiserver.admission.certificates``), and a new request starts with no status;
* ``/approval`` changes ``status.conditions`` only (``keep_all_but_conditions``), ``/status``
  the whole status; a main-resource write keeps the stored status (the registry's split);
* Approved and Denied conditions may be added only through ``/approval``, never removed
  (nor Failed), and not together; ``status.certificate`` only through ``/status``, once;
* ``spec.request`` is a PEM ``CERTIFICATE REQUEST`` with a good signature, ``signerName`` a
  ``domain/path``, ``usages`` known ones without repeats, ``expirationSeconds`` >= 600.

Condition timestamps are filled as kube's ``populateConditionTimestamps`` does. ``row`` is
kube's ``printCertificateSigningRequest``. Parsing needs ``cryptography``, imported lazily.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from servers.apimachinery import field, validation
from servers.apimachinery.field import Cause
from servers.apimachinery.meta import now_rfc3339
from servers.apiserver.kinds._common import Obj, as_dict, as_list, dicts
from servers.apiserver.kinds.printers import age, human_duration

GROUP = "certificates.k8s.io"
APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"
KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
KUBE_APISERVER_CLIENT_KUBELET = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
LEGACY_UNKNOWN = "kubernetes.io/legacy-unknown"
MIN_EXPIRATION_SECONDS = 600
#: kube's allValidUsages (certificates/v1 KeyUsage).
USAGES = ("signing", "digital signature", "content commitment", "key encipherment",
          "key agreement", "data encipherment", "cert sign", "crl sign", "encipher only",
          "decipher only", "any", "server auth", "client auth", "code signing",
          "email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user",
          "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc")
CONDITION_STATUSES = ("False", "True", "Unknown")
PEM_CSR = "CERTIFICATE REQUEST"
SIGNER_FORM = "must be a fully qualified domain and path of the form 'example.com/signer-name'"


# -- strategy ---------------------------------------------------------------------------------

def default(csr: Obj, old: Obj | None = None) -> None:
    """On update: the stored spec back, and condition timestamps filled."""
    if old is None:
        return
    if "spec" in old:
        csr["spec"] = old["spec"]
    _timestamps(csr, old)


def reset_for_create(csr: Obj, user: Any) -> None:
    """The requester's identity in the spec and an empty status (kube's PrepareForCreate).

    ``user`` is a ``UserInfo`` or None (a write nobody made over HTTP: no identity).
    """
    spec = csr.get("spec")
    if not isinstance(spec, dict):
        return
    for member in ("username", "uid", "groups", "extra"):
        spec.pop(member, None)
    if user is not None:
        if user.name:
            spec["username"] = user.name
        if user.uid:
            spec["uid"] = user.uid
        if user.groups:
            spec["groups"] = list(user.groups)
    csr["status"] = {}


def keep_all_but_conditions(current: Obj, new: Obj) -> Obj:
    """What an ``/approval`` write stores: the current object with the new conditions (and,
    as every subresource write, its labels and annotations)."""
    result = {k: v for k, v in current.items() if k != "status"}
    status = dict(as_dict(current.get("status")))
    conditions = as_dict(new.get("status")).get("conditions")
    if conditions is None:
        status.pop("conditions", None)
    else:
        status["conditions"] = conditions
    result["status"] = status
    meta = dict(current["metadata"])
    for key in ("labels", "annotations"):
        if key in new.get("metadata", {}):
            meta[key] = new["metadata"][key]
    meta["resourceVersion"] = new.get("metadata", {}).get("resourceVersion")
    result["metadata"] = meta
    return result


def _timestamps(csr: Obj, old: Obj) -> None:
    """kube's populateConditionTimestamps: an unset lastUpdateTime is now; an unset
    lastTransitionTime is the stored one of the same type and status, else now."""
    now = now_rfc3339()
    before = {c.get("type"): c for c in dicts(as_dict(old.get("status")).get("conditions"))}
    for cond in dicts(as_dict(csr.get("status")).get("conditions")):
        prior = before.get(cond.get("type"))
        if not cond.get("lastUpdateTime"):
            cond["lastUpdateTime"] = now
        if not cond.get("lastTransitionTime"):
            if prior is not None and prior.get("status") == cond.get("status") and \
                    prior.get("lastTransitionTime"):
                cond["lastTransitionTime"] = prior["lastTransitionTime"]
            else:
                cond["lastTransitionTime"] = now


# -- validation -------------------------------------------------------------------------------

def validate(csr: Obj, old: Obj | None = None) -> list[Cause]:
    """``validateCertificateSigningRequest`` (and, with ``old``, the update rules that hold
    whatever the path; ``validate_update`` adds the per-subresource ones)."""
    spec = as_dict(csr.get("spec"))
    causes = _request(spec.get("request"))
    causes += _usages(spec.get("usages"))
    causes += signer_name("spec.signerName", spec.get("signerName"))
    seconds = spec.get("expirationSeconds")
    if isinstance(seconds, int) and seconds < MIN_EXPIRATION_SECONDS:
        causes.append(field.invalid("spec.expirationSeconds", seconds,
                                    "may not specify a duration less than 600 seconds "
                                    "(10 minutes)"))
    status = as_dict(csr.get("status"))
    causes += _conditions(dicts(status.get("conditions")))
    message = certificate_error(status.get("certificate"))
    if message:
        causes.append(field.invalid("status.certificate", "<certificate data>", message))
    return causes


def validate_update(csr: Obj, old: Obj, subresource: str) -> list[Cause]:
    """The rules of one write path: Approved/Denied only through ``approval``, the
    certificate only through ``status`` and only once; no condition removed."""
    causes: list[Cause] = []
    path = "status.conditions"
    for kind in (APPROVED, DENIED, FAILED):
        if len(_of_type(csr, kind)) < len(_of_type(old, kind)):
            causes.append(field.forbidden(path, f'updates may not remove a condition of type '
                                          f'"{kind}"'))
    if subresource != "approval":
        for kind in (APPROVED, DENIED):
            new, was = _of_type(csr, kind), _of_type(old, kind)
            if len(new) > len(was):
                causes.append(field.forbidden(path, f'updates may not add a condition of type '
                                              f'"{kind}"'))
            elif len(new) == len(was) and new != was:
                causes.append(field.forbidden(path, f'updates may not modify a condition of '
                                              f'type "{kind}"'))
    cert, was_cert = (as_dict(o.get("status")).get("certificate") or "" for o in (csr, old))
    if cert != was_cert:
        if subresource != "status":
            causes.append(field.forbidden("status.certificate",
                                          "updates may not set certificate content"))
        elif was_cert:
            causes.append(field.forbidden("status.certificate",
                                          "updates may not modify existing certificate content"))
    return causes


def _of_type(csr: Obj, kind: str) -> list[Obj]:
    return [c for c in dicts(as_dict(csr.get("status")).get("conditions"))
            if c.get("type") == kind]


def decode_request(value: Any) -> Any:
    """The ``x509.CertificateSigningRequest`` in ``spec.request`` (base64 of PEM); raises
    ValueError saying what is wrong, as kube's ``ParseCSR`` and ``CheckSignature``."""
    from cryptography import x509

    try:
        pem = base64.b64decode(str(value or ""), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("illegal base64 data") from None
    if f"-----BEGIN {PEM_CSR}-----".encode() not in pem:
        raise ValueError(f"PEM block type must be {PEM_CSR}")
    try:
        request = x509.load_pem_x509_csr(pem)
    except ValueError as exc:
        raise ValueError(f"x509: malformed certificate request: {exc}") from None
    if not request.is_signature_valid:
        raise ValueError("x509: ECDSA verification failure")
    return request


def _request(value: Any) -> list[Cause]:
    if not value:
        return [field.invalid("spec.request", "", f"PEM block type must be {PEM_CSR}")]
    try:
        decode_request(value)
    except ValueError as exc:
        return [field.invalid("spec.request", "<request data>", str(exc))]
    return []


def _usages(value: Any) -> list[Cause]:
    usages = as_list(value)
    if not usages:
        return [field.required("spec.usages")]
    causes: list[Cause] = []
    seen: set[Any] = set()
    for i, usage in enumerate(usages):
        if usage not in USAGES:
            causes.append(field.not_supported(f"spec.usages[{i}]", usage, sorted(USAGES)))
        if usage in seen:
            causes.append(field.duplicate(f"spec.usages[{i}]", usage))
        seen.add(usage)
    return causes


def signer_name(path: str, name: Any) -> list[Cause]:
    """kube's ``ValidateSignerName``: ``<DNS-1123 domain with a dot>/<path of subdomains>``."""
    if not name or not isinstance(name, str):
        return [field.required(path)]
    if name == LEGACY_UNKNOWN:
        return [field.invalid(path, name, "the legacy signerName is not allowed via this API "
                              "version")]
    segments = name.split("/")
    causes: list[Cause] = []
    if len(segments) != 2:
        causes.append(field.invalid(path, name, SIGNER_FORM))
        if len(segments) < 2:
            return causes
    domain, rest = segments[0], segments[1]
    if len(domain) > validation.DNS1123_SUBDOMAIN_MAX_LENGTH:
        causes.append(field.too_long(path, validation.DNS1123_SUBDOMAIN_MAX_LENGTH))
    causes += _first_bad_label(path, domain, validation.is_dns1123_label)
    if len(domain.split(".")) < 2:
        causes.append(field.invalid(path, domain,
                                    "should be a domain with at least two segments separated "
                                    "by dots"))
    return causes + _first_bad_label(path, rest, validation.is_dns1123_subdomain)


def _first_bad_label(path: str, value: str, check: Any) -> list[Cause]:
    """The messages of the first dot-separated part of ``value`` that ``check`` refuses (kube
    stops there: the rest would repeat it)."""
    for label in value.split("."):
        messages = check(label)
        if messages:
            return [field.invalid(path, value, f'validating label "{label}": {m}')
                    for m in messages]
    return []


def _conditions(conditions: list[Obj]) -> list[Cause]:
    """kube's ``validateConditions`` (v1: no empty types, no duplicates, Approved and Denied
    only True and never together)."""
    causes: list[Cause] = []
    seen: set[Any] = set()
    for i, cond in enumerate(conditions):
        path = f"status.conditions[{i}]"
        kind, status = cond.get("type"), cond.get("status")
        if not kind:
            causes.append(field.required(f"{path}.type"))
        if not status:
            causes.append(field.required(f"{path}.status"))
        elif status not in CONDITION_STATUSES:
            causes.append(field.not_supported(f"{path}.status", status, CONDITION_STATUSES))
        if kind in (APPROVED, DENIED) and status and status != "True":
            causes.append(field.not_supported(f"{path}.status", status, ["True"]))
        if kind in seen:
            causes.append(field.duplicate(f"{path}.type", kind))
        seen.add(kind)
    if APPROVED in seen and DENIED in seen:
        causes.append(field.invalid("status.conditions", conditions,
                                    "Approved and Denied conditions are mutually exclusive"))
    return causes


def certificate_error(value: Any) -> str:
    """Why ``status.certificate`` is no PEM bundle of certificates ("" when it is, or unset)."""
    if not value:
        return ""
    from cryptography import x509

    try:
        pem = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return "illegal base64 data"
    blocks = [b for b in pem.split(b"-----END ") if b.strip()]
    if not any(b"-----BEGIN CERTIFICATE-----" in b for b in blocks):
        return "must contain at least one CERTIFICATE PEM block"
    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        return f"x509: {exc}"
    if pem.count(b"-----BEGIN ") != pem.count(b"-----BEGIN CERTIFICATE-----"):
        return "only CERTIFICATE PEM blocks are allowed"
    return ""


# -- the states and printing ------------------------------------------------------------------

def has_condition(csr: Obj, kind: str) -> bool:
    return bool(_of_type(csr, kind))


def condition_text(csr: Obj) -> str:
    """kube's ``extractCSRStatus``: Denied, Approved or Pending, then ,Failed and ,Issued."""
    text = DENIED if has_condition(csr, DENIED) else \
        APPROVED if has_condition(csr, APPROVED) else "Pending"
    if has_condition(csr, FAILED):
        text += ",Failed"
    if as_dict(csr.get("status")).get("certificate"):
        text += ",Issued"
    return text


def row(csr: Obj, now: datetime) -> list[Any]:
    """NAME AGE SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION."""
    spec, meta = as_dict(csr.get("spec")), as_dict(csr.get("metadata"))
    seconds = spec.get("expirationSeconds")
    duration = human_duration(seconds) if isinstance(seconds, int) else "<none>"
    return [meta.get("name", ""), age(meta.get("creationTimestamp"), now),
            spec.get("signerName") or "<none>", spec.get("username", ""), duration,
            condition_text(csr)]
