"""Kubeconfig files and the connection settings they describe.

    config = load_kubeconfig("admin.kubeconfig")            # its current-context
    config = load_kubeconfig(context="node1")                # $KUBECONFIG or ~/.kube/config
    config = Config.for_server("http://127.0.0.1:6443")      # plain loopback HTTP, no file

``load_kubeconfig`` reads one file (the path given, else the first existing entry of
``$KUBECONFIG``, else ``~/.kube/config``; files are not merged), picks a context and returns a
``Config``: the cluster's ``server``, ``certificate-authority(-data)``,
``insecure-skip-tls-verify``, and the user's ``token``/``tokenFile`` or
``client-certificate(-data)`` + ``client-key(-data)``. Relative paths are taken relative to
the kubeconfig's folder, as kubectl does. ``exec`` and ``auth-provider`` users are refused, not
ignored. Every problem is a ``ConfigError`` with a one-line message that never holds a secret.

``Config.ssl_context()`` builds the ``ssl.SSLContext`` for an https server. CA data is handed to
``ssl`` in memory; client certificate and key data must be files for ``ssl``, so they are
written to a private temporary folder (0700, files 0600) only while being loaded, then removed.

PyYAML is imported only when a file is loaded; everything else is the standard library.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from servers.client.errors import ConfigError

__all__ = ["DEFAULT_KUBECONFIG", "ENV_KUBECONFIG", "Config", "default_path", "load_kubeconfig"]

ENV_KUBECONFIG = "KUBECONFIG"
DEFAULT_KUBECONFIG = "~/.kube/config"
_REFUSED_USER_KEYS = ("exec", "auth-provider")


@dataclass(frozen=True)
class Config:
    """How to reach one apiserver and who to be there. Secrets stay out of ``repr``.

    ``ca_data`` is PEM text; ``cert_data``/``key_data`` are PEM bytes. ``namespace`` is the
    context's namespace (``default`` when unset); the client does not apply it by itself.
    """

    server: str
    token: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    ca_data: str | None = field(default=None, repr=False)
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: bytes | None = field(default=None, repr=False)
    key_data: bytes | None = field(default=None, repr=False)
    insecure: bool = False
    namespace: str = "default"

    def __post_init__(self) -> None:
        parts = urlsplit(self.server)
        if parts.username is not None or parts.password is not None:
            msg = "credentials in the server URL are not supported (use a token)"
            raise ConfigError(msg)
        try:
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (
                parts.port is None or parts.port > 0)
        except ValueError:  # a port that is not a number
            valid = False
        if not valid:
            msg = f'server "{self.server}" is not an http:// or https:// URL with a host'
            raise ConfigError(msg)
        object.__setattr__(self, "server", self.server.rstrip("/"))

    @classmethod
    def for_server(cls, url: str, *, token: str | None = None) -> Config:
        """A config for ``url`` alone (plain loopback HTTP in tests and all-in-one)."""
        return cls(server=url, token=token)

    @property
    def is_https(self) -> bool:
        """Whether the server URL is https (and so needs ``ssl_context()``)."""
        return self.server.startswith("https:")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for an https server; ``None`` for plain http.

        Raises ``ConfigError`` when the CA or the client certificate cannot be loaded, or when
        a CA is given together with ``insecure`` (kubectl refuses that pair too).
        """
        if not self.is_https:
            return None
        if self.insecure and (self.ca_file or self.ca_data):
            msg = "a certificate authority and insecure-skip-tls-verify cannot be used together"
            raise ConfigError(msg)
        try:
            context = ssl.create_default_context(cafile=self.ca_file, cadata=self.ca_data)
            if self.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if self.cert_file or self.cert_data or self.key_file or self.key_data:
                self._load_client_cert(context)
        except (OSError, ssl.SSLError, ValueError) as exc:
            msg = f"TLS setup failed: {_reason(exc)}"
            raise ConfigError(msg) from None
        return context

    def _load_client_cert(self, context: ssl.SSLContext) -> None:
        if not (self.cert_file or self.cert_data) or not (self.key_file or self.key_data):
            msg = "a client certificate needs both a certificate and a key"
            raise ConfigError(msg)
        with tempfile.TemporaryDirectory(prefix="km-tls-") as private:
            cert = self.cert_file or _private_file(private, "client.crt", self.cert_data)
            key = self.key_file or _private_file(private, "client.key", self.key_data)
            context.load_cert_chain(cert, key)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc) or type(exc).__name__


def _private_file(folder: str, name: str, data: bytes | None) -> str:
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data or b"")
    return path


