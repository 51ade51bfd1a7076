"""kubeconfig files → Config → ssl.SSLContext, and every way a kubeconfig can be wrong."""

from __future__ import annotations

import base64
import ssl
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from servers.client.errors import ConfigError
from servers.client.kubeconfig import ENV_KUBECONFIG, Config, default_path, load_kubeconfig
from tests.unit.client.pki import Pki, make_pki

TOKEN = "s3cr3t-token-value"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def kubeconfig(*, server: str = "https://127.0.0.1:6443", cluster: dict[str, Any] | None = None,
               user: dict[str, Any] | None = None, namespace: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"cluster": "c1", "user": "u1"}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "main",
        "clusters": [{"name": "c1", "cluster": {"server": server, **(cluster or {})}},
                     {"name": "c2", "cluster": {"server": "http://127.0.0.2:8080"}}],
        "users": [{"name": "u1", "user": user if user is not None else {"token": TOKEN}},
                  {"name": "u2", "user": {}}],
        "contexts": [{"name": "main", "context": context},
                     {"name": "other", "context": {"cluster": "c2", "user": "u2"}}],
    }


def write(path: Path, doc: Any) -> Path:
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_current_context_gives_server_token_and_namespace(tmp_path: Path) -> None:
    path = write(tmp_path / "config", kubeconfig(namespace="team"))
    config = load_kubeconfig(path)
    assert config.server == "https://127.0.0.1:6443"
    assert config.token == TOKEN
    assert config.namespace == "team"
    assert config.is_https and not config.insecure


def test_named_context_overrides_current_one(tmp_path: Path) -> None:
    config = load_kubeconfig(write(tmp_path / "config", kubeconfig()), context="other")
    assert config == Config("http://127.0.0.2:8080")
    assert config.namespace == "default"
    assert config.ssl_context() is None


def test_paths_are_relative_to_the_kubeconfig_and_token_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    user = {"tokenFile": "token", "client-certificate": "certs/c.crt", "client-key": "/abs/c.key"}
    path = write(tmp_path / "config",
                 kubeconfig(cluster={"certificate-authority": "ca.crt"}, user=user))
    config = load_kubeconfig(path)
    assert config.token == TOKEN
    assert config.ca_file == str(tmp_path / "ca.crt")
    assert config.cert_file == str(tmp_path / "certs" / "c.crt")
    assert config.key_file == "/abs/c.key"


def test_data_fields_are_base64_decoded(tmp_path: Path, pki: Pki) -> None:
    cluster = {"certificate-authority-data": b64(pki.ca)}
    user = {"client-certificate-data": b64(pki.client_cert),
            "client-key-data": b64(pki.client_key)}
    config = load_kubeconfig(write(tmp_path / "config", kubeconfig(cluster=cluster, user=user)))
    assert config.ca_data == pki.ca.read_text()
    assert config.cert_data == pki.client_cert.read_bytes()
    assert config.key_data == pki.client_key.read_bytes()
    assert config.token is None


def test_kubeconfig_env_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "config", kubeconfig())
    monkeypatch.setenv(ENV_KUBECONFIG, f"{tmp_path / 'missing'}:{path}")
    assert default_path() == path
    assert load_kubeconfig().token == TOKEN


def test_secrets_stay_out_of_repr(pki: Pki) -> None:
    config = Config("https://h:1", token=TOKEN, key_data=pki.client_key.read_bytes())
    assert TOKEN not in repr(config)
    assert "PRIVATE" not in repr(config)


def test_for_server_strips_the_trailing_slash() -> None:
    assert Config.for_server("http://127.0.0.1:8080/").server == "http://127.0.0.1:8080"


# -- TLS --------------------------------------------------------------------------------------


