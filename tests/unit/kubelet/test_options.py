"""km kubelet's flags: kube's defaults and spellings, one-line refusals."""

from __future__ import annotations

import argparse

import pytest

from servers.component.options import OptionsError
from servers.kubelet import options


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    options.add_flags(parser)
    return parser.parse_args(list(argv))


def test_defaults_are_kubes() -> None:
    opts = parse()
    assert (opts.port, opts.healthz_port, opts.max_pods) == (10250, 10248, 110)
    assert (opts.container_log_max_size, opts.container_log_max_files) == (10 << 20, 5)
    assert (opts.root_dir, opts.isolation, opts.cluster_domain) == (
        "/var/lib/km/kubelet", "auto", "cluster.local")


def test_labels_taints_and_sizes() -> None:
    opts = parse("--node-labels", "a=1,b=", "--register-with-taints",
                 "dedicated=infra:NoSchedule,gpu:NoExecute", "--container-log-max-size", "512Ki")
    assert opts.node_labels == {"a": "1", "b": ""}
    assert opts.register_with_taints == [
        {"key": "dedicated", "value": "infra", "effect": "NoSchedule"},
        {"key": "gpu", "effect": "NoExecute"}]
    assert opts.container_log_max_size == 512 << 10
    with pytest.raises(argparse.ArgumentTypeError, match="invalid size"):
        options.parse_size("10 MB")
    with pytest.raises(argparse.ArgumentTypeError, match="invalid taint"):
        options.parse_taints("a=b:Sometimes")


def test_validate() -> None:
    with pytest.raises(OptionsError, match="go together"):
        options.validate(parse("--tls-cert-file", "x"))
    with pytest.raises(OptionsError, match="at least 2"):
        options.validate(parse("--container-log-max-files", "1"))


def test_streaming_connection_idle_timeout_is_a_go_duration_4h_by_default(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert parse().streaming_connection_idle_timeout == 4 * 3600.0
    assert parse("--streaming-connection-idle-timeout", "1m30s"
                 ).streaming_connection_idle_timeout == 90.0
    assert parse("--streaming-connection-idle-timeout", "0").streaming_connection_idle_timeout \
        == 0.0
    with pytest.raises(SystemExit):
        parse("--streaming-connection-idle-timeout", "5")
    assert 'missing unit in duration "5"' in capsys.readouterr().err
