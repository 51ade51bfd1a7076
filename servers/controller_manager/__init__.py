"""km controller-manager: kube-controller-manager's control loops (the light face, stdlib only)."""

from __future__ import annotations

from hyperkube import Server

LONG = """\
controller-manager runs the control loops that move the cluster toward what its objects
ask for, as kube-controller-manager does: replication controllers get their pods
(created, adopted, released, deleted least valuable first); services with a selector get
Endpoints of their ready and not-ready pods; nodes whose kubelet goes silent turn Unknown,
are tainted, and their pods are evicted after their tolerations; nodes get pod CIDRs
(--allocate-node-cidrs); pods of deleted nodes and too many terminated pods are removed;
and the garbage collector deletes or orphans objects whose owners are gone
(ownerReferences, propagationPolicy Background, Foreground, Orphan). --controllers picks
them by kube's names. With --leader-elect (the default) only the holder of the Lease
kube-system/kube-controller-manager acts. /healthz and /metrics are served on
--secure-port.

Then:  km controller-manager --kubeconfig controller-manager.kubeconfig
       kubectl scale rc web --replicas 5"""


def server() -> Server:
    from servers.controller_manager import options

    return Server(
        "controller-manager", run="servers.controller_manager.app:run",
        usage="run the control loops: replication, endpoints, nodes, garbage collection "
        "(kube-controller-manager)", long=LONG,
        aliases=("kube-controller-manager",), add_flags=options.add_flags)