def test_ssl_context_verifies_with_the_ca(pki: Pki) -> None:
    context = Config("https://127.0.0.1:1", ca_data=pki.ca.read_text()).ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_insecure_skips_verification() -> None:
    context = Config("https://127.0.0.1:1", insecure=True).ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def test_client_cert_data_goes_through_private_files_that_are_removed(
        pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    config = Config("https://127.0.0.1:1", ca_file=str(pki.ca),
                    cert_data=pki.client_cert.read_bytes(), key_data=pki.client_key.read_bytes())
    assert config.ssl_context() is not None
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize(("config", "message"), [
    (Config("https://h:1", ca_data="x", insecure=True), "cannot be used together"),
    (Config("https://h:1", cert_file="/c.crt"), "needs both a certificate and a key"),
    (Config("https://h:1", ca_file="/nonexistent/ca.crt"), "TLS setup failed"),
    (Config("https://h:1", ca_data="not a pem"), "TLS setup failed"),
])
def test_unusable_tls_settings_are_config_errors(config: Config, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.ssl_context()


def test_a_key_that_does_not_match_is_a_config_error(pki: Pki) -> None:
    config = Config("https://h:1", cert_file=str(pki.client_cert), key_file=str(pki.server_key))
    with pytest.raises(ConfigError, match="TLS setup failed"):
        config.ssl_context()


# -- errors -----------------------------------------------------------------------------------


def broken(doc: dict[str, Any], *path: str, value: Any) -> dict[str, Any]:
    """``doc`` with the member at ``path`` (list entries by index) replaced."""
    target: Any = doc
    for step in path[:-1]:
        target = target[int(step)] if isinstance(target, list) else target[step]
    target[path[-1]] = value
    return doc


ERRORS = [
    pytest.param("::: not: [yaml", 'not valid YAML (line 1)', id="malformed-yaml"),
    pytest.param("- a\n- b\n", "expected a mapping", id="not-a-mapping"),
    pytest.param(broken(kubeconfig(), "current-context", value=""), "no current-context",
                 id="no-context"),
    pytest.param(broken(kubeconfig(), "current-context", value="nope"),
                 'context "nope" not found', id="unknown-context"),
    pytest.param(broken(kubeconfig(), "contexts", "0", "context", "cluster", value="zz"),
                 'cluster "zz" not found', id="unknown-cluster"),
    pytest.param(broken(kubeconfig(), "contexts", "0", "context", "user", value="zz"),
                 'user "zz" not found', id="unknown-user"),
    pytest.param(broken(kubeconfig(), "clusters", "0", "cluster", value={}),
                 'cluster "c1" has no server', id="no-server"),
    pytest.param(kubeconfig(server="ftp://x"), "is not an http:// or https:// URL",
                 id="bad-scheme"),
    pytest.param(kubeconfig(server="https://h:port"), "is not an http:// or https:// URL",
                 id="bad-port"),
    pytest.param(kubeconfig(server="https://me:pw@h"), "credentials in the server URL",
                 id="userinfo"),
    pytest.param(kubeconfig(cluster={"certificate-authority-data": "%%%"}),
                 '"certificate-authority-data" is not valid base64', id="bad-base64"),
    pytest.param(kubeconfig(user={"exec": {"command": "aws"}}),
                 '"exec" credentials are not supported', id="exec-user"),
    pytest.param(kubeconfig(user={"tokenFile": "missing-token"}),
                 "tokenFile: No such file or directory", id="missing-token-file"),
    pytest.param(kubeconfig(cluster={"certificate-authority": 7}),
                 '"certificate-authority" must be a path', id="path-not-a-string"),
]


@pytest.mark.parametrize(("doc", "message"), ERRORS)
def test_bad_kubeconfig_is_one_line_config_error(tmp_path: Path, doc: Any, message: str) -> None:
    path = write(tmp_path / "config", doc)
    with pytest.raises(ConfigError) as caught:
        load_kubeconfig(path)
    text = str(caught.value)
    assert message in text
    assert text.startswith(f'kubeconfig "{path}": ')
    assert "\n" not in text and TOKEN not in text
    error = caught.value  # no chained traceback to show
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_missing_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r'kubeconfig ".*nope": No such file or directory'):
        load_kubeconfig(tmp_path / "nope")
