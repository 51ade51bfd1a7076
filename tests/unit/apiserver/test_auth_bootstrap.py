"""Bootstrap tokens (kube's plugin/pkg/auth/authenticator/token/bootstrap): Secrets to users."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from servers.apiserver.auth import AUTHENTICATED_GROUP, AuthenticationError, UserInfo
from servers.apiserver.auth import bootstrap as bt

TOKEN = "abcdef.0123456789abcdef"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)


def tokens(*secrets: dict) -> bt.BootstrapTokens:
    cache = bt.BootstrapTokens()
    cache.replace(list(secrets))
    return cache


def test_a_good_token_is_the_bootstrap_user_in_system_bootstrappers() -> None:
    user = tokens(bt.make_secret("abcdef", "0123456789abcdef")).authenticate(TOKEN, NOW)
    assert user == UserInfo("system:bootstrap:abcdef", ("system:bootstrappers",
                                                         AUTHENTICATED_GROUP))


def test_extra_groups_are_added_sorted() -> None:
    secret = bt.make_secret("abcdef", "0123456789abcdef",
                            extra_groups=("system:bootstrappers:km:node", "system:bootstrappers:a"))
    user = tokens(secret).authenticate(TOKEN, NOW)
    assert user is not None
    assert user.groups == ("system:bootstrappers", "system:bootstrappers:a",
                           "system:bootstrappers:km:node", AUTHENTICATED_GROUP)


@pytest.mark.parametrize("token", ["", "abcdef", "abcdef.short", "ABCDEF.0123456789abcdef",
                                   "some-static-token", "a.b.c"])
def test_a_token_of_another_shape_is_not_ours(token: str) -> None:
    assert tokens(bt.make_secret("abcdef", "0123456789abcdef")).authenticate(token) is None


def refusal(cache: bt.BootstrapTokens, token: str = TOKEN) -> str:
    with pytest.raises(AuthenticationError) as info:
        cache.authenticate(token, NOW)
    assert "0123456789abcdef" not in str(info.value)
    assert info.value.who == "system:bootstrap:" + token.split(".")[0]
    return str(info.value)


def test_an_unknown_id_and_a_wrong_secret_are_refused() -> None:
    cache = tokens(bt.make_secret("abcdef", "fedcba9876543210"))
    assert "no bootstrap token secret bootstrap-token-zzzzzz" in refusal(
        cache, "zzzzzz.0123456789abcdef")
    assert "has another token-secret" in refusal(cache)


def test_an_expired_token_is_refused_and_a_future_one_accepted() -> None:
    cache = tokens(bt.make_secret("abcdef", "0123456789abcdef", expires="2026-12-06T11:59:59Z"))
    assert "has expired" in refusal(cache)
    cache = tokens(bt.make_secret("abcdef", "0123456789abcdef", expires="2026-12-06T12:00:01Z"))
    assert cache.authenticate(TOKEN, NOW) is not None


def test_an_unreadable_expiration_counts_as_expired() -> None:
    cache = tokens(bt.make_secret("abcdef", "0123456789abcdef", expires="tomorrow"))
    assert "has expired" in refusal(cache)


def test_a_token_not_for_authentication_or_with_bad_groups_is_refused() -> None:
    secret = bt.make_secret("abcdef", "0123456789abcdef")
    secret["data"].pop(bt.USAGE_AUTHENTICATION)
    assert "not marked usage-bootstrap-authentication=true" in refusal(tokens(secret))
    bad = bt.make_secret("abcdef", "0123456789abcdef", extra_groups=("system:masters",))
    assert "invalid auth-extra-groups" in refusal(tokens(bad))


def test_the_secret_must_be_named_for_its_id_typed_and_in_kube_system() -> None:
    other_id = bt.make_secret("abcdef", "0123456789abcdef")
    other_id["data"][bt.TOKEN_ID] = "YWJjZGVm"  # "abcdef" again: fine
    assert tokens(other_id).authenticate(TOKEN, NOW) is not None
    other_id["data"][bt.TOKEN_ID] = "enp6enp6"  # "zzzzzz"
    assert "has another token-id" in refusal(tokens(other_id))
    opaque = bt.make_secret("abcdef", "0123456789abcdef")
    opaque["type"] = "Opaque"
    assert "no bootstrap token secret" in refusal(tokens(opaque))
    elsewhere = bt.make_secret("abcdef", "0123456789abcdef")
    elsewhere["metadata"]["namespace"] = "default"
    assert "no bootstrap token secret" in refusal(tokens(elsewhere))


def test_a_deleted_secret_and_a_removed_one_are_refused() -> None:
    secret = bt.make_secret("abcdef", "0123456789abcdef")
    secret["metadata"]["deletionTimestamp"] = "2026-12-06T11:00:00Z"
    assert "is deleted and awaiting removal" in refusal(tokens(secret))
    cache = tokens(bt.make_secret("abcdef", "0123456789abcdef"))
    cache.remove(bt.make_secret("abcdef", "x"))
    assert len(cache) == 0
    assert "no bootstrap token secret" in refusal(cache)


def test_a_secret_changed_to_another_type_stops_authenticating() -> None:
    cache = tokens(bt.make_secret("abcdef", "0123456789abcdef"))
    changed = bt.make_secret("abcdef", "0123456789abcdef")
    changed["type"] = "Opaque"
    cache.put(changed)
    assert "no bootstrap token secret" in refusal(cache)


def test_expired_helper_reads_the_secret() -> None:
    assert bt.expired(bt.make_secret("a", "b", expires="2026-12-06T11:00:00Z"), NOW)
    assert not bt.expired(bt.make_secret("a", "b"), NOW)
