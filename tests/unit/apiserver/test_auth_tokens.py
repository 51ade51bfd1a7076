"""The --token-auth-file parser and the token authenticator (kube's static token CSV)."""

from __future__ import annotations

from pathlib import Path

import pytest

from servers.apiserver.auth import AUTHENTICATED_GROUP, UserInfo
from servers.apiserver.auth.tokens import TokenAuthenticator, TokenFileError, parse

SECRET = "s3cr3t-token-value"


def authn(text: str) -> TokenAuthenticator:
    return TokenAuthenticator(parse(text))


def test_a_line_names_the_user_and_its_quoted_groups() -> None:
    tokens = authn(f'{SECRET},alice,uid-1,"dev,ops"\n')
    assert tokens.authenticate(SECRET) == UserInfo("alice", ("dev", "ops", AUTHENTICATED_GROUP))


def test_three_columns_make_a_user_without_groups_of_its_own() -> None:
    tokens = authn(f"{SECRET},bob,uid-2\n")
    assert tokens.authenticate(SECRET) == UserInfo("bob", (AUTHENTICATED_GROUP,))


def test_extra_columns_are_ignored_and_spaces_after_commas_trimmed() -> None:
    tokens = authn(f'{SECRET}, carol, uid-3, "a, b", extra\n')
    assert tokens.authenticate(SECRET) == UserInfo("carol", ("a", "b", AUTHENTICATED_GROUP))


def test_blank_lines_and_empty_tokens_are_skipped() -> None:
    tokens = authn(f"\n,nobody,uid-0\n\n{SECRET},dave,uid-4\n")
    assert len(tokens) == 1
    assert tokens.authenticate("") is None


def test_a_repeated_token_takes_the_later_line() -> None:
    tokens = authn(f"{SECRET},first,1\n{SECRET},second,2\n")
    user = tokens.authenticate(SECRET)
    assert user is not None
    assert user.name == "second"


def test_an_unknown_token_is_no_user() -> None:
    assert authn(f"{SECRET},erin,5\n").authenticate("other") is None


@pytest.mark.parametrize("text", [f"{SECRET},frank\n", f"{SECRET}\n"])
def test_too_few_columns_is_an_error_naming_the_line_not_the_token(text: str) -> None:
    with pytest.raises(TokenFileError) as info:
        parse("ok-token,ok,1\n" + text, "tokens.csv")
    assert "tokens.csv: line 2 must have at least 3 columns" in str(info.value)
    assert SECRET not in str(info.value)


def test_broken_csv_is_an_error_without_the_token() -> None:
    with pytest.raises(TokenFileError) as info:
        parse(f'{SECRET},gina,7,"unterminated\n', "tokens.csv")
    assert "not valid CSV" in str(info.value)
    assert SECRET not in str(info.value)


def test_a_missing_file_is_one_line_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.csv"
    with pytest.raises(TokenFileError, match=f"token file {missing}: No such file"):
        TokenAuthenticator.from_file(missing)


def test_tokens_are_kept_as_digests_only(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text(f"{SECRET},hank,8\n")
    tokens = TokenAuthenticator.from_file(path)
    assert tokens.authenticate(SECRET) is not None
    assert SECRET not in repr(tokens)
    assert all(SECRET.encode() not in key for key in tokens._users)
