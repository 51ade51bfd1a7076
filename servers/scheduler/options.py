"""The flags of ``km scheduler``, in kube-scheduler's spelling (standard library only)."""

from __future__ import annotations

import argparse

from servers.component.options import (
    add_client_flags,
    add_leader_election_flags,
    add_serving_flags,
)

DEFAULT_SCHEDULER_NAME = "default-scheduler"
# kube-scheduler's secure port (pkg/scheduler/apis/config: KubeSchedulerPort).
DEFAULT_SECURE_PORT = 10259
LEASE_NAME = "kube-scheduler"


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_client_flags(parser)
    group = parser.add_argument_group("scheduling")
    group.add_argument(
        "--config", metavar="FILE",
        help="a KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) file: profiles by "
        "schedulerName, plugins and their weights, backoff, percentageOfNodesToScore")
    group.add_argument(
        "--scheduler-name", default=DEFAULT_SCHEDULER_NAME, metavar="NAME",
        help="without --config, schedule the pods whose spec.schedulerName is NAME; pods "
        "naming another scheduler are left alone (default: %(default)s)")
    add_leader_election_flags(parser, resource_name=LEASE_NAME)
    add_serving_flags(parser, default_port=DEFAULT_SECURE_PORT)
