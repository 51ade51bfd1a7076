"""Hostile input, property-based: the apiserver answers 2xx or 4xx, never 5xx; every 4xx is a
Status; a refused write (and every read and dry run) leaves the store byte for byte as it was,
at the same revision; the server keeps serving.

One app per test (the `api` fixture, reused across the hypothesis examples of that test: the
health check about function-scoped fixtures is silenced on purpose), seeded with objects of
every core kind — a bound pod, a pod held by a finalizer, a replication controller for
/scale — that each example may change and the next one puts back. `hostile.py` holds the
strategies and the checks (`Harness.send`).
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from servers.apiserver.resources import RESOURCES
from tests.integration.apiserver import hostile as h
from tests.integration.apiserver.conftest import Client
from tests.integration.apiserver.hostile import Harness, Request

# KM_HOSTILE_EXAMPLES=5000 KM_HOSTILE_RANDOM=1 hunts longer and differently (not for CI).
EXAMPLES = int(os.environ.get("KM_HOSTILE_EXAMPLES", "200"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, database=None,
    derandomize=not os.environ.get("KM_HOSTILE_RANDOM"),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large])


@pytest.fixture
async def world(api: Client) -> AsyncIterator[Harness]:
    harness = Harness(api)
    await harness.reseed()
    yield harness
    answers = harness.statuses
    if sum(answers.values()) >= EXAMPLES:  # a property test: did it reach both outcomes?
        assert any(s < 300 for s in answers) and any(s >= 400 for s in answers), answers


async def send_all(world: Harness, requests: list[Request]) -> None:
    """One batch: put the seeds back, send every request (each checked), then /healthz."""
    await world.reseed()
    for req in requests:
        await world.send(req)
    await world.healthy()


SEED_PATHS = [seed.path for seed in h.SEEDS]
COLLECTIONS = sorted({h.base(r, ns) for r in RESOURCES for ns in ("default", None)})
LISTS = sorted({h.base(r, ns) for r in h.can("list") for ns in ("default", None)})
SUBRESOURCE_PATHS = ["/api/v1/namespaces/default/pods/web/status",
                     "/api/v1/namespaces/default/pods/bound/status",
                     "/api/v1/namespaces/default/replicationcontrollers/rc/scale",
                     "/api/v1/namespaces/default/replicationcontrollers/rc/status",
                     "/api/v1/namespaces/other/status", "/api/v1/nodes/node-1/status",
                     "/api/v1/namespaces/default/services/svc/status"]
WRITES = ([("POST", path) for path in COLLECTIONS]
          + [("POST", "/api/v1/namespaces/default/pods/web/binding")]
          + [(m, path) for m in ("PUT", "PATCH", "DELETE")
             for path in SEED_PATHS + SUBRESOURCE_PATHS])
PATCHES = SEED_PATHS + SUBRESOURCE_PATHS
writes = st.sampled_from(WRITES)


# -- bodies -----------------------------------------------------------------------------------

@st.composite
def json_bodies(draw: st.DrawFn) -> Request:
    """Any JSON value as the body of any write, with a media type its method takes or any."""
    method, path = draw(writes)
    ctype = draw(st.sampled_from(h.body_types(method)) | h.content_types)
    body = h.encode_json(draw(h.json_values), draw(st.booleans()))
    query = draw(st.sampled_from(("", "dryRun=All", "fieldValidation=Strict",
                                  "fieldValidation=Ignore")))
    return Request(method, path, query, body, {"Content-Type": ctype})


@SETTINGS
@given(request=json_bodies())
# Random values rarely make a valid body; this one does, so the run surely reaches both
# outcomes (the ``world`` fixture checks that) whatever examples the generator picks.
@example(request=Request("PATCH", SEED_PATHS[3], "", b"{}", {"Content-Type": h.MERGE_PATCH}))
async def test_any_json_value_as_a_body(world: Harness, request: Request) -> None:
    await send_all(world, [request])


@st.composite
def object_writes(draw: st.DrawFn) -> Request:
    seed = draw(st.sampled_from(h.SEEDS))
    method = draw(st.sampled_from(("POST", "PUT", "PATCH")))
    if method == "POST":
        res = draw(st.sampled_from(h.can("create")))
        obj = draw(h.mutated_objects(res, draw(st.sampled_from(("new", "web", "x")))))
        return Request("POST", h.base(res), draw(h.queries()), h.encode_json(obj),
                       {"Content-Type": draw(st.sampled_from((h.JSON, h.YAML)))})
    obj = draw(h.mutated_objects(seed.res, seed.name))
    ctype = h.JSON if method == "PUT" else draw(st.sampled_from(
        (h.MERGE_PATCH, h.STRATEGIC_PATCH, h.APPLY_PATCH)))
    query = draw(h.queries()) + ("&fieldManager=fuzz" if ctype == h.APPLY_PATCH else "")
    return Request(method, seed.path + draw(st.sampled_from(("", "", "/status"))), query,
                   h.encode_json(obj), {"Content-Type": ctype})


@SETTINGS
@given(requests=st.lists(object_writes(), min_size=1, max_size=3))
async def test_objects_with_members_of_the_wrong_type(world: Harness,
                                                     requests: list[Request]) -> None:
    await send_all(world, requests)


RAW_BODIES = (
    b"", b" ", b"\x00", b"\xff\xfe\xfd", b'{"metadata": {"name": "\xff"}}', b"\xef\xbb\xbf{}",
    b'{"metadata": {"name": "a"}', b'{"metadata": {"name": "a"}}}', b"[", b"]", b"{}" * 3,
    b"null", b"true", b"1e999999", b"-0", b"123456789012345678901234567890", b'"\\ud800"',
    b'{"metadata": {"name": "\\ud800x"}}', b'{"a": NaN}', b'{"a": Infinity}', b"{'a': 1}",
    b'{"metadata": {"name": "a", "name": "b"}}', b"\xfe\xff\x00{\x00}", b"\x00{\x00}\x00",
    b"--- !!python/object/apply:os.system ['true']", b"a: !!binary aGVsbG8=", b"a: 2001-12-14",
    b"? [a, b]\n: c", b"{1: 2, null: 3, true: 4}", b"metadata: {name: a}\n---\nkind: Pod",
    b"%YAML 1.1\n---\na: b", b"a: &x 1\nb: *y", b"\t\x0b\x0c", b"a:\n\t- b",
)


@SETTINGS
@given(target=writes,
       body=st.sampled_from(RAW_BODIES) | st.binary(max_size=64) | st.text(h.TEXT, max_size=64)
       .map(lambda t: t.encode("utf-8")), data=st.data())
async def test_raw_bytes_as_a_body(world: Harness, target: tuple[str, str], body: bytes,
                                   data: st.DataObject) -> None:
    method, path = target
    ctype = data.draw(st.sampled_from(h.body_types(method)) | st.sampled_from(h.MEDIA_TYPES))
    await send_all(world, [Request(method, path, "", body, {"Content-Type": ctype})])


# -- patches ----------------------------------------------------------------------------------

@SETTINGS
@given(path=st.sampled_from(PATCHES), patch=h.json_patches, merge=h.json_values,
       kind=st.sampled_from((h.JSON_PATCH, h.MERGE_PATCH, h.STRATEGIC_PATCH)),
       dry=st.booleans())
async def test_patch_documents_of_any_shape(world: Harness, path: str, patch: Any, merge: Any,
                                            kind: str, dry: bool) -> None:
    doc = patch if kind == h.JSON_PATCH else merge
    req = Request("PATCH", path, "dryRun=All" if dry else "", h.encode_json(doc),
                  {"Content-Type": kind})
    await send_all(world, [req])


@SETTINGS
@given(seed=st.sampled_from(h.SEEDS), data=st.data())
async def test_merge_patches_shaped_like_the_object(world: Harness, seed: h.Seed,
                                                    data: st.DataObject) -> None:
    patch = data.draw(h.mutated_objects(seed.res, seed.name))
    kind = data.draw(st.sampled_from((h.MERGE_PATCH, h.STRATEGIC_PATCH)))
    await send_all(world, [Request("PATCH", seed.path, "", h.encode_json(patch),
                                   {"Content-Type": kind})])


# -- names, selectors, query strings, headers -------------------------------------------------

@st.composite
def named_requests(draw: st.DrawFn) -> Request:
    res = draw(st.sampled_from(RESOURCES))
    name = draw(h.encoded_names())
    namespace = draw(st.sampled_from(("default", "other")) | h.encoded_names())
    path = f"{h.base(res, namespace)}/{name}" + draw(st.sampled_from(
        ("", "", "/status", "/scale", "/binding", "/log", "/x", "/")))
    method = draw(st.sampled_from(("GET", "PUT", "PATCH", "DELETE", "POST", "HEAD", "OPTIONS")))
    obj = h.template(res, draw(h.names), "default")
    ctype = h.MERGE_PATCH if method == "PATCH" else h.JSON
    body = h.encode_json(obj) if method in ("PUT", "PATCH", "POST") else None
    return Request(method, path, "", body, {"Content-Type": ctype})


@st.composite
def named_creates(draw: st.DrawFn) -> Request:
    res = draw(st.sampled_from(RESOURCES))
    obj = h.template(res, "x", "default")
    obj["metadata"].pop("name")
    obj["metadata"][draw(st.sampled_from(("name", "generateName")))] = draw(h.names)
    return Request("POST", h.base(res), "", h.encode_json(obj), {"Content-Type": h.JSON})


@SETTINGS
@given(requests=st.lists(named_requests() | named_creates(), min_size=1, max_size=3))
async def test_names_of_any_text(world: Harness, requests: list[Request]) -> None:
    await send_all(world, requests)


@st.composite
def selector_queries(draw: st.DrawFn) -> str:
    pairs = [(draw(st.sampled_from(("labelSelector", "fieldSelector"))), draw(h.selectors))
             for _ in range(draw(st.integers(1, 2)))]
    return urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)


@SETTINGS
@given(collection=st.sampled_from(LISTS), query=selector_queries(),
       verb=st.sampled_from(("list", "watch", "deletecollection", "dry-deletecollection")))
async def test_label_and_field_selectors_of_any_text(world: Harness, collection: str,
                                                     query: str, verb: str) -> None:
    method, extra = {"list": ("GET", ""), "watch": ("GET", "&watch=true&timeoutSeconds=1"),
                     "deletecollection": ("DELETE", ""),
                     "dry-deletecollection": ("DELETE", "&dryRun=All")}[verb]
    await send_all(world, [Request(method, collection, query + extra)])


@SETTINGS
@given(method=st.sampled_from(("GET", "POST", "PUT", "PATCH", "DELETE")),
       path=st.sampled_from(LISTS + SEED_PATHS + SUBRESOURCE_PATHS),
       query=h.queries())
async def test_query_parameters_of_any_value(world: Harness, method: str, path: str,
                                             query: str) -> None:
    res = h.resource_of(path)
    body = None
    if method in ("POST", "PUT", "PATCH"):
        name = path.rsplit("/", 1)[-1] if method != "POST" else "q"
        body = h.encode_json(h.template(res, name, "default"))
    ctype = h.MERGE_PATCH if method == "PATCH" else h.JSON
    await send_all(world, [Request(method, path, query, body, {"Content-Type": ctype})])


DISCOVERY = ("/api", "/apis", "/api/v1", "/apis/rbac.authorization.k8s.io/v1", "/version",
             "/openapi/v3", "/openapi/v3/api/v1", "/openapi/v3/../../etc", "/healthz/x",
             "/apis/nothing", "/apis/apps/v9", "/", "/api/v2/pods", "/metrics")


@SETTINGS
@given(method=st.sampled_from(("GET", "POST", "PUT", "PATCH", "DELETE")),
       path=st.sampled_from(LISTS + SEED_PATHS + list(DISCOVERY)),
       accept=h.accepts | st.sampled_from(("application/json", "*/*")),
       ctype=h.content_types | st.sampled_from((h.JSON, h.MERGE_PATCH)))
async def test_accept_and_content_type_of_any_text(world: Harness, method: str, path: str,
                                                   accept: str, ctype: str) -> None:
    body = None
    if method in ("POST", "PUT", "PATCH"):
        res = h.resource_of(path)
        body = h.encode_json(h.template(res, path.rsplit("/", 1)[-1], "default"))
    await send_all(world, [Request(method, path, "", body,
                                   {"Accept": accept, "Content-Type": ctype})])


# -- the worst cases, by hand -----------------------------------------------------------------

def _nested(depth: int, leaf: str = "1") -> bytes:
    return b'{"metadata":{"name":"deep"},"data":{"a":"b"},"x":' + (
        b"[" * depth + leaf.encode() + b"]" * depth) + b"}"


def _deep_objects(depth: int) -> bytes:
    return b'{"metadata":{"name":"deep"},"x":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


def _billion_laughs(levels: int) -> bytes:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return ("\n".join(lines) + "\nmetadata: {name: bomb}\n").encode()


def _copy_bomb(doublings: int) -> bytes:
    """Each copy doubles /spec: 2**doublings times its size (kept small enough to survive)."""
    ops = [{"op": "add", "path": "/spec/x", "value": "x" * 1000}]
    ops += [{"op": "copy", "from": "/spec", "path": f"/spec/c{i}"} for i in range(doublings)]
    return json.dumps(ops).encode()


def _deepening_patch(times: int, each: int) -> bytes:
    """Each op appends a list `each` deep inside the last one: no op deeper than `each` + 3."""
    nest = json.loads("[" * each + "]" * each)
    ops = [{"op": "add", "path": "/spec/x", "value": nest}]
    ops += [{"op": "add", "path": "/spec/x" + "/0" * ((each - 1) * i) + "/-", "value": nest}
            for i in range(1, times)]
    return json.dumps(ops).encode()


CM = "/api/v1/namespaces/default/configmaps"
POD = "/api/v1/namespaces/default/pods/web"
HOSTILE: dict[str, Callable[[], Request]] = {
    "json nested 254 deep": lambda: Request("POST", CM, "", _nested(254), {"Content-Type": h.JSON}),
    "json nested 300 deep": lambda: Request("POST", CM, "", _nested(300), {"Content-Type": h.JSON}),
    "json nested 1024 deep": lambda: Request("POST", CM, "", _nested(1023),
                                             {"Content-Type": h.JSON}),
    "json nested 100000 deep": lambda: Request("POST", CM, "", _nested(100_000),
                                               {"Content-Type": h.JSON}),
    "json objects 500 deep": lambda: Request("POST", CM, "", _deep_objects(500),
                                             {"Content-Type": h.JSON}),
    "yaml nested 300 deep": lambda: Request("POST", CM, "", _nested(300),
                                            {"Content-Type": h.YAML}),
    "yaml nested 100000 deep": lambda: Request("POST", CM, "", _nested(100_000),
                                               {"Content-Type": h.YAML}),
    "yaml laughs 7 levels": lambda: Request("POST", CM, "", _billion_laughs(7),
                                           {"Content-Type": h.YAML}),
    "yaml laughs 6 levels": lambda: Request("POST", CM, "", _billion_laughs(6),
                                            {"Content-Type": h.YAML}),
    "yaml alias cycle": lambda: Request("POST", CM, "", b"metadata: {name: loop}\nx: &a [*a]\n",
                                        {"Content-Type": h.YAML}),
    "yaml binary value": lambda: Request("POST", CM, "", b"metadata: {name: bin}\nx: !!binary "
                                         b"aGVsbG8=\n", {"Content-Type": h.YAML}),
    "yaml set value": lambda: Request("POST", CM, "", b"metadata: {name: set}\nx: !!set {a, b}\n",
                                      {"Content-Type": h.YAML}),
    "yaml timestamp": lambda: Request("POST", CM, "", b"metadata: {name: ts}\nx: 2001-12-14 "
                                      b"21:59:43.10\n", {"Content-Type": h.YAML}),
    "yaml number keys": lambda: Request("POST", CM, "", b"metadata: {name: nk}\nx: {1: a, 2.5: b, "
                                        b"null: c, true: d}\n", {"Content-Type": h.YAML}),
    "yaml number keys in data": lambda: Request("POST", CM, "", b"metadata: {name: nk2}\ndata: "
                                                b"{8080: a}\n", {"Content-Type": h.YAML}),
    "yaml lone surrogate": lambda: Request("POST", CM, "", b'metadata: {name: "\\ud800x"}\n',
                                           {"Content-Type": h.YAML}),
    "yaml multiple documents": lambda: Request("POST", CM, "", b"metadata: {name: m}\n---\n"
                                               b"metadata: {name: n}\n", {"Content-Type": h.YAML}),
    "body just over 3 MiB": lambda: Request("POST", CM, "", json.dumps(
        {"metadata": {"name": "big"}, "data": {"a": "x" * (3 * 1024 * 1024)}}).encode(),
        {"Content-Type": h.JSON}),
    "json patch copy bomb": lambda: Request("PATCH", POD, "", _copy_bomb(16),
                                            {"Content-Type": h.JSON_PATCH}),
    "json patch 10001 operations": lambda: Request("PATCH", POD, "", json.dumps(
        [{"op": "test", "path": "/kind", "value": "Pod"}] * 10_001).encode(),
        {"Content-Type": h.JSON_PATCH}),
    "json patch deepens the object": lambda: Request("PATCH", POD, "", _deepening_patch(3, 90),
                                                     {"Content-Type": h.JSON_PATCH}),
    "delete options of the wrong shape": lambda: Request(
        "DELETE", POD, "", b'{"preconditions": "x", "gracePeriodSeconds": "y"}',
        {"Content-Type": h.JSON}),
    "delete options preconditions list": lambda: Request(
        "DELETE", POD, "", b'{"preconditions": [1]}', {"Content-Type": h.JSON}),
    "grace period beyond datetime": lambda: Request(
        "DELETE", "/api/v1/namespaces/default/pods/bound",
        "gracePeriodSeconds=9223372036854775807"),
    "grace period in body beyond datetime": lambda: Request(
        "DELETE", "/api/v1/namespaces/default/pods/bound", "",
        b'{"gracePeriodSeconds": 9223372036854775807}', {"Content-Type": h.JSON}),
    "scale with a list spec": lambda: Request(
        "PUT", "/api/v1/namespaces/default/replicationcontrollers/rc/scale", "",
        b'{"spec": [1], "metadata": "x"}', {"Content-Type": h.JSON}),
    "scale patch with a string metadata": lambda: Request(
        "PATCH", "/api/v1/namespaces/default/replicationcontrollers/rc/scale", "",
        b'{"metadata": "x", "spec": {"replicas": 1}}', {"Content-Type": h.MERGE_PATCH}),
    "binding with a list target": lambda: Request(
        "POST", "/api/v1/namespaces/default/pods/web/binding", "", b'{"target": [1]}',
        {"Content-Type": h.JSON}),
    "limit beyond int64": lambda: Request("GET", CM, "limit=" + "9" * 30),
    "continue token with a surrogate": lambda: Request(
        "GET", CM, "limit=1&continue=" + h.continue_token(1, "\ud800")),
    "continue token beyond int64": lambda: Request(
        "GET", CM, "limit=1&continue=" + h.continue_token(2**70, "a")),
    "watch from beyond int64": lambda: Request(
        "GET", CM, "watch=1&timeoutSeconds=1&resourceVersion=" + "9" * 30),
    "timeout beyond int64": lambda: Request("GET", CM, "watch=1&timeoutSeconds=" + "9" * 30),
}


# Cases that must be refused outright (the rest may also be accepted, if stored whole).
REFUSED = ("json nested 300 deep", "json nested 1024 deep", "json nested 100000 deep",
           "json objects 500 deep", "yaml nested 300 deep", "yaml nested 100000 deep",
           "yaml laughs 7 levels", "yaml alias cycle", "yaml lone surrogate",
           "body just over 3 MiB", "json patch copy bomb", "json patch 10001 operations",
           "json patch deepens the object", "continue token beyond int64", "yaml binary value",
           "yaml number keys", "timeout beyond int64", "grace period beyond datetime",
           "grace period in body beyond datetime", "scale with a list spec",
           "scale patch with a string metadata", "binding with a list target",
           "delete options of the wrong shape", "delete options preconditions list",
           "limit beyond int64", "continue token with a surrogate", "watch from beyond int64")


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_the_worst_inputs_by_hand(world: Harness, case: str) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await world.reseed()
    answer = await world.send(HOSTILE[case]())
    await world.healthy()
    assert loop.time() - started < 10, f"{case} took {loop.time() - started:.1f}s"
    if case in REFUSED:
        assert 400 <= answer.status < 500, (case, answer.status, answer.body[:300])


async def test_a_client_that_dies_mid_body_writes_nothing(world: Harness) -> None:
    server = world.api.server
    before = await world.snapshot()
    for body, length in ((b'{"metadata": {"name": "half"}, "data": {"a": "', 4096),
                         (b'{"metadata": {"name": "half"}}', 31)):
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % length
                     + body)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    chunked = (b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"10\r\n{\"metadata\": {\"n\r\nzz\r\n")
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(chunked)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 10)
    writer.close()
    await writer.wait_closed()
    # aiohttp's HTTP parser answers this one itself (plain text, like Go's net/http would).
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"400", answer[:200]
    await asyncio.sleep(0.2)
    assert await world.snapshot() == before
    await world.healthy()
