"""The real kubectl and coordination.k8s.io/v1 leases against the built km.pyz (HTTPS, RBAC):
``kubectl describe node`` reads the node's Lease from ``kube-node-lease`` (no more "Failed to
get lease"), and ``kubectl get leases`` prints NAME, HOLDER, AGE."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from tests.e2e import test_kubectl as base
from tests.e2e.test_kubectl import Kubectl, rows

certs = base.certs  # fixture: the module's PKI and kubeconfigs from km.pyz certs
api = base.api  # fixture: a km.pyz apiserver for this module (HTTPS, RBAC)
kubectl = base.kubectl  # fixture: kubectl with a fresh --cache-dir per test


def _micro_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_describe_node_shows_its_lease(kubectl: Kubectl) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "lease-n1"}}
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "lease-n1", "namespace": "kube-node-lease"},
             "spec": {"holderIdentity": "lease-n1", "leaseDurationSeconds": 40,
                      "renewTime": _micro_now()}}
    kubectl("create", "-f", "-", input=json.dumps(node))
    kubectl("create", "-f", "-", input=json.dumps(lease))
    try:
        out = kubectl("describe", "node", "lease-n1").stdout
        assert "Failed to get lease" not in out
        assert "HolderIdentity:  lease-n1" in out
        renew = next(line for line in out.splitlines() if "RenewTime:" in line)
        assert "<unset>" not in renew, renew
        table = rows(kubectl("get", "leases", "-n", "kube-node-lease").stdout)
        assert table[0] == ["NAME", "HOLDER", "AGE"]
        assert table[1][:2] == ["lease-n1", "lease-n1"]
    finally:
        kubectl("delete", "lease", "lease-n1", "-n", "kube-node-lease", "--ignore-not-found")
        kubectl("delete", "node", "lease-n1", "--ignore-not-found")


def test_a_node_without_a_lease_says_not_found_as_kube_does(kubectl: Kubectl) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "lease-n2"}}
    kubectl("create", "-f", "-", input=json.dumps(node))
    try:
        out = kubectl("describe", "node", "lease-n2").stdout
        assert 'Failed to get lease: leases.coordination.k8s.io "lease-n2" not found' in out
        assert "could not find the requested resource" not in out
    finally:
        kubectl("delete", "node", "lease-n2", "--ignore-not-found")
