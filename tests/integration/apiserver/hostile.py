"""Hostile requests for the in-process apiserver, and the checks every answer must pass.

`Harness.send` fires one request (raw path and query, so nothing is normalised on the way)
and checks the apiserver's promises about it:

* the answer is 2xx or 4xx, never 5xx (the one exception is 504 Timeout for a continue
  token that names a revision the store has not reached: kube-apiserver's "Too large
  resource version", a retry-later answer rather than a failure);
* every 4xx body is a Kubernetes Status: kind Status, status Failure, code equal to the HTTP
  status, a reason and a message;
* a refused request, a read and a dry run leave the store exactly as it was: the same keys,
  values and revisions, and no new storage revision;
* whatever was stored is a whole object (JSON, the right kind, its name and namespace in the
  key), never half of one.

The strategies build the requests: JSON values of every type and nesting, objects shaped like
the real kinds with members of the wrong type, raw bytes, patch documents, names, selectors,
query parameters and headers.
"""

from __future__ import annotations

import base64
import collections
import io
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from hypothesis import strategies as st
from yarl import URL

from servers.apiserver.codec import (
    APPLY_PATCH,
    JSON,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    YAML,
)
from servers.apiserver.resources import RESOURCES, Resource
from servers.apiserver.storage import interface as storage_api
from tests.integration.apiserver.conftest import Client

