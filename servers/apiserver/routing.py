"""What an API path asks for: resource, namespace, name and subresource (pure, no HTTP).

    /api/v1/pods                                   list pods in every namespace
    /api/v1/namespaces/default/pods/web            one pod
    /api/v1/namespaces/default/pods/web/status     its status subresource
    /api/v1/namespaces/default                     the namespace itself
    /apis/GROUP/VERSION/...                        the same shapes under a named group

Trailing slashes are accepted. A path that names nothing we serve is NotFound, with the
message kube-apiserver gives ("the server could not find the requested resource").
"""

from __future__ import annotations

from dataclasses import dataclass

from servers.apimachinery.errors import NotFound, StatusError
from servers.apiserver import resources
from servers.apiserver.resources import Resource

NAMESPACE_SUBRESOURCES = ("status", "finalize")


NOT_FOUND_MESSAGE = "the server could not find the requested resource"


class PathNotFound(NotFound):
    """A path that names no resource: kube-apiserver's generic 404, with empty details."""

    def __init__(self) -> None:
        StatusError.__init__(self, NOT_FOUND_MESSAGE, {})


@dataclass(frozen=True)
class Target:
    """One request's target: `name` is "" for a collection, `subresource` "" for none."""

    resource: Resource
    namespace: str | None
    name: str = ""
    subresource: str = ""

    @property
    def is_collection(self) -> bool:
        return not self.name


def parse(group: str, version: str, rest: str, table: tuple[Resource, ...]) -> Target:
    """Resolve the part of a path after /api/v1/ or /apis/GROUP/VERSION/ to a Target."""
    parts = [p for p in rest.split("/") if p]
    if not parts:
        raise PathNotFound
    namespace: str | None = None
    if parts[0] == "namespaces" and len(parts) >= 3 and parts[2] not in NAMESPACE_SUBRESOURCES:
        namespace, parts = parts[1], parts[2:]
    if len(parts) > 3:
        raise PathNotFound
    resource = resources.by_plural(group, version, parts[0], table)
    if resource is None or (namespace is not None and not resource.namespaced):
        raise PathNotFound
    name = parts[1] if len(parts) > 1 else ""
    sub = parts[2] if len(parts) > 2 else ""
    if sub and resource.subresource(sub) is None:
        raise PathNotFound
    if resource.namespaced and name and namespace is None:
        raise PathNotFound  # a namespaced object is only ever addressed inside its namespace
    return Target(resource, namespace, name, sub)
