"""Request attributes from method, path and query, as kube's RequestInfoFactory makes them."""

from __future__ import annotations

import pytest

from servers.apiserver.authz import requestinfo

CASES = [
    ("GET", "/api/v1/namespaces/default/pods", {}, ("list", "", "pods", "", "default", "")),
    ("GET", "/api/v1/namespaces/default/pods", {"watch": "true"},
     ("watch", "", "pods", "", "default", "")),
    ("GET", "/api/v1/pods", {}, ("list", "", "pods", "", "", "")),
    ("GET", "/api/v1/namespaces/default/pods/web", {}, ("get", "", "pods", "", "default", "web")),
    ("POST", "/api/v1/namespaces/default/pods", {}, ("create", "", "pods", "", "default", "")),
    ("POST", "/api/v1/namespaces/default/pods/web/binding", {},
     ("create", "", "pods", "binding", "default", "web")),
    ("PUT", "/api/v1/namespaces/default/pods/web/status", {},
     ("update", "", "pods", "status", "default", "web")),
    ("PATCH", "/api/v1/namespaces/d/replicationcontrollers/rc/scale", {},
     ("patch", "", "replicationcontrollers", "scale", "d", "rc")),
    ("GET", "/api/v1/namespaces/d/pods/web/log", {}, ("get", "", "pods", "log", "d", "web")),
    ("DELETE", "/api/v1/namespaces/default/pods/web", {},
     ("delete", "", "pods", "", "default", "web")),
    ("DELETE", "/api/v1/namespaces/default/pods", {},
     ("deletecollection", "", "pods", "", "default", "")),
    ("GET", "/api/v1/namespaces/kube-system", {},
     ("get", "", "namespaces", "", "kube-system", "kube-system")),
    ("PUT", "/api/v1/namespaces/x/finalize", {},
     ("update", "", "namespaces", "finalize", "x", "x")),
    ("GET", "/api/v1/namespaces", {}, ("list", "", "namespaces", "", "", "")),
    ("GET", "/api/v1/nodes/n1", {}, ("get", "", "nodes", "", "", "n1")),
    ("GET", "/apis/rbac.authorization.k8s.io/v1/namespaces/d/roles", {},
     ("list", "rbac.authorization.k8s.io", "roles", "", "d", "")),
    ("GET", "/api/v1/namespaces/d/pods", {"fieldSelector": "metadata.name=web"},
     ("list", "", "pods", "", "d", "web")),
    ("GET", "/api/v1/watch/namespaces/d/pods", {}, ("watch", "", "pods", "", "d", "")),
]


@pytest.mark.parametrize(("method", "path", "query", "want"), CASES,
                         ids=[f"{m} {p}" for m, p, *_ in CASES])
def test_resource_requests(method: str, path: str, query: dict[str, str],
                           want: tuple[str, ...]) -> None:
    a = requestinfo.attributes(method, path, query, "alice", ("g",))
    assert a.resource_request
    assert (a.verb, a.api_group, a.resource, a.subresource, a.namespace, a.name) == want
    assert (a.user, a.groups) == ("alice", ("g",))


@pytest.mark.parametrize("path", ["/version", "/api", "/api/v1", "/apis",
                                  "/apis/rbac.authorization.k8s.io", "/apis/apps/v1",
                                  "/openapi/v3/api/v1", "/healthz"])
def test_discovery_and_other_paths_are_non_resource_requests(path: str) -> None:
    a = requestinfo.attributes("GET", path, {}, "alice", ())
    assert not a.resource_request
    assert (a.verb, a.path) == ("get", path)


def test_lists_and_watches_carry_their_field_selector() -> None:
    query = {"fieldSelector": "spec.nodeName=n1", "watch": "true"}
    attrs = requestinfo.attributes("GET", "/api/v1/pods", query, "u", ())
    assert (attrs.verb, attrs.field_selector) == ("watch", "spec.nodeName=n1")
    legacy = requestinfo.attributes("GET", "/api/v1/watch/pods",
                                    {"fieldSelector": "spec.nodeName=n1"}, "u", ())
    assert (legacy.verb, legacy.field_selector) == ("watch", "")  # kube ignores it there
    one = requestinfo.attributes("GET", "/api/v1/namespaces/d/pods/p", query, "u", ())
    assert one.field_selector == ""
    terms = "a=1,spec.nodeName==n1,spec.nodeName!=n2"
    assert requestinfo.field_equals(terms, "spec.nodeName") == ["n1"]


def test_any_other_method_is_its_own_verb() -> None:
    attrs = requestinfo.attributes("OPTIONS", "/api/v1/namespaces/d/pods", {}, "u", ())
    assert (attrs.verb, attrs.resource) == ("options", "pods")
    assert requestinfo.attributes("PROPFIND", "/version", {}, "u", ()).verb == "propfind"
