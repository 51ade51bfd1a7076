"""The event recorder: deduplication into counts, aggregation, the spam filter, the writer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from servers.apimachinery.errors import NotFound
from servers.client.errors import ApiUnavailable
from servers.client.events import AGGREGATE_PREFIX, EventRecorder
from servers.client.resources import EVENTS, ResourceRef

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "resourceVersion": "7"}}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeEvents:
    """Records what the recorder sends; can fail the next requests."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.stored: set[str] = set()
        self.unavailable = 0

    def _maybe_fail(self) -> None:
        if self.unavailable:
            self.unavailable -= 1
            raise ApiUnavailable("POST events: apiserver unavailable: refused")

    async def create(self, resource: ResourceRef, obj: dict[str, Any],
                     namespace: str | None = None) -> dict[str, Any]:
        assert resource is EVENTS
        self._maybe_fail()
        self.calls.append(("create", obj["metadata"]["name"], obj))
        self.stored.add(obj["metadata"]["name"])
        return obj

    async def patch(self, resource: ResourceRef, name: str, patch: Any, *, patch_type: str,
                    namespace: str | None = None) -> dict[str, Any]:
        self._maybe_fail()
        if name not in self.stored:
            raise NotFound("events", name)
        self.calls.append(("patch", name, patch))
        return patch


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> FakeEvents:
    return FakeEvents()


@pytest.fixture
def recorder(sink: FakeEvents, clock: Clock) -> EventRecorder:
    return EventRecorder(sink, component="default-scheduler", clock=clock,  # type: ignore[arg-type]
                         retry_seconds=0.01)


async def drain(recorder: EventRecorder) -> None:
    stop = asyncio.Event()
    task = asyncio.ensure_future(recorder.run(stop))
    await asyncio.wait_for(recorder.flush(), 2)
    stop.set()
    await asyncio.wait_for(task, 2)


async def test_first_event_is_created_as_kube_writes_it(recorder: EventRecorder,
                                                        sink: FakeEvents) -> None:
    event = recorder.event(POD, "Normal", "Scheduled", "Successfully assigned ns/web to n1")
    await drain(recorder)
    assert event is not None
    assert [c[0] for c in sink.calls] == ["create"]
    assert event["metadata"]["namespace"] == "ns"
    assert event["metadata"]["name"].startswith("web.")
    assert event["involvedObject"] == {"kind": "Pod", "namespace": "ns", "name": "web",
                                       "uid": "u1", "apiVersion": "v1", "resourceVersion": "7"}
    assert event["source"] == {"component": "default-scheduler"}
    assert event["reportingComponent"] == "default-scheduler"
    assert event["count"] == 1
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2023-11-14T22:13:20Z"


async def test_repeated_event_patches_the_count(recorder: EventRecorder, sink: FakeEvents,
                                                clock: Clock) -> None:
    first = recorder.event(POD, "Warning", "FailedScheduling", "0/1 nodes are available")
    clock.now += 60
    second = recorder.event(POD, "Warning", "FailedScheduling", "0/1 nodes are available")
    await drain(recorder)
    assert first is not None and second is not None
    assert [c[0] for c in sink.calls] == ["create", "patch"]
    assert sink.calls[1][1] == first["metadata"]["name"]
    assert sink.calls[1][2] == {"count": 2, "lastTimestamp": "2023-11-14T22:14:20Z",
                                "message": "0/1 nodes are available"}
    assert second["firstTimestamp"] == first["firstTimestamp"]


async def test_spam_filter_allows_a_burst_then_one_per_five_minutes(
        recorder: EventRecorder, clock: Clock) -> None:
    kept = [recorder.event(POD, "Warning", "FailedScheduling", "no") for _ in range(40)]
    assert sum(e is not None for e in kept) == 25
    clock.now += 299
    assert recorder.event(POD, "Warning", "FailedScheduling", "no") is None
    clock.now += 2
    assert recorder.event(POD, "Warning", "FailedScheduling", "no") is not None
    other = {**POD, "metadata": {**POD["metadata"], "name": "db", "uid": "u2"}}
    assert recorder.event(other, "Warning", "FailedScheduling", "no") is not None


async def test_similar_events_are_combined(recorder: EventRecorder) -> None:
    messages = [recorder.event(POD, "Warning", "FailedScheduling", f"reason {n}")
                for n in range(12)]
    texts = [e["message"] for e in messages if e is not None]
    assert texts[:9] == [f"reason {n}" for n in range(9)]
    assert texts[9] == AGGREGATE_PREFIX + "reason 9"
    assert texts[10] == AGGREGATE_PREFIX + "reason 10"


async def test_long_message_is_truncated(recorder: EventRecorder) -> None:
    event = recorder.event(POD, "Warning", "FailedScheduling", "x" * 2000)
    assert event is not None
    assert len(event["message"]) == 1024
    assert event["message"].endswith(" ...")


async def test_unavailable_apiserver_is_retried(recorder: EventRecorder,
                                                sink: FakeEvents) -> None:
    sink.unavailable = 3
    recorder.event(POD, "Normal", "Scheduled", "ok")
    await drain(recorder)
    assert [c[0] for c in sink.calls] == ["create"]


async def test_patch_of_a_vanished_event_creates_it(recorder: EventRecorder,
                                                    sink: FakeEvents) -> None:
    recorder.event(POD, "Normal", "Scheduled", "ok")
    recorder.event(POD, "Normal", "Scheduled", "ok")
    sink.stored.add("nothing")  # the create goes through, then the event vanishes
    await drain(recorder)
    sink.stored.clear()
    recorder.event(POD, "Normal", "Scheduled", "ok")
    await drain(recorder)
    assert [c[0] for c in sink.calls] == ["create", "patch", "create"]
    assert sink.calls[2][2]["count"] == 3
