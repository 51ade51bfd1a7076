"""ResourceRef: Kubernetes' URL paths for core and grouped, namespaced and cluster resources."""

from __future__ import annotations

import pytest

from servers.client.resources import NAMESPACES, NODES, PODS, SERVICES, ResourceRef

DEPLOYMENTS = ResourceRef("apps", "v1", "deployments", True, "Deployment")


@pytest.mark.parametrize(("resource", "args", "path"), [
    (PODS, (), "/api/v1/pods"),
    (PODS, ("default",), "/api/v1/namespaces/default/pods"),
    (PODS, ("default", "web"), "/api/v1/namespaces/default/pods/web"),
    (PODS, ("default", "web", "status"), "/api/v1/namespaces/default/pods/web/status"),
    (PODS, ("default", "web", "binding"), "/api/v1/namespaces/default/pods/web/binding"),
    (PODS, ("default", "web", "log"), "/api/v1/namespaces/default/pods/web/log"),
    (NODES, (), "/api/v1/nodes"),
    (NODES, (None, "n1"), "/api/v1/nodes/n1"),
    (NODES, (None, "n1", "status"), "/api/v1/nodes/n1/status"),
    (NAMESPACES, (None, "kube-system"), "/api/v1/namespaces/kube-system"),
    (SERVICES, ("ns",), "/api/v1/namespaces/ns/services"),
    (DEPLOYMENTS, (), "/apis/apps/v1/deployments"),
    (DEPLOYMENTS, ("ns", "d", "scale"), "/apis/apps/v1/namespaces/ns/deployments/d/scale"),
    (PODS, ("a b", "x/y"), "/api/v1/namespaces/a%20b/pods/x%2Fy"),
])
def test_paths(resource: ResourceRef, args: tuple[str | None, ...], path: str) -> None:
    assert resource.path(*args) == path


@pytest.mark.parametrize(("resource", "args", "message"), [
    (PODS, (None, "web"), "namespaced: a namespace is required"),
    (NODES, ("default",), "cluster-scoped: no namespace allowed"),
    (PODS, ("", "web"), "empty namespace"),
    (PODS, ("default", ""), "empty name"),
    (PODS, ("default", None, "status"), "needs an object name"),
])
def test_misaddressed_requests_are_refused(resource: ResourceRef, args: tuple[str | None, ...],
                                           message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resource.path(*args)


def test_api_version_and_name() -> None:
    assert (PODS.api_version, str(PODS)) == ("v1", "pods")
    assert (DEPLOYMENTS.api_version, str(DEPLOYMENTS)) == ("apps/v1", "deployments.apps")
