"""Authentication: who is asking, decided once per request before anything else runs.

    UserInfo        the authenticated identity (name and groups), frozen
    USER_KEY        the request key under which the auth middleware stores it:
                    ``request[USER_KEY]`` is a ``UserInfo`` for every request that reaches a handler
    ANONYMOUS_USER  what an unauthenticated request is, when --anonymous-auth lets it through
    LOOPBACK_ADMIN  who a request on the plain-HTTP loopback port is (the old insecure port)

The authenticators (client certificates, static tokens) and the aiohttp middleware live in
the submodules; this module is pure data and imports the standard library only, so the
authorizer can depend on it without pulling in HTTP or crypto.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The request key (a plain string: aiohttp request keys are not AppKeys) holding a UserInfo.
USER_KEY = "km.user"

#: Every authenticated user is also in this group (kube's ``user.AllAuthenticated``).
AUTHENTICATED_GROUP = "system:authenticated"
UNAUTHENTICATED_GROUP = "system:unauthenticated"
MASTERS_GROUP = "system:masters"


@dataclass(frozen=True)
class UserInfo:
    """An authenticated (or anonymous) identity: a user name and the groups it belongs to.

    ``uid`` is what the authenticator knows of the user's unique id (the token file's third
    column; TokenReview reports it); it takes no part in comparisons.
    """

    name: str
    groups: tuple[str, ...] = ()
    uid: str = field(default="", compare=False)


ANONYMOUS_USER = UserInfo("system:anonymous", (UNAUTHENTICATED_GROUP,))
LOOPBACK_ADMIN = UserInfo("system:admin", (MASTERS_GROUP, AUTHENTICATED_GROUP))


def authenticated(name: str, groups: tuple[str, ...] | list[str], uid: str = "") -> UserInfo:
    """A UserInfo for an authenticated user: its groups plus ``system:authenticated``, once."""
    unique = tuple(dict.fromkeys((*groups, AUTHENTICATED_GROUP)))
    return UserInfo(name, unique, uid)


class AuthenticationError(Exception):
    """Credentials were presented and are not good; ``str()`` says why, never the secret.

    ``who`` is the identity the credentials claimed (a certificate's CN), or a description of
    them ("<unknown token>") when they claim none, for the denial's log line.
    """

    def __init__(self, reason: str, who: str) -> None:
        super().__init__(reason)
        self.who = who
