"""km controller-manager: kube-controller-manager's control loops (the light face, stdlib only)."""

from __future__ import annotations

from hyperkube import Server

LONG = """\
controller-manager runs the control loops that move the cluster toward what its objects
ask for, as kube-controller-manager does: deployments roll out replica sets (RollingUpdate,
Recreate, revisions, pause, rollback); replica sets and replication controllers get their
pods; stateful sets get ordered, stably named pods; daemon sets one pod per eligible node;
jobs run pods to completion (backoffLimit, deadlines, Indexed) and cron jobs start jobs on
schedule; services get Endpoints and EndpointSlices; disruption budgets get their status,
so evictions and kubectl drain respect them; nodes whose kubelet goes silent turn Unknown,
are tainted, and their pods are evicted after their tolerations; nodes get pod CIDRs
(--allocate-node-cidrs); namespaces being deleted are emptied and every namespace gets a
default ServiceAccount; the garbage collector deletes or orphans objects whose owners are
gone (propagationPolicy Background, Foreground, Orphan). --controllers picks them by kube's
names. With --leader-elect (the default) only the holder of the Lease
kube-system/kube-controller-manager acts. /healthz and /metrics are served on
--secure-port.

Then:  km controller-manager --kubeconfig controller-manager.kubeconfig
       kubectl create deployment web --image=nginx --replicas=3
       kubectl rollout status deployment/web"""


def server() -> Server:
    from servers.controller_manager import options

    return Server(
        "controller-manager", run="servers.controller_manager.app:run",
        usage="run the control loops: workloads, endpoints, nodes, namespaces, garbage "
        "collection (kube-controller-manager)", long=LONG,
        aliases=("kube-controller-manager",), add_flags=options.add_flags)