def default_path() -> Path:
    """The kubeconfig kubectl would read: first existing ``$KUBECONFIG`` entry, else ~/.kube."""
    for entry in os.environ.get(ENV_KUBECONFIG, "").split(os.pathsep):
        if entry and Path(entry).expanduser().is_file():
            return Path(entry).expanduser()
    return Path(DEFAULT_KUBECONFIG).expanduser()


def load_kubeconfig(path: str | os.PathLike[str] | None = None, *,
                    context: str | None = None) -> Config:
    """Read a kubeconfig and return the ``Config`` of ``context`` (default: current-context).

    Raises ``ConfigError`` (one line, naming the file) when the file is missing, unreadable or
    not a kubeconfig, or when the context, its cluster or its user cannot be resolved.
    """
    source = Path(path).expanduser() if path is not None else default_path()
    return _Loader(source).config(context)


class _Loader:
    """One kubeconfig document, resolved into a ``Config``."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.doc = self._read()

    def fail(self, why: str) -> ConfigError:
        return ConfigError(f'kubeconfig "{self.source}": {why}')

    def _read(self) -> dict[str, Any]:
        import yaml  # PyYAML only when a file is really read

        try:
            text = self.source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise self.fail(_reason(exc)) from None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise self.fail(f"not valid YAML{where}") from None
        if not isinstance(doc, dict):
            raise self.fail("not a kubeconfig (expected a mapping)")
        return doc

    def named(self, section: str, name: str) -> dict[str, Any]:
        """The ``section`` entry (clusters/contexts/users) called ``name``."""
        singular = section[:-1]
        for entry in self.doc.get(section) or ():
            if isinstance(entry, dict) and entry.get("name") == name:
                body = entry.get(singular)
                if isinstance(body, dict):
                    return body
                raise self.fail(f'{singular} "{name}" has no {singular} mapping')
        raise self.fail(f'{singular} "{name}" not found')

    def config(self, context_name: str | None) -> Config:
        name = context_name or self.doc.get("current-context")
        if not name or not isinstance(name, str):
            raise self.fail("no current-context set and no context given")
        ctx = self.named("contexts", name)
        cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
        if not isinstance(cluster_name, str) or not cluster_name:
            raise self.fail(f'context "{name}" names no cluster')
        user = self.named("users", user_name) if isinstance(user_name, str) and user_name else {}
        namespace = ctx.get("namespace")
        return Config(
            **self._cluster(self.named("clusters", cluster_name), cluster_name),
            **self._user(user, str(user_name)),
            namespace=namespace if isinstance(namespace, str) and namespace else "default",
        )

    def _cluster(self, cluster: dict[str, Any], name: str) -> dict[str, Any]:
        server = cluster.get("server")
        if not isinstance(server, str) or not server:
            raise self.fail(f'cluster "{name}" has no server')
        ca_data = self._data(cluster, "certificate-authority-data")
        try:
            Config.for_server(server)
        except ConfigError as exc:
            raise self.fail(str(exc)) from None
        return {
            "server": server,
            "ca_file": self._file(cluster, "certificate-authority"),
            "ca_data": ca_data.decode("ascii", "replace") if ca_data else None,
            "insecure": cluster.get("insecure-skip-tls-verify") is True,
        }

    def _user(self, user: dict[str, Any], name: str) -> dict[str, Any]:
        for key in _REFUSED_USER_KEYS:
            if key in user:
                raise self.fail(f'user "{name}": "{key}" credentials are not supported')
        token = user.get("token")
        token_file = self._file(user, "tokenFile")
        if not token and token_file:
            token = self._read_token(token_file)
        return {
            "token": token if isinstance(token, str) and token else None,
            "cert_file": self._file(user, "client-certificate"),
            "key_file": self._file(user, "client-key"),
            "cert_data": self._data(user, "client-certificate-data"),
            "key_data": self._data(user, "client-key-data"),
        }

    def _file(self, section: dict[str, Any], key: str) -> str | None:
        value = section.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.fail(f'"{key}" must be a path')
        return str(self.source.parent / Path(value).expanduser())

    def _data(self, section: dict[str, Any], key: str) -> bytes | None:
        value = section.get(key)
        if value is None or value == "":
            return None
        try:
            return base64.b64decode("".join(str(value).split()), validate=True)
        except (binascii.Error, ValueError):
            raise self.fail(f'"{key}" is not valid base64') from None

    def _read_token(self, path: str) -> str:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise self.fail(f"tokenFile: {_reason(exc)}") from None
