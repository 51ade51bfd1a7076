"""Discovery documents: ``/version``, ``/api``, ``/apis``, ``/apis/<group>``,
``/api/v1`` (and ``/apis/<g>/<v>``), plus aggregated discovery (apidiscovery.k8s.io/v2).

Shapes are the ones kubectl 1.32 and the Python client 37 decode (API notes, section 1). The
version is part of the contract: the kubectl on these machines is a dispatcher that runs the
kubectl matching the server's *minor* version, so ``minor`` must be exactly "32", and
``gitVersion`` must be valid semver or ``kubectl version`` fails.

Everything is derived from ``servers.apiserver.resources.RESOURCES``: adding a group there adds
it here. Pure functions; no HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import platform
import sys
from typing import Any

from servers.apiserver.resources import (
    RESOURCES,
    Resource,
    Subresource,
    group_versions,
    in_group_version,
)

Obj = dict[str, Any]

VERSION_MAJOR = "1"
VERSION_MINOR = "32"
GIT_VERSION = "v1.32.4-km"
#: The Content-Type that makes kubectl read a response as aggregated discovery.
AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}


def platform_name() -> str:
    """``linux/amd64`` style, as Go reports GOOS/GOARCH."""
    machine = platform.machine().lower()
    return f"{sys.platform}/{_ARCH.get(machine, machine)}"


def version_info(*, git_commit: str = "", build_date: str = "1970-01-01T00:00:00Z") -> Obj:
    """``GET /version``: Kubernetes 1.32 with km's build in ``gitVersion``."""
    return {
        "major": VERSION_MAJOR,
        "minor": VERSION_MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": git_commit,
        "gitTreeState": "clean",
        "buildDate": build_date,
        "goVersion": f"python{platform.python_version()}",
        "compiler": "cpython",
        "platform": platform_name(),
    }


def api_versions(server_address: str, resources: tuple[Resource, ...] = RESOURCES) -> Obj:
    """``GET /api``: the core group's versions; ``server_address`` is ``host:port``."""
    return {
        "kind": "APIVersions",
        "versions": [v for g, v in group_versions(resources) if g == ""],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_doc(group: str, versions: list[str]) -> Obj:
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": listed, "preferredVersion": listed[0]}


def _named_groups(resources: tuple[Resource, ...]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for group, version in group_versions(resources):
        if group:
            groups.setdefault(group, []).append(version)
    return groups


def api_group_list(resources: tuple[Resource, ...] = RESOURCES) -> Obj:
    """``GET /apis``: every named group served (core is not listed, as in Kubernetes)."""
    groups = [_group_doc(g, vs) for g, vs in _named_groups(resources).items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str, resources: tuple[Resource, ...] = RESOURCES) -> Obj | None:
    """``GET /apis/<group>``: one group, or None when it is not served."""
    versions = _named_groups(resources).get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


def storage_version_hash(resource: Resource) -> str:
    """kube-apiserver's hash of ``group/version/kind``: 8 bytes of SHA-256, base64."""
    digest = hashlib.sha256(f"{resource.group}/{resource.version}/{resource.kind}".encode())
    return base64.b64encode(digest.digest()[:8]).decode()


def _resource_entry(r: Resource) -> Obj:
    entry: Obj = {
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": sorted(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    if "list" in r.verbs:
        entry["storageVersionHash"] = storage_version_hash(r)
    return entry


def _subresource_entry(r: Resource, sub: Subresource) -> Obj:
    entry: Obj = {
        "name": f"{r.plural}/{sub.name}",
        "singularName": "",
        "namespaced": r.namespaced,
        "kind": sub.kind.kind,
        "verbs": sorted(sub.verbs),
    }
    if (sub.kind.group, sub.kind.version) != (r.group, r.version):
        entry["group"] = sub.kind.group
        entry["version"] = sub.kind.version
    return entry


def api_resource_list(
    group: str, version: str, resources: tuple[Resource, ...] = RESOURCES
) -> Obj | None:
    """``GET /api/v1`` or ``/apis/<g>/<v>``: resources then their subresources, or None."""
    entries: list[Obj] = []
    for r in in_group_version(group, version, resources):
        entries.append(_resource_entry(r))
        entries.extend(_subresource_entry(r, sub) for sub in r.subresources)
    if not entries:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }


def _aggregated_resource(r: Resource) -> Obj:
    entry: Obj = {
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": sorted(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    if r.subresources:
        entry["subresources"] = [
            {"subresource": s.name,
             "responseKind": {"group": s.kind.group, "version": s.kind.version,
                              "kind": s.kind.kind},
             "verbs": sorted(s.verbs)}
            for s in r.subresources
        ]
    return entry


def aggregated_discovery(legacy: bool, resources: tuple[Resource, ...] = RESOURCES) -> Obj:
    """The APIGroupDiscoveryList for ``/api`` (``legacy=True``: core only) or ``/apis``.

    Serve it only when the request's Accept asks for it, with ``AGGREGATED_CONTENT_TYPE``.
    """
    groups: dict[str, list[Obj]] = {}
    for group, version in group_versions(resources):
        if (group == "") != legacy:
            continue
        items = [_aggregated_resource(r) for r in in_group_version(group, version, resources)]
        groups.setdefault(group, []).append(
            {"version": version, "resources": items, "freshness": "Current"}
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": [{"metadata": {"name": g} if g else {}, "versions": vs}
                  for g, vs in groups.items()],
    }
