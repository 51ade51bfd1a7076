"""Informers: list, then watch, keep a local cache, tell handlers what changed.

    informer = Informer(client, PODS, field_selector="spec.nodeName=node1")
    informer.add_handler(on_add=..., on_update=..., on_delete=...)   # sync or async callables
    task = asyncio.create_task(informer.run(stop))
    await informer.wait_synced()
    pod = informer.get("web", "default")

The loop, after client-go's reflector (``k8s.io/client-go/tools/cache/reflector.go``):

1. list the collection (in pages, one snapshot), replace the cache and emit the differences
   against the previous cache: ``on_add`` for new keys, ``on_update`` for changed
   resourceVersions, ``on_delete`` (with the last known state) for keys that are gone;
2. watch from the list's resourceVersion; ``ADDED``/``MODIFIED``/``DELETED`` update the cache
   and call the handlers, ``BOOKMARK`` only moves the resourceVersion;
3. a watch that ends (server timeout, apiserver restart) is resumed from the last
   resourceVersion; ``410 Gone`` goes back to 1; an unreachable apiserver is retried with
   bounded, jittered exponential backoff (0.2 s doubling to 5 s), resuming the watch;
   any other API error re-lists after the backoff.

Every step waits for the network or the backoff, so the loop never spins while the apiserver is
down; ``run(stop)`` returns once ``stop`` is set. Handlers run one event at a time, in
registration order, after the cache was updated. A handler added while the informer runs first
gets ``on_add`` for every cached object. An exception from a handler ends ``run()`` with that
exception: handlers own their errors.

``SharedInformerFactory`` hands every controller of one process the same informer per
(resource, namespace, selectors).
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import inspect
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import Gone, StatusError
from servers.client._wire import typed
from servers.client.errors import ApiUnavailable, BadResponse, ClientError

if TYPE_CHECKING:
    from collections.abc import Callable

    from servers.apimachinery.meta import Obj
    from servers.client.resources import ResourceRef
    from servers.client.rest import Client

__all__ = ["Backoff", "Informer", "SharedInformerFactory", "object_key"]

log = logging.getLogger(__name__)

# A watch that ends within this time without one event is counted as a failure, so a server
# that closes watches at once cannot make the loop spin (client-go's "very short watch").
_SHORT_WATCH = 1.0


def object_key(obj: Obj) -> str:
    """The cache key of an object: ``namespace/name``, or ``name`` when cluster-scoped."""
    metadata = obj.get("metadata") or {}
    namespace, name = metadata.get("namespace"), metadata.get("name", "")
    return f"{namespace}/{name}" if namespace else str(name)


def _resource_version(obj: Obj) -> str | None:
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return str(version) if version else None


class Backoff:
    """Exponential backoff with jitter: ``initial`` doubling up to ``cap`` seconds.

    Each delay is drawn from ``[(1 - jitter) * d, d]`` where ``d`` is the current step, so it
    never exceeds ``cap`` and many clients do not retry in step.
    """

    def __init__(self, initial: float = 0.2, cap: float = 5.0, factor: float = 2.0,
                 jitter: float = 0.5) -> None:
        self.initial, self.cap, self.factor, self.jitter = initial, cap, factor, jitter
        self.failures = 0

    def next(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        step = min(self.cap, self.initial * self.factor ** min(self.failures, 32))
        self.failures += 1
        return step * (1.0 - self.jitter * random.random())

    def reset(self) -> None:
        """Back to ``initial`` after a success."""
        self.failures = 0


@dataclass(frozen=True)
class _Handlers:
    on_add: Callable[[Obj], Any] | None
    on_update: Callable[[Obj, Obj], Any] | None
    on_delete: Callable[[Obj], Any] | None


async def _call(handler: Callable[..., Any] | None, *args: Obj) -> None:
    if handler is not None:
        result = handler(*args)
        if inspect.isawaitable(result):
            await result


class Informer:
    """A cached, watched view of one resource (optionally one namespace and selectors).

    ``watch_timeout`` is the shortest server-side watch timeout asked for (each watch asks
    for a random value between it and twice it, as client-go does); ``page_size`` is the list
    page size; ``backoff`` the retry policy.
    """

    def __init__(self, client: Client, resource: ResourceRef, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 watch_timeout: int = 300, page_size: int = 500,
                 backoff: Backoff | None = None) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.watch_timeout = watch_timeout
        self.page_size = page_size
        self.backoff = backoff or Backoff()
        self._cache: dict[str, Obj] = {}
        self._handlers: builtins.list[_Handlers] = []
        self._resource_version: str | None = None
        self._synced = asyncio.Event()
        self._lock = asyncio.Lock()
        self._running = False
        self._loop_task: asyncio.Future[None] | None = None
        self._joins: set[asyncio.Task[None]] = set()

    # -- the cache ---------------------------------------------------------------------------

    @property
    def resource_version(self) -> str | None:
        """The last resourceVersion seen (list, event or bookmark); where a watch resumes."""
        return self._resource_version

    def has_synced(self) -> bool:
        """Whether the first list has been loaded into the cache (and its adds emitted)."""
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait until ``has_synced()``; ``False`` if ``timeout`` seconds passed first."""
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def get(self, name: str, namespace: str | None = None) -> Obj | None:
        """The cached object called ``name`` (in ``namespace``), or ``None``."""
        return self._cache.get(f"{namespace}/{name}" if namespace else name)

    def get_by_key(self, key: str) -> Obj | None:
        """The cached object with ``object_key`` ``key``, or ``None``."""
        return self._cache.get(key)

    def list(self) -> builtins.list[Obj]:
        """Every cached object (a new list; the objects are shared, do not mutate them)."""
        return builtins.list(self._cache.values())

    def keys(self) -> builtins.list[str]:
        """Every cache key."""
        return builtins.list(self._cache)

    # -- handlers ----------------------------------------------------------------------------

    def add_handler(self, on_add: Callable[[Obj], Any] | None = None,
                    on_update: Callable[[Obj, Obj], Any] | None = None,
                    on_delete: Callable[[Obj], Any] | None = None) -> None:
        """Register handlers (plain functions or coroutine functions).

        While the informer runs, the new handlers first get ``on_add`` for every cached
        object, before any later event; call this from the event loop then.
        """
        handlers = _Handlers(on_add, on_update, on_delete)
        if not self._running:
            self._handlers.append(handlers)
            return
        task = asyncio.get_running_loop().create_task(self._join(handlers))
        self._joins.add(task)
        task.add_done_callback(self._joined)

    async def _join(self, handlers: _Handlers) -> None:
        async with self._lock:
            for obj in builtins.list(self._cache.values()):
                await _call(handlers.on_add, obj)
            self._handlers.append(handlers)

    def _joined(self, task: asyncio.Task[None]) -> None:
        self._joins.discard(task)
        if not task.cancelled() and task.exception() is not None and self._loop_task:
            self._joins.add(task)  # kept so that run() raises its exception
            self._loop_task.cancel()

    async def _emit(self, event: str, *args: Obj) -> None:
        for handlers in tuple(self._handlers):
            await _call(getattr(handlers, event), *args)

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """List and watch until ``stop`` is set; re-raises a handler's exception."""
        if self._running:
            msg = f"the {self.resource} informer is already running"
            raise RuntimeError(msg)
        self._running = True
        self._loop_task = main = asyncio.ensure_future(self._loop())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._running = False
            tasks = [main, stopper, *self._joins]
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            self._loop_task = None
            self._joins.clear()
        for result in results:
            if isinstance(result, BaseException) and not isinstance(
                    result, asyncio.CancelledError):
                raise result

    async def _loop(self) -> None:
        relist = True
        while True:
            try:
                if relist:
                    await self._relist()
                    relist = False
                relist = await self._watch()
            except ApiUnavailable as exc:
                delay = self.backoff.next()
                log.info("%s: %s; retrying in %.1fs", self.resource, exc, delay)
                await asyncio.sleep(delay)
            except (ClientError, StatusError) as exc:
                delay = self.backoff.next()
                log.warning("%s: %s; re-listing in %.1fs", self.resource, exc, delay)
                relist = True
                await asyncio.sleep(delay)

    async def _relist(self) -> None:
        listing = await self.client.list_all(
            self.resource, self.namespace, label_selector=self.label_selector,
            field_selector=self.field_selector, page_size=self.page_size)
        # List items may come without apiVersion/kind; watch events carry them.
        items = (typed(self.resource, obj) for obj in listing.get("items") or ())
        fresh = {object_key(obj): obj for obj in items}
        async with self._lock:
            old, self._cache = self._cache, fresh
            self._resource_version = _resource_version(listing)
            log.debug("%s: listed %d objects at %s", self.resource, len(fresh),
                      self._resource_version)
            await self._emit_differences(old, fresh)
        self._synced.set()

    async def _emit_differences(self, old: dict[str, Obj], fresh: dict[str, Obj]) -> None:
        for key, obj in fresh.items():
            previous = old.get(key)
            if previous is None:
                await self._emit("on_add", obj)
            elif _resource_version(previous) != _resource_version(obj):
                await self._emit("on_update", previous, obj)
        for key, previous in old.items():
            if key not in fresh:
                await self._emit("on_delete", previous)

    async def _watch(self) -> bool:
        """Watch from the last resourceVersion until the stream ends; True when Gone."""
        loop = asyncio.get_running_loop()
        started, events = loop.time(), 0
        timeout = random.randint(self.watch_timeout, 2 * self.watch_timeout)
        watch = self.client.watch(
            self.resource, self.namespace, resource_version=self._resource_version,
            label_selector=self.label_selector, field_selector=self.field_selector,
            timeout_seconds=timeout, allow_bookmarks=True)
        try:
            async with watch:
                async for kind, obj in watch:
                    events += 1
                    await self._handle(kind, obj)
        except Gone as exc:
            delay = self.backoff.next() if events == 0 else 0.0
            log.info("%s: watch expired (%s); re-listing", self.resource, exc)
            await asyncio.sleep(delay)
            return True
        if events or loop.time() - started >= _SHORT_WATCH:
            self.backoff.reset()
        else:
            await asyncio.sleep(self.backoff.next())
        return False

    async def _handle(self, kind: str, obj: Obj) -> None:
        version = _resource_version(obj)
        if kind == "BOOKMARK":
            self._resource_version = version or self._resource_version
            return
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            msg = f"{self.resource}: unknown watch event type {kind!r}"
            raise BadResponse(msg)
        key = object_key(obj)
        async with self._lock:
            previous = self._cache.get(key)
            self._resource_version = version or self._resource_version
            if kind == "DELETED":
                if previous is not None:
                    del self._cache[key]
                    await self._emit("on_delete", obj)
                return
            self._cache[key] = obj
            if previous is None:
                await self._emit("on_add", obj)
            else:
                await self._emit("on_update", previous, obj)


