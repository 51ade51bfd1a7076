"""km hollow-node: thousands of fake nodes from one process, for scale tests."""

from __future__ import annotations

from hyperkube import Server
from servers.hollow_node import options

LONG = """\
hollow-node registers --nodes N Nodes (PREFIX-0 ... PREFIX-(N-1)) and plays their kubelet
without running anything: each node is Ready, with capacity, addresses and nodeInfo as a
kubelet reports them; its Lease in kube-node-lease is renewed every
--node-lease-renew-interval (all nodes spread evenly over it); pods bound to its nodes go
Running at once with a fake pod IP and Ready conditions, and a graceful delete gets the
kubelet's final delete. Addresses are fake, from 100.64.0.0/10, and never contacted. A
restart adopts the nodes and pods of an earlier run; a clean stop leaves the nodes
registered (they go NotReady) unless --delete-nodes-on-exit. For scale tests of the control
plane and for testing controllers and schedulers against thousands of nodes on one machine.

Example:  km hollow-node --master http://127.0.0.1:8080 --nodes 1000 --node-labels type=hollow"""


def server() -> Server:
    return Server(
        "hollow-node", run="servers.hollow_node.app:run",
        usage="register many fake nodes that heartbeat and run pods, from one process",
        long=LONG, add_flags=options.add_flags)
