"""km scheduler: kube-scheduler's cycle over km's apiserver (the light face, stdlib only)."""

from __future__ import annotations

from hyperkube import Server

LONG = """\
scheduler assigns pods that have no node to a node that fits them, as kube-scheduler does:
it watches unscheduled pods (spec.schedulerName naming one of its profiles; by default
default-scheduler), nodes and assigned pods, filters and scores the nodes, and binds each pod
through pods/NAME/binding. A pod that fits nowhere gets a FailedScheduling event and the
PodScheduled=False condition saying why, and is retried when the cluster changes; a pod of
higher priority may preempt lower-priority pods. With --leader-elect (the default) only the
holder of the Lease kube-system/kube-scheduler schedules. /healthz and /metrics are served
on --secure-port.

Then:  km scheduler --kubeconfig scheduler.kubeconfig
       kubectl describe pod NAME      # Events: Scheduled / FailedScheduling"""


def server() -> Server:
    from servers.scheduler import options

    return Server(
        "scheduler", run="servers.scheduler.app:run",
        usage="assign pods to nodes (kube-scheduler)", long=LONG,
        aliases=("kube-scheduler",), add_flags=options.add_flags)