MEDIA_TYPES = (JSON, YAML, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH,
               "application/vnd.kubernetes.protobuf", "text/plain",
               "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "*/*", "")
REQUEST_TIMEOUT = 20.0
LARGE_BODY = 1024 * 1024
TOO_LARGE_RV = "Timeout: Too large resource version"

Snapshot = tuple[int, list[tuple[str, bytes, int, int]]]


# -- the seeded world -------------------------------------------------------------------------

CONTAINER = {"name": "c", "image": "nginx", "command": ["sleep", "1"],
             "env": [{"name": "A", "value": "1"}],
             "ports": [{"containerPort": 80, "protocol": "TCP"}],
             "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
POD_SPEC = {"containers": [CONTAINER], "restartPolicy": "Always"}
TEMPLATES: dict[str, dict[str, Any]] = {
    "pods": {"spec": POD_SPEC},
    "services": {"spec": {"selector": {"app": "web"},
                          "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}},
    "configmaps": {"data": {"a": "1", "b.txt": "two"}},
    "nodes": {"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]},
              "status": {"capacity": {"cpu": "4", "pods": "110"}}},
    "namespaces": {},
    "replicationcontrollers": {"spec": {"replicas": 2, "selector": {"app": "web"}, "template": {
        "metadata": {"labels": {"app": "web"}}, "spec": POD_SPEC}}},
    "endpoints": {"subsets": [{"addresses": [{"ip": "127.0.0.2"}],
                               "ports": [{"port": 80, "protocol": "TCP"}]}]},
    "events": {"involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
               "reason": "Started", "message": "hello", "type": "Normal"},
    "roles": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
    "clusterroles": {"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                               {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]},
    "rolebindings": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                 "name": "r"},
                     "subjects": [{"kind": "User", "name": "alice",
                                   "apiGroup": "rbac.authorization.k8s.io"}]},
    "clusterrolebindings": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                        "kind": "ClusterRole", "name": "cr"},
                            "subjects": [{"kind": "ServiceAccount", "name": "default",
                                          "namespace": "default"}]},
    "selfsubjectaccessreviews": {"spec": {"resourceAttributes": {
        "namespace": "default", "verb": "get", "resource": "pods"}}},
    "subjectaccessreviews": {"spec": {"user": "alice", "groups": ["g"], "resourceAttributes": {
        "namespace": "default", "verb": "get", "resource": "pods"}}},
    "selfsubjectrulesreviews": {"spec": {"namespace": "default"}},
}
NAMESPACES = ("default", "other")


def resource(plural: str) -> Resource:
    return next(r for r in RESOURCES if r.plural == plural)


def resource_of(path: str) -> Resource:
    """The resource a path names (the last segment that is a plural; pods if none is)."""
    plurals = {r.plural: r for r in RESOURCES}
    return next((plurals[s] for s in reversed(path.split("/")) if s in plurals),
                plurals["pods"])


def can(verb: str) -> list[Resource]:
    return [r for r in RESOURCES if verb in r.verbs]


def body_types(method: str) -> tuple[str, ...]:
    """The media types a method's body may have."""
    return (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH) if method == "PATCH" else (
        JSON, YAML)


def template(res: Resource, name: str, namespace: str | None = None) -> dict[str, Any]:
    """A valid object of `res` (only the metadata for kinds this file has no body for)."""
    meta: dict[str, Any] = {"name": name, "labels": {"app": "web", "tier": "a"},
                            "annotations": {"note": "seed"}}
    if namespace and res.namespaced:
        meta["namespace"] = namespace
    body = json.loads(json.dumps(TEMPLATES.get(res.plural, {})))
    return {"apiVersion": res.api_version, "kind": res.kind, "metadata": meta, **body}


def base(res: Resource, namespace: str | None = "default") -> str:
    root = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
    if res.namespaced and namespace is not None:
        return f"{root}/namespaces/{namespace}/{res.plural}"
    return f"{root}/{res.plural}"


@dataclass(frozen=True)
class Seed:
    plural: str
    name: str
    namespace: str | None = "default"
    bind_to: str = ""
    finalizers: tuple[str, ...] = ()

    @property
    def res(self) -> Resource:
        return resource(self.plural)

    @property
    def path(self) -> str:
        return f"{base(self.res, self.namespace)}/{self.name}"

    def body(self) -> dict[str, Any]:
        obj = template(self.res, self.name, self.namespace)
        if self.finalizers:
            obj["metadata"]["finalizers"] = list(self.finalizers)
        return obj


SEEDS = (
    Seed("namespaces", "default", None),
    Seed("namespaces", "other", None),
    Seed("nodes", "node-1", None),
    Seed("pods", "web"),
    Seed("pods", "bound", bind_to="node-1"),
    Seed("pods", "held", finalizers=("example.com/hold",)),
    Seed("pods", "web", "other"),
    Seed("configmaps", "cm"),
    Seed("services", "svc"),
    Seed("replicationcontrollers", "rc"),
    Seed("endpoints", "svc"),
    Seed("events", "ev"),
    Seed("roles", "r"),
    Seed("rolebindings", "rb"),
    Seed("clusterroles", "cr", None),
    Seed("clusterrolebindings", "crb", None),
)


# -- requests and their checks ----------------------------------------------------------------

@dataclass
class Request:
    method: str
    path: str  # already percent-encoded
    query: str = ""  # already percent-encoded
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        body = self.body if self.body is None or len(self.body) < 300 else (
            self.body[:300] + b"...(%d bytes)" % len(self.body))
        return (f"{self.method} {self.path}{'?' + self.query if self.query else ''} "
                f"headers={self.headers} body={body!r}")

    @property
    def dry_run(self) -> bool:
        values = [v for k, v in urllib.parse.parse_qsl(self.query, keep_blank_values=True)
                  if k == "dryRun"]
        return bool(values) and all(v == "All" for v in values)

    @property
    def streams(self) -> bool:
        """A watch may answer 200 and keep streaming: read only its head."""
        return any(k == "watch" for k, _ in urllib.parse.parse_qsl(self.query))


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str


class Harness:
    """One apiserver app (the `api` fixture) reused across hypothesis examples."""

    def __init__(self, api: Client) -> None:
        self.api = api
        self.storage: storage_api.Storage = api.storage  # type: ignore[attr-defined]
        self.statuses: collections.Counter[int] = collections.Counter()

    def url(self, req: Request) -> URL:
        server = self.api.server
        return URL.build(scheme="http", host=server.host, port=server.port, path=req.path,
                         query_string=req.query, encoded=True)

    async def send(self, req: Request) -> Answer:
        """Send `req` and check every promise about its answer (see the module docstring)."""
        before = await self.snapshot()
        answer = await self._exchange(req)
        self.statuses[answer.status] += 1
        check_answer(req, answer)
        after = await self.snapshot()
        if answer.status >= 400 or req.method in ("GET", "HEAD") or req.dry_run:
            assert after == before, f"{req!r} answered {answer.status} but changed the store"
        else:
            check_stored(after)
        return answer

    async def _exchange(self, req: Request) -> Answer:
        skip = () if "Content-Type" in req.headers else ("Content-Type",)
        data: bytes | io.BytesIO | None = req.body
        if req.body is not None and len(req.body) > LARGE_BODY:
            data = io.BytesIO(req.body)  # aiohttp warns about (and we fail on) large bytes
        async with self.api.session.request(
                req.method, self.url(req), data=data, headers=req.headers,
                skip_auto_headers=skip, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as resp:
            ctype = resp.headers.get("Content-Type", "")
            if req.streams and resp.status == 200:
                return Answer(resp.status, b"", ctype)  # leaving the block closes the stream
            return Answer(resp.status, await resp.read(), ctype)

    async def snapshot(self) -> Snapshot:
        """Every stored object of every resource, with the store's revision."""
        rev = await self.storage.current_revision()
        listed = await self.storage.list("/registry/")
        assert listed.revision == rev
        return rev, [(kv.key, kv.value, kv.create_revision, kv.mod_revision)
                     for kv in listed.items]

    async def healthy(self) -> None:
        async with self.api.session.get(self.api.make_url("/healthz"),
                                        timeout=aiohttp.ClientTimeout(total=10)) as resp:
            assert resp.status == 200, await resp.text()

    async def reseed(self) -> None:
        """Make sure every seed exists again (examples may delete or replace them)."""
        keys = {key for key, *_ in (await self.snapshot())[1]}
        for seed in SEEDS:
            if _seed_key(seed) in keys:
                continue
            await self._create(base(seed.res, seed.namespace), seed.body())
            if seed.bind_to:
                binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": seed.name},
                           "target": {"kind": "Node", "name": seed.bind_to}}
                await self._create(seed.path + "/binding", binding)

    async def _create(self, path: str, body: dict[str, Any]) -> None:
        async with self.api.session.post(self.api.make_url(path), json=body) as resp:
            assert resp.status in (201, 409), (path, await resp.text())


def _seed_key(seed: Seed) -> str:
    prefix = seed.res.key_prefix
    return f"{prefix}{seed.namespace}/{seed.name}" if seed.res.namespaced else prefix + seed.name


def check_answer(req: Request, answer: Answer) -> None:
    text = answer.body[:2000].decode("utf-8", "replace")
    if answer.status == 504 and TOO_LARGE_RV in text:
        return
    assert 200 <= answer.status < 500, f"{req!r} answered {answer.status}: {text}"
    if answer.status >= 300 and req.method != "HEAD":
        assert answer.status >= 400, f"{req!r} answered {answer.status}"
        check_status(req, answer)
    elif req.path == "/metrics":  # Prometheus text, whatever the Accept (as kube-apiserver)
        assert answer.content_type.startswith("text/plain"), (req, answer.content_type)
        assert b"apiserver_request_total" in answer.body, (req, answer.body[:200])
    elif answer.body and not (req.path.startswith("/healthz") and answer.body == b"ok"):
        assert answer.content_type.startswith("application/json"), (req, answer.content_type)
        json.loads(answer.body)


def check_status(req: Request, answer: Answer) -> None:
    try:
        status = json.loads(answer.body)
    except ValueError:
        raise AssertionError(f"{req!r} answered {answer.status} with no Status: "
                             f"{answer.body[:500]!r}") from None
    assert answer.content_type.startswith("application/json"), (req, answer.content_type)
    assert isinstance(status, dict), (req, status)
    assert (status.get("kind"), status.get("apiVersion"), status.get("status")) == (
        "Status", "v1", "Failure"), (req, status)
    assert status.get("code") == answer.status, (req, status)
    assert isinstance(status.get("reason"), str) and status["reason"], (req, status)
    assert isinstance(status.get("message"), str), (req, status)


def check_stored(snapshot: Snapshot) -> None:
    """Every stored value is one whole object whose kind, name and namespace match its key."""
    by_prefix = {r.key_prefix: r for r in RESOURCES}
    for key, value, created, modified in snapshot[1]:
        assert 0 < created <= modified <= snapshot[0], key
        prefix = max((p for p in by_prefix if key.startswith(p)), key=len)
        res = by_prefix[prefix]
        obj = json.loads(value)
        assert (obj.get("apiVersion"), obj.get("kind")) == (res.api_version, res.kind), key
        meta = obj["metadata"]
        assert "resourceVersion" not in meta, key
        assert isinstance(meta.get("uid"), str) and meta["uid"], key
        want = f"{meta.get('namespace')}/{meta['name']}" if res.namespaced else meta["name"]
        assert key == prefix + want, (key, meta)


# -- strategies -------------------------------------------------------------------------------

TEXT = st.characters(exclude_categories=("Cs",))  # any code point UTF-8 can carry
FIELD_NAMES = (
    "metadata", "name", "namespace", "generateName", "labels", "annotations", "uid",
    "resourceVersion", "finalizers", "ownerReferences", "deletionTimestamp", "generation",
    "managedFields", "spec", "status", "containers", "image", "command", "env", "ports",
    "containerPort", "port", "targetPort", "protocol", "nodeName", "replicas", "selector",
    "template", "data", "binaryData", "immutable", "subsets", "addresses", "ip", "taints",
    "key", "effect", "capacity", "clusterIP", "type", "kind", "apiVersion", "items",
    "involvedObject", "target", "preconditions", "gracePeriodSeconds", "propagationPolicy",
    "$patch", "$retainKeys", "$setElementOrder/containers", "$deleteFromPrimitiveList/finalizers",
    "op", "path", "value", "from", "0", "-", "", "a/b", "~1", "x" * 70,
)
HOSTILE_NAMES = (
    "", ".", "..", "...", "a/b", "../..", "/", "//", "web/status", "web/../web", "%2e%2e",
    "%2F", "x" * 253, "x" * 254, "x" * 300, "web", "bound", "default", "other", "node-1",
    " ", "a b", "\x00", "\x7f", "-web", "web-", "Web", "web.", ".web", "a..b", "名前",
    "\u202e", "\ufeff", "\U0001f600", "a?b=c", "a#b", "a;b", "a\\b", "*", "~", "%",
)
keys = st.sampled_from(FIELD_NAMES) | st.text(TEXT, max_size=12)
scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(TEXT, max_size=24)
           | st.sampled_from(HOSTILE_NAMES))
json_values = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=4),
    max_leaves=16)
names = st.sampled_from(HOSTILE_NAMES) | st.text(TEXT, max_size=40) | st.text(
    "abc-./%~ ", max_size=300)


@st.composite
def encoded_names(draw: st.DrawFn) -> str:
    """A name as it appears in a path: fully escaped, or with '/' and '.' left raw."""
    name = draw(names)
    return urllib.parse.quote(name, safe=draw(st.sampled_from(("", "/.", "/.%~", "."))))


def encode_json(value: Any, ascii_only: bool = True) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode()


def like(value: Any) -> st.SearchStrategy[Any]:
    """Values of the same JSON type as `value` (so they pass decoding and reach validation)."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-(2**63), 2**63 - 1) | st.sampled_from((0, -1, 65535, 65536, 2**31))
    if isinstance(value, str):
        return names | st.text(TEXT, max_size=30)
    if isinstance(value, list):
        return st.lists(json_values, max_size=3)
    if isinstance(value, dict):
        return st.dictionaries(keys, names | json_values, max_size=3)
    return json_values


@st.composite
def mutated_objects(draw: st.DrawFn, res: Resource, name: str = "web") -> Any:
    """A valid object of `res` with a few members replaced, removed or added at random."""
    obj: Any = template(res, name, "default")
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(_paths(obj)) or [()]))
        action = draw(st.sampled_from(("replace", "remove", "add")))
        value = draw(like(_at(obj, path)) | json_values)
        obj = _mutate(obj, path, action, value, draw(keys))
    return obj


def _at(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        obj = obj[step]
    return obj


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, member in value.items():
            found += _paths(member, (*prefix, key))
    elif isinstance(value, list):
        for index, member in enumerate(value):
            found += _paths(member, (*prefix, index))
    return found


def _mutate(obj: Any, path: tuple[Any, ...], action: str, value: Any, key: str) -> Any:
    if not path:
        return value if action == "replace" else obj
    parent = obj
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "remove":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last][key] = value
    elif isinstance(parent[last], list):
        parent[last].append(value)
    else:
        parent[last] = value
    return obj


pointers = st.lists(st.sampled_from(FIELD_NAMES) | st.text(TEXT, max_size=6), max_size=5).map(
    lambda tokens: "".join("/" + t for t in tokens)) | st.sampled_from(
    ("", "/", "~", "/~2", "/metadata/labels/~1", "/spec/containers/-", "/spec/containers/01",
     "/spec/containers/99", "/metadata/finalizers/0", "//", "metadata"))
ops = st.fixed_dictionaries(
    {"op": st.sampled_from(("add", "remove", "replace", "move", "copy", "test"))
     | st.text(TEXT, max_size=6) | json_values,
     "path": pointers | json_values},
    optional={"value": json_values, "from": pointers | json_values})
json_patches = st.lists(ops | json_values, max_size=6) | json_values


def continue_token(rev: Any, start: Any) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rev, "start": start})
    return base64.urlsafe_b64encode(raw.encode()).decode()


numbers = st.integers(-(2**70), 2**70).map(str) | st.sampled_from(
    ("0", "-1", "1", "01", "+1", "1e3", "0x10", " 1", "1 ", "9" * 40, "1.5", "\u0661", "NaN"))
QUERY_NAMES = ("limit", "continue", "resourceVersion", "resourceVersionMatch",
               "timeoutSeconds", "watch", "allowWatchBookmarks", "gracePeriodSeconds", "dryRun",
               "fieldValidation", "labelSelector", "fieldSelector", "includeObject",
               "propagationPolicy", "orphanDependents", "sendInitialEvents", "fieldManager",
               "force", "pretty")
query_values = (numbers | st.text(TEXT, max_size=20) | st.sampled_from(
    ("true", "false", "True", "1", "0", "", "All", "all", "None", "Strict", "Warn", "Ignore",
     "Object", "Metadata", "NotOlderThan", "Exact", "Orphan", "Foreground", "Background")))
continue_tokens = (
    st.builds(continue_token, st.integers(-5, 2**70) | json_values, st.text(TEXT, max_size=10)
              | json_values | st.sampled_from(("../x", "/abs", "\ud800", "a\x00b", "")))
    | st.binary(max_size=30).map(lambda b: base64.urlsafe_b64encode(b).decode()))


@st.composite
def queries(draw: st.DrawFn, watch_bounded: bool = True) -> str:
    """A query string of known and unknown parameters with random values (some repeated)."""
    pairs = draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES) | st.text(TEXT, max_size=8),
                                    query_values), max_size=5))
    if draw(st.booleans()):
        pairs.append(("continue", draw(continue_tokens)))
    if watch_bounded and any(k == "watch" for k, _ in pairs):
        pairs.append(("timeoutSeconds", "1"))  # a 200 watch must end by itself too
    query = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)
    if draw(st.booleans()):
        query += draw(st.sampled_from(("&limit=%FF", "&labelSelector=%C3%28", "&%FF=1", "&&",
                                       "&=", "&watch", "&dryRun=All&dryRun=x", "&limit=1&limit=2",
                                       "&labelSelector=a%00", "&fieldSelector=%ZZ")))
    return query


selector_tokens = st.sampled_from(
    ("a", "app", "web", "tier", "=", "==", "!=", " in ", " notin ", "(", ")", ",", "!", ">",
     "<", " ", "x", "1", "-1", "metadata.name", "metadata.namespace", "spec.nodeName",
     "status.phase", "\\", "\\,", "\\=", "é", "a/b", "example.com/", "x" * 64, "x" * 254, "\t",
     "'", '"', "\x00"))
selectors = st.lists(selector_tokens, max_size=10).map("".join) | st.text(TEXT, max_size=40)
headers_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=60)
accepts = st.sampled_from((
    "application/json", "application/json;as=Table;g=meta.k8s.io;v=v1",
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json",
    "application/json;as=Table;g=meta.k8s.io;v=v2", "application/json;as=PartialObjectMetadata",
    "application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io",
    "application/vnd.kubernetes.protobuf", "application/yaml", "*/*", "text/html", ";", ",",
    "application/json;as=Table;;;", "application/json;as", "")) | headers_text
content_types = st.sampled_from(MEDIA_TYPES) | st.sampled_from(MEDIA_TYPES).map(
    lambda t: t + "; charset=latin-1") | headers_text
