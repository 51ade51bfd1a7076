"""A small, real aiohttp app that answers like an apiserver, for the client's unit tests.

It keeps objects in memory under one global revision, serves core/v1 paths (get, list with
limit/continue, create, update with resourceVersion preconditions, merge patch, delete,
watch from a revision with history, compaction → 410), records every request, and can be
told to answer a path with a canned response. ``stop()`` and ``start()`` keep the state, so a
client can watch it "restart" on the same port. Not a model of the real apiserver: the
integration tests run that.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from servers.apimachinery import errors

Obj = dict[str, Any]
JSON = "application/json"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Route:
    plural: str
    namespace: str | None
    name: str | None
    subresource: str | None


def parse(path: str) -> Route:
    parts = path.removeprefix("/api/v1/").split("/")
    if parts[0] == "namespaces" and len(parts) >= 3:
        rest: list[str | None] = [*parts[3:], None, None]
        return Route(parts[2], parts[1], rest[0], rest[1])
    rest = [*parts[1:], None, None]
    return Route(parts[0], None, rest[0], rest[1])


def key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


def merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge(out.get(k), v)
    return out


def status(err: errors.StatusError) -> web.Response:
    return web.json_response(err.to_status(), status=err.code)


class FakeApi:
    """In-memory objects by plural, one revision counter, a history for watches."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Obj]] = {}
        self.revision = 100
        self.history: list[tuple[int, str, str, Obj]] = []  # (rev, plural, type, object)
        self.compacted = 0
        self.requests: list[Recorded] = []
        self.canned: dict[tuple[str, str], tuple[int, bytes, str]] = {}
        self.close_watches = False  # answer every watch with an empty stream
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self.handle)
        self._closing = asyncio.Event()
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- state changes (also used by tests directly) -----------------------------------------

    def commit(self, plural: str, kind: str, obj: Obj) -> Obj:
        self.revision += 1
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.revision)}}
        bucket = self.objects.setdefault(plural, {})
        if kind == "DELETED":
            bucket.pop(key(obj), None)
        else:
            bucket[key(obj)] = obj
        self.history.append((self.revision, plural, kind, obj))
        self._changed.set()
        self._changed = asyncio.Event()
        return obj

    def put(self, plural: str, obj: Obj) -> Obj:
        exists = key(obj) in self.objects.get(plural, {})
        return self.commit(plural, "MODIFIED" if exists else "ADDED", obj)

    def remove(self, plural: str, name: str, namespace: str | None = None) -> Obj:
        obj = self.objects[plural][f"{namespace}/{name}" if namespace else name]
        return self.commit(plural, "DELETED", obj)

    def bookmark(self, plural: str) -> None:
        self.revision += 1
        self.history.append((self.revision, plural, "BOOKMARK",
                             {"metadata": {"resourceVersion": str(self.revision)}}))
        self._changed.set()
        self._changed = asyncio.Event()

    def compact(self) -> None:
        self.compacted = self.revision
        self.history.clear()

    # -- HTTP --------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        canned = self.canned.get((request.method, request.path))
        if canned is not None:
            code, text, content_type = canned
            return web.Response(status=code, body=text, content_type=content_type)
        route = parse(request.path)
        try:
            return await self._route(request, route, body)
        except errors.StatusError as err:
            return status(err)

    async def _route(self, request: web.Request, route: Route, body: bytes) -> web.StreamResponse:
        method = request.method
        if route.subresource == "log":
            return web.Response(text="line 1\nline 2\n")
        if route.name is None:
            if method == "POST":
                return self._create(route, json.loads(body))
            if request.query.get("watch") == "true":
                return await self._watch(request, route)
            return self._list(route, request.query)
        if method == "GET":
            return web.json_response(self._get(route))
        if method == "PUT":
            return self._update(route, json.loads(body))
        if method == "PATCH":
            return self._patch(route, json.loads(body))
        if method == "DELETE":
            return web.json_response(self.remove(route.plural, self._get(route)["metadata"]["name"],
                                                 route.namespace))
        if method == "POST" and route.subresource == "binding":
            return web.json_response({"kind": "Status", "status": "Success", "code": 201},
                                     status=201)
        raise errors.MethodNotAllowed(route.plural, method.lower())

    def _get(self, route: Route) -> Obj:
        name = f"{route.namespace}/{route.name}" if route.namespace else str(route.name)
        obj = self.objects.get(route.plural, {}).get(name)
        if obj is None:
            raise errors.NotFound(route.plural, str(route.name))
        return obj

    def _items(self, route: Route) -> list[Obj]:
        items = sorted(self.objects.get(route.plural, {}).items())
        return [obj for _, obj in items
                if route.namespace is None or obj["metadata"].get("namespace") == route.namespace]

    def _list(self, route: Route, query: Any) -> web.Response:
        items = self._items(route)
        start = int(query.get("continue") or 0)
        if start > len(items):
            raise errors.Gone(errors.CONTINUE_EXPIRED)
        limit = int(query.get("limit") or 0) or len(items)
        page = items[start:start + limit]
        metadata: Obj = {"resourceVersion": str(self.revision)}
        if start + limit < len(items):
            metadata["continue"] = str(start + limit)
        # Real list items carry no apiVersion/kind.
        page = [{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
                for obj in page]
        return web.json_response({"kind": "PodList", "apiVersion": "v1",
                                  "metadata": metadata, "items": page})

    def _create(self, route: Route, obj: Obj) -> web.Response:
        meta = {**obj.get("metadata", {}), "uid": str(uuid.uuid4())}
        if route.namespace:
            meta["namespace"] = route.namespace
        if key({"metadata": meta}) in self.objects.get(route.plural, {}):
            raise errors.AlreadyExists(route.plural, meta["name"])
        return web.json_response(self.commit(route.plural, "ADDED", {**obj, "metadata": meta}),
                                 status=201)

    def _update(self, route: Route, obj: Obj) -> web.Response:
        current = self._get(route)
        wanted = obj.get("metadata", {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise errors.Conflict(route.plural, str(route.name))
        return web.json_response(self.commit(route.plural, "MODIFIED", obj))

    def _patch(self, route: Route, patch: Obj) -> web.Response:
        return web.json_response(self.commit(route.plural, "MODIFIED",
                                             merge(self._get(route), patch)))

    async def _watch(self, request: web.Request, route: Route) -> web.StreamResponse:
        since = int(request.query.get("resourceVersion") or 0)
        timeout = float(request.query.get("timeoutSeconds") or 60)
        resp = web.StreamResponse(headers={"Content-Type": JSON})
        await resp.prepare(request)

        async def send(kind: str, obj: Obj) -> None:
            await resp.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

        if self.close_watches:
            pass
        elif since and since < self.compacted:
            await send("ERROR", errors.Gone(errors.EXPIRED_WATCH).to_status())
        else:
            if not since:
                for obj in self._items(route):
                    await send("ADDED", obj)
                since = self.revision
            await self._follow(route, since, timeout, send)
        await resp.write_eof()
        return resp

    async def _follow(self, route: Route, since: int, timeout: float,
                      send: Callable[[str, Obj], Awaitable[None]]) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._closing.is_set():
            for rev, plural, kind, obj in list(self.history):
                in_ns = kind == "BOOKMARK" or route.namespace in (
                    None, obj["metadata"].get("namespace"))
                if rev > since and plural == route.plural and in_ns:
                    await send(kind, obj)
                since = max(since, rev)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            waiters = [asyncio.ensure_future(self._changed.wait()),
                       asyncio.ensure_future(self._closing.wait())]
            await asyncio.wait(waiters, timeout=remaining,
                               return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

def pod(name: str, namespace: str = "default", **labels: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
