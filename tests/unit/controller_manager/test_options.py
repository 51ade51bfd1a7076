"""``km controller-manager``'s flags: kube's names and defaults, --controllers, checks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from servers.component.options import OptionsError
from servers.controller_manager import app, options
from tests.unit.controller_manager.fakes import options as parse


def test_defaults_are_kube_controller_managers() -> None:
    opts = parse()
    assert opts.secure_port == 10257
    assert opts.leader_elect_resource_name == "kube-controller-manager"
    assert opts.leader_elect_resource_namespace == "kube-system"
    assert (opts.concurrent_rc_syncs, opts.concurrent_endpoint_syncs,
            opts.concurrent_gc_syncs) == (5, 5, 20)
    assert (opts.node_monitor_grace_period, opts.node_monitor_period) == (50.0, 5.0)
    assert opts.allocate_node_cidrs is False and opts.terminated_pod_gc_threshold == 12500
    assert options.enabled_controllers(opts.controllers) == ON_BY_DEFAULT


ON_BY_DEFAULT = [n for n in options.IMPLEMENTED if n not in options.DISABLED_BY_DEFAULT]


@pytest.mark.parametrize(("flag", "expected"), [
    ("*", ON_BY_DEFAULT),
    ("replicationcontroller", ["replicationcontroller-controller"]),
    ("*,-endpoint", [n for n in ON_BY_DEFAULT if n != "endpoints-controller"]),
    ("endpoints-controller,-endpoints-controller", []),
    ("ttl,bootstrapsigner", []),  # kube's, not km's yet: accepted, nothing started
    ("*,tokencleaner", list(options.IMPLEMENTED)),  # tokencleaner: off unless named
])
def test_controllers_flag_selects_by_kube_names_and_aliases(flag: str,
                                                             expected: list[str]) -> None:
    assert options.enabled_controllers(parse("--controllers", flag).controllers) == expected


def test_every_implemented_controller_has_code() -> None:
    assert set(options.IMPLEMENTED) <= set(app.CONSTRUCTORS)
    assert set(options.IMPLEMENTED) <= set(options.KNOWN)


def test_an_unknown_controller_is_one_line_and_exit_1() -> None:
    done = subprocess.run([sys.executable, "-m", "servers.km", "controller-manager",
                           "--master", "http://127.0.0.1:9", "--controllers", "*,-nosuch"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr == ('km controller-manager: error: "nosuch" is not in the list of '
                           "known controllers\n")


@pytest.mark.parametrize(("args", "message"), [
    (["--allocate-node-cidrs"], "--cluster-cidr is required"),
    (["--allocate-node-cidrs", "--cluster-cidr", "banana"], "invalid CIDR"),
    (["--allocate-node-cidrs=true", "--cluster-cidr", "10.244.0.0/16",
      "--node-cidr-mask-size", "8"], "does not fit"),
    (["--node-monitor-grace-period", "0"], "must be greater than zero"),
])
def test_flags_that_cannot_work_together(args: list[str], message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        options.validate(parse(*args))


def test_node_cidr_mask_defaults_to_24_for_ipv4() -> None:
    opts = parse("--allocate-node-cidrs", "--cluster-cidr", "10.244.0.0/16")
    options.validate(opts)
    assert opts.node_cidr_mask_size == 24
