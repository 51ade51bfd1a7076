"""From an HTTP request to authorization Attributes, as kube's ``RequestInfoFactory`` does.

    GET    /api/v1/namespaces/default/pods           list   pods            ns default
    GET    ...pods?watch=true                         watch  pods
    GET    ...pods/web                                get    pods     web
    POST   ...pods/web/binding                        create pods/binding   web
    PUT    /api/v1/namespaces/default/pods/web/status update pods/status    web
    DELETE ...pods                                    deletecollection
    GET    /api/v1/namespaces/default                 get    namespaces      ns default
    GET    /version, /apis, /api/v1                   non-resource: verb is the method

Worked out from the path alone, before routing: a request for something the server does not
serve is still authorized (and denied) first, as in Kubernetes. Pure; no HTTP types.
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go
"""

from __future__ import annotations

from collections.abc import Mapping

from servers.apiserver.authz import Attributes

_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
          "DELETE": "delete"}
_SPECIAL_VERBS = ("proxy", "watch")
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


def attributes(method: str, path: str, query: Mapping[str, str], user: str,
               groups: tuple[str, ...]) -> Attributes:
    """The Attributes of ``method path?query`` made by ``user`` (in ``groups``)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    elif len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    else:
        rest = []
    if not rest:  # not under /api or /apis, or discovery of a group version
        return Attributes(user, groups, method.lower(), resource_request=False, path=path)
    verb = _VERBS.get(method, method.lower())  # kube: any other method is its own verb
    via_path = rest[0] in _SPECIAL_VERBS and len(rest) > 1
    if via_path:
        verb, rest = rest[0], rest[1:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if query.get("watch", "").lower() in ("true", "1") else "list"
        name = _name_from_field_selector(query.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    # kube (AuthorizeWithSelectors) ignores selectors of the deprecated /watch/ paths.
    selector = query.get("fieldSelector", "") if verb in ("list", "watch") and not via_path \
        else ""
    return Attributes(user, groups, verb, api_group=group, api_version=version,
                      resource=resource, subresource=subresource, namespace=namespace,
                      name=name, path=path, field_selector=selector)


def field_equals(selector: str, key: str) -> list[str]:
    """The values ``key`` must equal in a field selector (``key=v`` or ``key==v`` terms)."""
    found = []
    for term in (t.strip() for t in selector.split(",")):
        left, op, value = term.partition("==") if "==" in term else term.partition("=")
        if op and not left.endswith("!") and left.strip() == key:
            found.append(value.strip())
    return found


def _name_from_field_selector(selector: str) -> str:
    """A list or watch of ``metadata.name=x`` is about object ``x`` (resourceNames apply)."""
    terms = [t.strip() for t in selector.split(",") if t.strip()]
    for term in terms:
        key, op, value = term.partition("==") if "==" in term else term.partition("=")
        if op and key.strip() == "metadata.name":
            value = value.strip()
            return value if value and value not in (".", "..") and "/" not in value else ""
    return ""
