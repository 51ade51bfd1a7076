"""The shared flags: Go durations and booleans, kube's leader-election and serving defaults."""

from __future__ import annotations

import argparse

import pytest

from servers.component import options
from servers.component.options import (
    OptionsError,
    boolean,
    duration,
    format_duration,
    parse_duration,
    validate_leader_election,
)


@pytest.mark.parametrize(("text", "seconds"), [
    ("0", 0.0), ("-0", 0.0), ("+0", 0.0), ("15s", 15.0), ("5m", 300.0), ("168h", 604800.0),
    ("1m30s", 90.0), ("500ms", 0.5), ("1.5s", 1.5), ("1.5h", 5400.0), ("2h45m", 9900.0),
    (".5s", 0.5), ("1.s", 1.0), ("100us", 0.0001), ("100\u00b5s", 0.0001),
    ("100\u03bcs", 0.0001), ("10ns", 1e-8), ("-1.5h", -5400.0), ("0s", 0.0),
    ("1h1m1s1ms", 3661.001),
])
def test_parse_duration_reads_go_syntax(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "message"), [
    ("", 'time: invalid duration ""'),
    ("-", 'time: invalid duration "-"'),
    ("s", 'time: invalid duration "s"'),
    (".s", 'time: invalid duration ".s"'),
    ("15", 'time: missing unit in duration "15"'),
    ("1m30", 'time: missing unit in duration "1m30"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("15 s", 'time: unknown unit " s" in duration "15 s"'),
    ("3000000h", 'time: invalid duration "3000000h"'),
])
def test_parse_duration_refuses_with_gos_message(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


def test_duration_type_refuses_negative_and_bad_text_as_argparse_errors() -> None:
    assert duration("2s") == 2.0
    with pytest.raises(argparse.ArgumentTypeError, match="must not be negative"):
        duration("-2s")
    with pytest.raises(argparse.ArgumentTypeError, match="missing unit"):
        duration("2")


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (15, "15s"), (90, "1m30s"), (0.5, "500ms"), (1.5, "1.5s"), (120, "2m0s"),
    (604800, "168h0m0s"), (0.0015, "1.5ms"), (0.000001, "1\u00b5s"), (-2, "-2s"),
])
def test_format_duration_is_gos_string(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["1", "t", "T", "true", "TRUE", "True"])
def test_boolean_true_spellings(text: str) -> None:
    assert boolean(text) is True


@pytest.mark.parametrize("text", ["0", "f", "F", "false", "FALSE", "False"])
def test_boolean_false_spellings(text: str) -> None:
    assert boolean(text) is False


def test_boolean_refuses_other_words() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match='invalid boolean value "yes"'):
        boolean("yes")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="km scheduler", allow_abbrev=False)
    options.add_client_flags(parser)
    options.add_leader_election_flags(parser, resource_name="kube-scheduler")
    options.add_serving_flags(parser, default_port=10259)
    return parser


def test_defaults_are_kubes() -> None:
    opts = make_parser().parse_args([])
    assert opts.kubeconfig is None and opts.master is None
    assert opts.leader_elect is True
    assert (opts.leader_elect_lease_duration, opts.leader_elect_renew_deadline,
            opts.leader_elect_retry_period) == (15.0, 10.0, 2.0)
    assert opts.leader_elect_resource_lock == "leases"
    assert opts.leader_elect_resource_name == "kube-scheduler"
    assert opts.leader_elect_resource_namespace == "kube-system"
    assert opts.leader_elect_identity == ""
    assert opts.secure_port == 10259
    assert opts.bind_address == "0.0.0.0"
    assert opts.tls_cert_file is None and opts.tls_private_key_file is None
    assert opts.client_ca_file is None
    assert opts.authorization_always_allow_paths == ["/healthz", "/readyz", "/livez"]
    validate_leader_election(opts)


def test_flags_parse_in_kube_spelling() -> None:
    opts = make_parser().parse_args([
        "--kubeconfig", "a.kubeconfig", "--master", "http://127.0.0.1:8080",
        "--leader-elect=false", "--leader-elect-lease-duration", "1m30s",
        "--leader-elect-renew-deadline=1m", "--leader-elect-retry-period", "500ms",
        "--leader-elect-resource-name", "sched", "--leader-elect-resource-namespace", "ns",
        "--leader-elect-identity", "me", "--secure-port", "0", "--bind-address", "127.0.0.1",
        "--authorization-always-allow-paths", "/healthz,/metrics",
    ])
    assert opts.kubeconfig == "a.kubeconfig" and opts.master == "http://127.0.0.1:8080"
    assert opts.leader_elect is False
    assert (opts.leader_elect_lease_duration, opts.leader_elect_renew_deadline,
            opts.leader_elect_retry_period) == (90.0, 60.0, 0.5)
    assert (opts.leader_elect_resource_name, opts.leader_elect_resource_namespace,
            opts.leader_elect_identity) == ("sched", "ns", "me")
    assert opts.secure_port == 0 and opts.bind_address == "127.0.0.1"
    assert opts.authorization_always_allow_paths == ["/healthz", "/metrics"]


def test_bare_leader_elect_means_true() -> None:
    assert make_parser().parse_args(["--leader-elect"]).leader_elect is True


@pytest.mark.parametrize(("args", "text"), [
    (["--leader-elect-lease-duration", "15"], 'time: missing unit in duration "15"'),
    (["--leader-elect=maybe"], 'invalid boolean value "maybe"'),
    (["--secure-port", "70000"], "port 70000 must be between 0 and 65535"),
    (["--secure-port", "x"], 'invalid port "x"'),
    (["--authorization-always-allow-paths", "metrics"], 'path "metrics" must begin with "/"'),
    (["--leader-elect-resource-lock", "endpoints"], "invalid choice"),
])
def test_bad_flag_is_one_argparse_error(args: list[str], text: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        make_parser().parse_args(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert text in err[-1]
    assert err[-1].startswith("km scheduler: error: argument ")


@pytest.mark.parametrize(("args", "text"), [
    (["--leader-elect-lease-duration", "10s"],
     "--leader-elect-lease-duration must be greater than --leader-elect-renew-deadline"),
    (["--leader-elect-retry-period", "9s"],
     "--leader-elect-renew-deadline must be greater than --leader-elect-retry-period*1.2"),
    (["--leader-elect-retry-period", "0"], "--leader-elect-retry-period must be greater than zero"),
    (["--leader-elect-resource-name", ""], "must not be empty"),
])
def test_leader_election_periods_must_fit_together(args: list[str], text: str) -> None:
    opts = make_parser().parse_args(args)
    with pytest.raises(OptionsError) as caught:
        validate_leader_election(opts)
    assert text in str(caught.value)


def test_leader_election_periods_are_not_checked_when_election_is_off() -> None:
    opts = make_parser().parse_args(["--leader-elect=false", "--leader-elect-retry-period", "0"])
    validate_leader_election(opts)
