"""Service account token flags: what from_options builds, the portable build's one line, and
the default/kubernetes advertise address."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec

from servers.apiserver import kubernetesservice, tokenrequest
from servers.apiserver.auth import serviceaccount
from servers.apiserver.options import add_flags

ROOT = Path(__file__).resolve().parents[3]


def parse(*args: str):  # type: ignore[no-untyped-def]
    import argparse

    parser = argparse.ArgumentParser()
    add_flags(parser)
    return parser.parse_args(list(args))


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "sa.key"
    path.write_bytes(key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8,
                                       ser.NoEncryption()))
    return path


def test_off_without_key_flags() -> None:
    assert tokenrequest.from_options(parse()) is None


def test_signing_key_alone_verifies_with_its_public_half(key_file: Path) -> None:
    tokens = tokenrequest.from_options(parse(
        "--service-account-signing-key-file", str(key_file),
        "--service-account-issuer", "https://a", "--service-account-issuer", "https://b",
        "--api-audiences", "x,y"))
    assert tokens is not None and tokens.signer is not None
    assert tokens.issuer == "https://a" and tokens.audiences == ("x", "y")
    assert tokens.jwks_uri == "https://a/openid/v1/jwks"
    assert tokens.verifier.issuers == ("https://a", "https://b")
    assert tokens.openid_configuration()["id_token_signing_alg_values_supported"] == ["ES256"]


def test_key_file_alone_verifies_only(key_file: Path) -> None:
    tokens = tokenrequest.from_options(parse("--service-account-key-file", str(key_file)))
    assert tokens is not None and tokens.signer is None
    assert tokens.issuer == tokenrequest.DEFAULT_ISSUER


def test_a_bad_key_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad").write_text("not a key")
    with pytest.raises(serviceaccount.KeyFileError, match="no unencrypted PEM private key"):
        tokenrequest.from_options(parse("--service-account-signing-key-file",
                                        str(tmp_path / "bad")))


def test_without_cryptography_tokens_are_off_in_one_line(key_file: Path) -> None:
    code = ("import sys, logging; sys.modules['cryptography'] = None; "
            "logging.basicConfig(format='%(message)s'); import argparse; "
            "from servers.apiserver import tokenrequest, options; "
            "p = argparse.ArgumentParser(); options.add_flags(p); "
            f"o = p.parse_args(['--service-account-signing-key-file', {str(key_file)!r}]); "
            "print(tokenrequest.from_options(o))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.stdout.strip() == "None"
    assert done.stderr.strip() == tokenrequest.NO_CRYPTOGRAPHY


@pytest.mark.parametrize(("advertise", "bind", "expected"), [
    ("192.0.2.7", "127.0.0.1", "192.0.2.7"), (None, "127.0.0.1", "127.0.0.1"),
    (None, "::1", "::1"), (None, "localhost", "127.0.0.1")])
def test_advertise_address(advertise: str | None, bind: str, expected: str) -> None:
    assert kubernetesservice.advertise_address(advertise, bind) == expected


def test_objects_are_kubes() -> None:
    svc = kubernetesservice.service("10.96.0.1", 6443)
    assert svc["spec"]["ports"] == [{"name": "https", "protocol": "TCP", "port": 443,
                                     "targetPort": 6443}]
    assert kubernetesservice.endpoint_slice("::1", 6443)["addressType"] == "IPv6"
    assert kubernetesservice.endpoints("127.0.0.1", 6443)["metadata"]["labels"] == {
        "endpointslice.kubernetes.io/skip-mirror": "true"}
