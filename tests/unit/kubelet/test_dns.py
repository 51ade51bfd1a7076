"""A pod's resolv.conf and hosts file, as kube's kubelet writes them."""

from __future__ import annotations

from pathlib import Path

from servers.kubelet.dns import FAIL_FAST, host_network_hosts_file, hosts_file, resolv_conf

POD = {"metadata": {"name": "web", "namespace": "shop"}, "spec": {}}


def test_cluster_first(tmp_path: Path) -> None:
    text, missing = resolv_conf(POD, cluster_dns=["10.96.0.10"], domain="cluster.local",
                                host_file=str(tmp_path / "none"))
    assert text == ("search shop.svc.cluster.local svc.cluster.local cluster.local\n"
                    "nameserver 10.96.0.10\noptions ndots:5\n")
    assert not missing


def test_no_cluster_dns_fails_fast_and_says_so(tmp_path: Path) -> None:
    text, missing = resolv_conf(POD, cluster_dns=[], domain="cluster.local",
                                host_file=str(tmp_path / "none"))
    assert text == FAIL_FAST and missing


def test_default_policy_reads_the_host_file_and_dns_config_adds(tmp_path: Path) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text("search example.org\nnameserver 192.0.2.53\noptions edns0\n")
    pod = {**POD, "spec": {"dnsPolicy": "Default", "dnsConfig": {
        "nameservers": ["192.0.2.54"], "options": [{"name": "ndots", "value": "2"}]}}}
    text, _ = resolv_conf(pod, cluster_dns=["10.96.0.10"], domain="cluster.local",
                          host_file=str(host))
    assert text == ("search example.org\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"
                    "options edns0 ndots:2\n")


def test_hosts_file() -> None:
    pod = {**POD, "spec": {"hostAliases": [{"ip": "192.0.2.1", "hostnames": ["a", "b"]}]}}
    text = hosts_file(pod, "10.244.1.5", "web")
    assert text.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert "10.244.1.5\tweb\n" in text
    assert text.endswith("# Entries added by HostAliases.\n192.0.2.1\ta b\n")


def test_host_network_hosts_file_is_the_hosts_then_aliases(tmp_path: Path) -> None:
    host = tmp_path / "hosts"
    host.write_text("127.0.0.1\tlocalhost\n10.1.2.3\tnode-a\n")
    pod = {"spec": {"hostNetwork": True,
                    "hostAliases": [{"ip": "127.0.0.9", "hostnames": ["db", "db.local"]}]}}
    assert host_network_hosts_file(pod, str(host)) == (
        "# Kubernetes-managed hosts file (host network).\n127.0.0.1\tlocalhost\n"
        "10.1.2.3\tnode-a\n\n# Entries added by HostAliases.\n127.0.0.9\tdb db.local\n")
    assert host_network_hosts_file({}, str(host)).endswith("10.1.2.3\tnode-a\n")
