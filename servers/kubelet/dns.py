"""A pod's /etc/resolv.conf and /etc/hosts, as kube's kubelet writes them.

resolv.conf (kubernetes ``pkg/kubelet/network/dns/dns.go``): ``ClusterFirst`` (the default)
searches ``<ns>.svc.<domain> svc.<domain> <domain>`` with ``options ndots:5`` and asks
``--cluster-dns``; without cluster DNS the pod gets ``Default``'s file and the kubelet says
MissingClusterDNS — except that km, whose pods sit in network namespaces that cannot reach the
host's resolver, writes one that fails at once (loopback inside the pod) rather than one whose
lookups hang until they time out. ``Default`` is ``--resolv-conf``; ``None`` is
``dnsConfig`` alone. hosts (``pkg/kubelet/kubelet_pods.go`` ``managedHostsFileContent``):
localhost lines, the pod's IP and hostname, then hostAliases; a hostNetwork pod's is the host's
/etc/hosts, then hostAliases (``nodeHostsFileContent``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj

__all__ = ["hosts_file", "resolv_conf"]

FAIL_FAST = "nameserver 127.0.0.1\n"


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def resolv_conf(pod: Obj, *, cluster_dns: list[str], domain: str,
                host_file: str) -> tuple[str, bool]:
    """(file content, whether cluster DNS was wanted but is missing)."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst"
                                               and not spec.get("hostNetwork")):
        policy = "ClusterFirst"
    elif policy == "ClusterFirst":
        policy = "Default"  # hostNetwork pods ask the host's resolver
    config = spec.get("dnsConfig") or {}
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    missing = False
    if policy == "ClusterFirst":
        namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        if cluster_dns:
            servers = list(cluster_dns)
            searches = [f"{namespace}.svc.{domain}", f"svc.{domain}", domain]
            options = ["ndots:5"]
        else:
            missing = True
    elif policy == "Default":
        for line in _read(host_file).splitlines():
            words = line.split()
            if words and words[0] == "nameserver":
                servers += words[1:2]
            elif words and words[0] in ("search", "domain"):
                searches += words[1:]
            elif words and words[0] == "options":
                options += words[1:]
    servers += config.get("nameservers") or []
    searches += config.get("searches") or []
    options += [f"{o['name']}:{o['value']}" if o.get("value") else o.get("name", "")
                for o in config.get("options") or ()]
    lines = [f"search {' '.join(searches)}"] if searches else []
    lines += [f"nameserver {s}" for s in servers[:3]]
    lines += [f"options {' '.join(options)}"] if options else []
    text = "\n".join(lines) + "\n" if servers else FAIL_FAST + "\n".join(lines[:1])
    return text.rstrip("\n") + "\n", missing


def host_network_hosts_file(pod: Obj, host_file: str = "/etc/hosts") -> str:
    """A hostNetwork pod's /etc/hosts: the host's, then its hostAliases (kube's
    ``pkg/kubelet/kubelet_pods.go`` ``nodeHostsFileContent``)."""
    text = "# Kubernetes-managed hosts file (host network).\n" + _read(host_file)
    aliases = (pod.get("spec") or {}).get("hostAliases") or []
    if aliases:
        text = text.rstrip("\n") + "\n\n# Entries added by HostAliases.\n" + "".join(
            f"{a.get('ip')}\t{' '.join(a.get('hostnames') or ())}\n" for a in aliases)
    return text


def hosts_file(pod: Obj, pod_ip: str, hostname: str) -> str:
    lines = ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
             "fe00::0\tip6-mcastprefix", "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters"]
    if pod_ip:
        lines.append(f"{pod_ip}\t{hostname}")
    aliases = (pod.get("spec") or {}).get("hostAliases") or []
    if aliases:
        lines.append("\n# Entries added by HostAliases.")
        lines += [f"{a.get('ip')}\t{' '.join(a.get('hostnames') or ())}" for a in aliases]
    return "\n".join(lines) + "\n"
