"""An event recorder for km's controllers: core/v1 Events, aggregated and rate-limited.

    recorder = EventRecorder(client, component="default-scheduler")
    task = asyncio.create_task(recorder.run(stop))
    recorder.event(pod, "Normal", "Scheduled", "Successfully assigned ns/web to n1")

``event()`` never blocks and never fails: it correlates the event at once and queues the
write; ``run()`` writes (POST a new Event, or PATCH the count of one already written) with a
few writers in parallel, each Event's writes in order.
The correlation is client-go's ``EventCorrelator`` (``k8s.io/client-go/tools/record/
events_cache.go``), in the same three steps:

1. **spam filter** — a token bucket per source and involved object (burst 25, one token per
   5 minutes): beyond it events are dropped, so a pod stuck for an hour does not write an event
   a second;
2. **aggregation** — more than 10 events of the same source, object, type and reason but
   different messages within 10 minutes become one event with the message
   ``(combined from similar events): MESSAGE``;
3. **deduplication** — an event equal to one already written (same source, object, type,
   reason and message) increments that Event's ``count`` and moves its ``lastTimestamp``
   (a PATCH), which ``kubectl describe`` shows as ``(x5 over 10m)``.

Writes that fail because the apiserver is away are retried (up to 12 tries, as client-go);
a PATCH of an Event the apiserver no longer has becomes a create. Nothing here raises into the
caller: losing an event is logged, never fatal. Imports no aiohttp itself (the client does).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import NotFound, StatusError
from servers.client.errors import ClientError
from servers.client.resources import EVENTS

if TYPE_CHECKING:
    from collections.abc import Callable

    from servers.client.rest import Client

__all__ = ["NORMAL", "WARNING", "EventRecorder", "reference"]

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NORMAL, WARNING = "Normal", "Warning"
# events_cache.go's defaults.
SPAM_BURST = 25
SPAM_REFILL_SECONDS = 300.0
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL = 600.0
AGGREGATE_PREFIX = "(combined from similar events): "
CACHE_SIZE = 4096
MAX_TRIES = 12
RETRY_SECONDS = 10.0
QUEUE_SIZE = 1000
WRITERS = 8
MESSAGE_LIMIT = 1024


class _LRU(OrderedDict[str, Any]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class _Aggregate:
    messages: set[str]
    last: float


@dataclass
class _Written:
    name: str
    namespace: str
    count: int
    first: str


# The last second formatted: events come in bursts, most within one second of the last.
_last_stamp: tuple[int, str] = (-1, "")


def _timestamp(seconds: float) -> str:
    global _last_stamp
    whole = math.floor(seconds)
    if whole != _last_stamp[0]:
        text = datetime.fromtimestamp(whole, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        _last_stamp = (whole, text)
    return _last_stamp[1]


def reference(obj: Obj, field_path: str = "") -> Obj:
    """The ``involvedObject`` reference to ``obj`` (kind, namespace, name, uid, ...);
    ``field_path`` names a part of it, as kube's kubelet does for a container
    (``spec.containers{NAME}``: ``pkg/kubelet/container/ref.go``)."""
    meta = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", ""), "namespace": meta.get("namespace"),
           "name": meta.get("name", ""), "uid": meta.get("uid"),
           "apiVersion": obj.get("apiVersion", ""),
           "resourceVersion": meta.get("resourceVersion"), "fieldPath": field_path}
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    """Records core/v1 Events from ``component`` (``source.component`` and
    ``reportingComponent``); ``host`` is ``source.host``/``reportingInstance``.

    ``clock`` gives wall-clock seconds (timestamps, rate limits); tests inject one.
    ``retry_seconds`` is the pause before retrying a write the apiserver did not take.
    """

    def __init__(self, client: Client | None, *, component: str, host: str = "",
                 clock: Callable[[], float] = time.time,
                 retry_seconds: float = RETRY_SECONDS, queue_size: int = QUEUE_SIZE,
                 writers: int = WRITERS) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.clock = clock
        self.retry_seconds = retry_seconds
        self._spam: _LRU = _LRU(CACHE_SIZE)
        self._aggregates: _LRU = _LRU(CACHE_SIZE)
        self._written: _LRU = _LRU(CACHE_SIZE)
        self._queues: list[asyncio.Queue[tuple[str, Obj]]] = [
            asyncio.Queue(max(1, queue_size // writers)) for _ in range(max(1, writers))]
        self.dropped = 0

    # -- the caller's side -------------------------------------------------------------------

    def event(self, obj: Obj, type_: str, reason: str, message: str, *,
              action: str = "", component: str | None = None,
              field_path: str = "") -> Obj | None:
        """Record one event about ``obj``; returns the Event as it will be written (a new one
        or the updated count), or ``None`` when the spam filter dropped it. ``component``
        overrides the recorder's source (a scheduler profile's own name); ``field_path`` is
        ``involvedObject.fieldPath`` (a pod's container: ``spec.containers{NAME}``)."""
        now = self.clock()
        source = component or self.component
        ref = reference(obj, field_path)
        object_key = self._object_key(ref, source)
        if not self._allow(object_key, now):
            return None
        message = _truncate(message)
        message = self._aggregate(object_key, type_, reason, message, now)
        # the Event's identity includes the field path (events_cache.go's getEventKey)
        key = "\x00".join((object_key, ref.get("fieldPath", ""), type_, reason, message))
        previous = self._written.get(key)
        if previous is not None:
            previous.count += 1
            self._written.move_to_end(key)
            event = self._build(ref, source, type_, reason, message, action, now, previous)
            self._queue("patch", event)
            return event
        event = self._build(ref, source, type_, reason, message, action, now, None)
        meta = event["metadata"]
        self._written.put(key, _Written(meta["name"], meta["namespace"], 1,
                                        event["firstTimestamp"]))
        self._queue("create", event)
        return event

    @staticmethod
    def _object_key(ref: Obj, source: str) -> str:
        return "\x00".join(str(ref.get(k, "")) for k in (
            "kind", "namespace", "name", "uid", "apiVersion")) + "\x00" + source

    def _allow(self, key: str, now: float) -> bool:
        """The token bucket of the source and object (``EventSourceObjectSpamFilter``);
        ``key`` is ``_object_key``'s."""
        bucket = self._spam.get(key)
        if bucket is None:
            bucket = _Bucket(float(SPAM_BURST), now)
        else:
            bucket.tokens = min(float(SPAM_BURST),
                                bucket.tokens + (now - bucket.stamp) / SPAM_REFILL_SECONDS)
            bucket.stamp = now
        self._spam.put(key, bucket)
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def _aggregate(self, object_key: str, type_: str, reason: str, message: str,
                   now: float) -> str:
        """``EventAggregator``: too many similar messages become one combined event."""
        key = "\x00".join((object_key, type_, reason))
        record = self._aggregates.get(key)
        if record is None or now - record.last > AGGREGATE_INTERVAL:
            record = _Aggregate(set(), now)
        record.messages.add(message)
        record.last = now
        self._aggregates.put(key, record)
        if len(record.messages) < AGGREGATE_MAX_EVENTS:
            return message
        return AGGREGATE_PREFIX + message

    def _build(self, ref: Obj, source: str, type_: str, reason: str, message: str,
               action: str, now: float, previous: _Written | None) -> Obj:
        stamp = _timestamp(now)
        if previous is None:
            name = f"{ref.get('name', 'event')}.{int(now * 1e9):x}"
            namespace = ref.get("namespace") or "default"
            count, first = 1, stamp
        else:
            name, namespace = previous.name, previous.namespace
            count, first = previous.count, previous.first
        event: Obj = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref, "reason": reason, "message": message,
            "source": {"component": source, **({"host": self.host} if self.host else {})},
            "firstTimestamp": first, "lastTimestamp": stamp, "count": count, "type": type_,
            "reportingComponent": source, "reportingInstance": self.host,
        }
        if action:
            event["action"] = action
        return event

    def _queue(self, verb: str, event: Obj) -> None:
        # One Event's writes (its create, then its patches) always go to the same writer,
        # so they stay in order; different Events are written in parallel.
        shard = hash(event["metadata"]["name"]) % len(self._queues)
        try:
            self._queues[shard].put_nowait((verb, event))
        except asyncio.QueueFull:
            self.dropped += 1
            log.debug("event queue full; dropped %s %s", event["reason"],
                      event["involvedObject"].get("name"))

    # -- the writer --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Write queued events until ``stop`` is set (each Event's writes in order)."""
        await asyncio.gather(*(self._writer(queue, stop) for queue in self._queues))

    async def _writer(self, queue: asyncio.Queue[tuple[str, Obj]], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:  # a busy queue is read without a waiting task per event
                verb, event = queue.get_nowait()
            except asyncio.QueueEmpty:
                item = await _next_or_stop(queue, stop)
                if item is None:
                    return
                verb, event = item
            try:
                await self._write(verb, event, stop)
            finally:
                queue.task_done()

    async def flush(self) -> None:
        """Wait until every queued event has been written (or given up on)."""
        await asyncio.gather(*(queue.join() for queue in self._queues))

    async def _write(self, verb: str, event: Obj, stop: asyncio.Event) -> None:
        if self.client is None:
            return
        for tries in range(1, MAX_TRIES + 1):
            try:
                await self._send(verb, event)
                return
            except ClientError as exc:
                log.info("event %s: %s (try %d of %d)", event["reason"], exc, tries, MAX_TRIES)
            except StatusError as exc:
                log.warning("event %s on %s not written: %s", event["reason"],
                            event["involvedObject"].get("name"), exc)
                return
            try:
                await asyncio.wait_for(stop.wait(), self.retry_seconds)
                return
            except asyncio.TimeoutError:
                pass

    async def _send(self, verb: str, event: Obj) -> None:
        assert self.client is not None
        meta = event["metadata"]
        if verb == "patch":
            patch = {"count": event["count"], "lastTimestamp": event["lastTimestamp"],
                     "message": event["message"]}
            try:
                await self.client.patch(EVENTS, meta["name"], patch, patch_type="merge",
                                        namespace=meta["namespace"])
                return
            except NotFound:
                pass  # the Event expired or was deleted: write it anew
        await self.client.create(EVENTS, event, meta["namespace"])


async def _next_or_stop(queue: asyncio.Queue[tuple[str, Obj]],
                        stop: asyncio.Event) -> tuple[str, Obj] | None:
    """Wait for the queue's next item; ``None`` if ``stop`` is set first."""
    getter = asyncio.ensure_future(queue.get())
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if getter not in done:
        getter.cancel()
        return None
    return getter.result()


def _truncate(message: str) -> str:
    """Messages longer than 1024 characters end in `` ...`` (kube's events do)."""
    if len(message) <= MESSAGE_LIMIT:
        return message
    return message[:MESSAGE_LIMIT - 4] + " ..."