class SharedInformerFactory:
    """One informer per (resource, namespace, selectors) for every controller of a process.

    ``informer()`` returns the shared instance (created on first request, with
    ``informer_options`` such as ``watch_timeout``); ``start(stop)`` runs every informer not
    yet running (call it again after asking for more); ``wait_synced()`` waits for all of
    them; ``join()`` waits for them to end after ``stop`` and re-raises a failure.
    """

    def __init__(self, client: Client, **informer_options: Any) -> None:
        self.client = client
        self.informer_options = informer_options
        self._informers: dict[tuple[Any, ...], Informer] = {}
        self._tasks: dict[tuple[Any, ...], asyncio.Task[None]] = {}

    def informer(self, resource: ResourceRef, *, namespace: str | None = None,
                 label_selector: str | None = None,
                 field_selector: str | None = None) -> Informer:
        """The shared informer for this resource, namespace and selectors."""
        key = (resource, namespace, label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            options = dict(self.informer_options)
            if isinstance(options.get("backoff"), Backoff):  # each informer counts its own
                options["backoff"] = copy.copy(options["backoff"])
            informer = Informer(self.client, resource, namespace=namespace,
                                label_selector=label_selector, field_selector=field_selector,
                                **options)
            self._informers[key] = informer
        return informer

    def start(self, stop: asyncio.Event) -> None:
        """Start every informer that is not running yet (idempotent)."""
        loop = asyncio.get_running_loop()
        for key, informer in self._informers.items():
            if key not in self._tasks:
                self._tasks[key] = loop.create_task(informer.run(stop))

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait until every informer has synced; ``False`` if ``timeout`` passed first."""
        waits = [informer.wait_synced() for informer in self._informers.values()]
        try:
            results = await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except asyncio.TimeoutError:
            return False
        return all(results)

    async def join(self) -> None:
        """Wait for every started informer to return (set ``stop`` first)."""
        tasks = builtins.list(self._tasks.values())
        self._tasks.clear()
        await asyncio.gather(*tasks)
