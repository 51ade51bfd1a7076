"""Client-side errors: what goes wrong before or after the apiserver could answer.

* ClientError                 base of every failure on the client's side of the wire
  x ConfigError               missing, unreadable or malformed kubeconfig; bad server URL;
                              unusable TLS material (one-line message, no secrets in it)
  x ApiUnavailable            the apiserver cannot be reached: connection refused or reset,
                              TLS handshake failure, no answer in time
  x BadResponse               the apiserver answered 2xx with a body that is not the JSON
                              expected (or a watch line that is not an event)

Errors the apiserver itself reports (a non-2xx answer, an ERROR watch event) are not here: they
are ``servers.apimachinery.errors.StatusError`` subclasses rebuilt from the ``Status`` body
(``NotFound``, ``Conflict``, ``Gone``, ...). Standard library only.
"""

from __future__ import annotations

__all__ = ["ApiUnavailable", "BadResponse", "ClientError", "ConfigError"]


class ClientError(Exception):
    """Base class: the request did not get a usable answer from the apiserver."""


class ConfigError(ClientError):
    """The client cannot be configured (kubeconfig, server URL, certificates)."""


class ApiUnavailable(ClientError):
    """The apiserver could not be reached or stopped answering; retrying later may work."""


class BadResponse(ClientError):
    """A successful HTTP answer whose body could not be decoded."""
