"""hollow-node's flags: defaults, bad values as one line (exit 2), checks argparse cannot make."""

from __future__ import annotations

import argparse
import io

import pytest

from hyperkube import HyperKube
from servers.component.options import OptionsError
from servers.hollow_node import options, server
from servers.hollow_node.app import fleet_from_options


def parse(*args: str) -> argparse.Namespace:
    return server().make_parser("km hollow-node").parse_args(["--master", "http://x", *args])


def run_km(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    hk = HyperKube("km", out=io.StringIO(), err=err)
    hk.add_server(server())
    return hk.run(["km", "hollow-node", *args]), err.getvalue()


def test_defaults_are_the_kubelets() -> None:
    opts = parse("--nodes", "3")
    assert (opts.nodes, opts.node_prefix, opts.max_pods) == (3, "hollow", 110)
    assert (opts.cpu, opts.memory) == ("32", "256Gi")
    assert opts.node_lease_renew_interval == 10.0
    assert opts.node_lease_duration_seconds == 40
    assert opts.node_status_report_frequency == 300.0
    assert opts.node_labels == {}
    assert not opts.delete_nodes_on_exit


def test_node_labels_and_durations() -> None:
    opts = parse("--nodes", "1", "--node-labels", "type=hollow,zone=a,empty=",
                 "--node-lease-renew-interval", "1500ms")
    assert opts.node_labels == {"type": "hollow", "zone": "a", "empty": ""}
    assert opts.node_lease_renew_interval == 1.5


@pytest.mark.parametrize(("args", "text"), [
    (["--nodes", "0"], "argument --nodes: must be at least 1, not 0"),
    (["--nodes", "many"], 'argument --nodes: invalid number "many"'),
    (["--nodes", "1", "--memory", "lots"], "quantities must match the regular expression"),
    (["--nodes", "1", "--node-labels", "novalue"], 'invalid label "novalue"'),
    (["--nodes", "1", "--node-lease-renew-interval", "10"], "missing unit in duration"),
    ([], "the following arguments are required: --nodes"),
])
def test_bad_flags_are_one_line_and_exit_2(args: list[str], text: str) -> None:
    code, err = run_km("--master", "http://127.0.0.1:1", *args)
    assert code == 2
    assert text in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("args", "text"), [
    (["--node-lease-renew-interval", "0"], "--node-lease-renew-interval must be greater"),
    (["--node-lease-renew-interval", "1m"], "must be shorter than --node-lease-duration"),
    (["--node-status-report-frequency", "0s"], "--node-status-report-frequency must be"),
    (["--node-prefix", "Hollow"], '--node-prefix "Hollow" does not make valid node names'),
])
def test_flags_that_cannot_work_together_raise_options_error(args: list[str],
                                                              text: str) -> None:
    with pytest.raises(OptionsError, match=text):
        options.validate(parse("--nodes", "2", *args))


def test_too_many_nodes_for_the_fake_range_is_one_line_exit_1() -> None:
    code, err = run_km("--master", "http://127.0.0.1:1", "--nodes", "20000")
    assert code == 1
    assert err.strip().count("\n") == 0
    assert err.startswith("km hollow-node: error: 20000 nodes with --max-pods 110 need more")


def test_no_connection_flags_is_one_line_exit_1() -> None:
    err = io.StringIO()
    hk = HyperKube("km", out=io.StringIO(), err=err)
    hk.add_server(server())
    assert hk.run(["km", "hollow-node", "--nodes", "1"]) == 1
    assert err.getvalue() == "km hollow-node: error: no --kubeconfig or --master given\n"


def test_fleet_from_options_carries_the_shape() -> None:
    fleet = fleet_from_options(parse("--nodes", "4", "--cpu", "8", "--max-pods", "300",
                                     "--node-labels", "a=b"))
    assert fleet.names() == ["hollow-0", "hollow-1", "hollow-2", "hollow-3"]
    assert fleet.shape.resources()["cpu"] == "8"
    assert fleet.shape.labels == {"a": "b"}
    assert fleet.block == 512
