"""The join token: k3s' secure format, the CA pin, and one-line refusals without the secret."""

from __future__ import annotations

import hashlib

import pytest

from servers.minion import token

CA = b"-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n"
HASH = hashlib.sha256(CA).hexdigest()


def test_the_secure_format_parses_into_hash_and_bootstrap_token() -> None:
    parsed = token.parse(f"  K10{HASH}::abc123.0123456789abcdef\n")
    assert (parsed.ca_hash, parsed.token_id, parsed.bearer) == (
        HASH, "abc123", "abc123.0123456789abcdef")
    assert "0123456789abcdef" not in repr(parsed)


def test_the_hash_pins_the_ca_bytes_exactly() -> None:
    parsed = token.parse(f"K10{HASH}::abc123.0123456789abcdef")
    assert parsed.pins(CA)
    assert not parsed.pins(CA + b"\n")


@pytest.mark.parametrize(("text", "says"), [
    ("abc123.0123456789abcdef", "no valid CA hash"),
    (f"K10{HASH[:-1]}::abc123.0123456789abcdef", "no valid CA hash"),
    (f"K10{HASH.upper()}::abc123.0123456789abcdef", "no valid CA hash"),
    (f"K10{HASH}::server:0123456789abcdef", "not a bootstrap token"),
    (f"K10{HASH}::ABC123.0123456789abcdef", "not a bootstrap token"),
    ("hunter2", "not in k3s' secure format"),
])
def test_other_shapes_are_refused_in_one_line_without_the_secret(text: str, says: str) -> None:
    with pytest.raises(token.TokenError) as caught:
        token.parse(text)
    message = str(caught.value)
    assert says in message and "\n" not in message
    assert "0123456789abcdef" not in message and "hunter2" not in message
