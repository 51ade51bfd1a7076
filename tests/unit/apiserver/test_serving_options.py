"""The serving and authentication flags: which ports are served, and flags that need others."""

from __future__ import annotations

import argparse

import pytest

from servers.apiserver import options

TLS = ["--tls-cert-file", "s.crt", "--tls-private-key-file", "s.key"]


def parse(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    options.add_flags(parser)
    return parser.parse_args(list(args))


@pytest.mark.parametrize(("args", "port"), [
    ((), options.DEFAULT_PORT),
    (("--port", "0"), 0),
    (("--secure-port", "6443", *TLS), None),
    (("--secure-port", "6443", "--port", "8081", *TLS), 8081),
])
def test_plain_port_is_on_by_default_and_off_with_secure_port_unless_asked(
        args: tuple[str, ...], port: int | None) -> None:
    opts = parse(*args)
    options.validate(opts)
    assert options.plain_port(opts) == port


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_plain_port_binds_to_loopback(address: str) -> None:
    options.validate(parse("--bind-address", address))


@pytest.mark.parametrize("args", [
    ("--bind-address", "0.0.0.0"),
    ("--bind-address", "10.1.2.3", "--secure-port", "6443", "--port", "8080", *TLS),
    ("--bind-address", "example.com"),
])
def test_plain_port_refuses_other_addresses(args: tuple[str, ...]) -> None:
    with pytest.raises(options.OptionsError) as info:
        options.validate(parse(*args))
    assert str(info.value) == options.NOT_LOOPBACK.format(address=args[1])


def test_secure_port_alone_may_bind_anywhere() -> None:
    options.validate(parse("--bind-address", "0.0.0.0", "--secure-port", "6443", *TLS))


@pytest.mark.parametrize(("args", "flag", "other"), [
    (("--secure-port", "6443"), "--secure-port", "--tls-cert-file"),
    (("--secure-port", "6443", "--tls-cert-file", "c"), "--secure-port",
     "--tls-private-key-file"),
    (("--client-ca-file", "ca.crt"), "--client-ca-file", "--secure-port"),
    (("--token-auth-file", "t.csv"), "--token-auth-file", "--secure-port"),
])
def test_flags_that_need_others_say_which(args: tuple[str, ...], flag: str, other: str) -> None:
    with pytest.raises(options.OptionsError) as info:
        options.validate(parse(*args))
    assert str(info.value) == options.NEEDS.format(flag=flag, other=other)


@pytest.mark.parametrize(("args", "value"), [
    ((), False), (("--anonymous-auth",), True), (("--anonymous-auth=true",), True),
    (("--anonymous-auth=false",), False), (("--anonymous-auth", "0"), False),
])
def test_anonymous_auth_is_off_unless_asked(args: tuple[str, ...], value: bool) -> None:
    assert parse(*args).anonymous_auth is value


@pytest.mark.parametrize(("given", "mode"), [
    ((), "AlwaysAllow"), (("--authorization-mode", "RBAC"), "RBAC"),
    (("--authorization-mode", "Node,RBAC"), "Node,RBAC"),
    (("--authorization-mode", "Node, RBAC"), "Node,RBAC"),
])
def test_authorization_mode_is_a_list_and_allows_everything_by_default(
        given: tuple[str, ...], mode: str) -> None:
    assert parse(*given).authorization_mode == mode


@pytest.mark.parametrize("mode", ["Webhook", "RBAC,RBAC", "Node,", "rbac"])
def test_unknown_or_repeated_authorization_modes_are_usage_errors(
        mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse("--authorization-mode", mode)
    assert exited.value.code == 2
    assert "argument --authorization-mode" in capsys.readouterr().err
