"""``km dns``'s flags: registered under dns and kube-dns, CoreDNS's defaults, bad values."""

from __future__ import annotations

import argparse

import pytest

from servers.km import make_hyperkube


def parser() -> argparse.ArgumentParser:
    found = make_hyperkube().find_server("kube-dns")
    assert found is not None and found.name == "dns"
    return found.make_parser("km dns")


def test_defaults_are_coredns_and_kube_dns_ones() -> None:
    opts = parser().parse_args([])
    assert (opts.port, opts.metrics_port, opts.cluster_domain, opts.upstream,
            opts.bind_address) == (53, 9153, "cluster.local", None, "0.0.0.0")


def test_cluster_domain_is_normalised() -> None:
    assert parser().parse_args(["--cluster-domain", "Example.Test."]).cluster_domain == \
        "example.test"


@pytest.mark.parametrize(("args", "says"), [
    (["--port", "65536"], "port 65536 must be between 0 and 65535"),
    (["--port", "x"], 'invalid port "x"'),
    (["--metrics-port", "-1"], "port -1 must be between 0 and 65535"),
    (["--cluster-domain", "."], "invalid"), (["--cluster-domain", "a..b"], "invalid")])
def test_bad_values_are_usage_errors(args: list[str], says: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parser().parse_args(args)
    assert info.value.code == 2
    assert says in capsys.readouterr().err
