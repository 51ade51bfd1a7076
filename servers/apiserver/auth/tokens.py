"""Static bearer tokens: Kubernetes' ``--token-auth-file`` CSV, and the authenticator over it.

The file has one token per line: ``token,user,uid[,"group1,group2"]`` (more columns are
ignored, blank lines skipped, a line with an empty token skipped), parsed as kube-apiserver's
``tokenfile.NewCSV`` does. The tokens themselves are kept only as SHA-256 digests, so no token
sits in memory in clear or can leak through a repr, a log line or an error message; a file
error names the file and the line, never the line's text.
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/staging/src/k8s.io/apiserver/pkg/authentication/token/tokenfile/tokenfile.go
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from pathlib import Path

from servers.apiserver.auth import UserInfo, authenticated

log = logging.getLogger(__name__)

MIN_COLUMNS = 3
TOO_FEW_COLUMNS = ("token file {path}: line {line} must have at least 3 columns "
                   "(token, user name, user uid), found {found}")
UNREADABLE = "token file {path}: {error}"


class TokenFileError(ValueError):
    """The token file cannot be read or parsed (the message holds no token)."""


class TokenAuthenticator:
    """Users by bearer token, from a token file's text (``from_file``) or ``parse``."""

    def __init__(self, users: dict[bytes, UserInfo]) -> None:
        self._users = users

    def __len__(self) -> int:
        return len(self._users)

    @classmethod
    def from_file(cls, path: str | Path) -> TokenAuthenticator:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
            raise TokenFileError(UNREADABLE.format(path=path, error=reason)) from None
        return cls(parse(text, str(path)))

    def authenticate(self, token: str) -> UserInfo | None:
        """The token's user, or None for a token the file does not hold."""
        return self._users.get(_digest(token))


def parse(text: str, path: str = "<tokens>") -> dict[bytes, UserInfo]:
    """Token digests to users. Raises TokenFileError for a line with fewer than 3 columns."""
    users: dict[bytes, UserInfo] = {}
    # csv (not str.split): the groups column is quoted because it holds commas itself.
    reader = csv.reader(io.StringIO(text), skipinitialspace=True, strict=True)
    try:
        for record in reader:
            if not record or record == [""]:
                continue
            if len(record) < MIN_COLUMNS:
                raise TokenFileError(TOO_FEW_COLUMNS.format(
                    path=path, line=reader.line_num, found=len(record)))
            token, name = record[0].strip(), record[1].strip()
            if not token:
                log.warning("token file %s: line %d has an empty token; skipped",
                            path, reader.line_num)
                continue
            groups = [g.strip() for g in record[3].split(",")] if len(record) > MIN_COLUMNS \
                else []
            key = _digest(token)
            if key in users:
                log.warning("token file %s: line %d repeats a token; the later line wins",
                            path, reader.line_num)
            users[key] = authenticated(name, [g for g in groups if g], record[2].strip())
    except csv.Error:
        msg = f"token file {path}: line {reader.line_num} is not valid CSV"
        raise TokenFileError(msg) from None
    return users


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
