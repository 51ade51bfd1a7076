"""The scheduling queue: order, backoff timing (injected clock), moves on cluster events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from servers.scheduler.queue import (
    ACTIVE,
    BACKOFF,
    GATED,
    UNSCHEDULABLE,
    QueuedPod,
    SchedulingQueue,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pod(name: str, priority: int | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": [{"name": "c", "image": "x"}], **spec}
    if priority is not None:
        body["priority"] = priority
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": "1"}, "spec": body}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(clock: Clock) -> SchedulingQueue:
    return SchedulingQueue(clock=clock)


async def pop(queue: SchedulingQueue) -> QueuedPod:
    queued = await asyncio.wait_for(queue.pop(), 1)
    assert queued is not None
    return queued


async def names(queue: SchedulingQueue) -> list[str]:
    out = []
    while queue.counts()[ACTIVE]:
        out.append((await pop(queue)).pod["metadata"]["name"])
    return out


async def test_higher_priority_first_then_earlier_enqueue(queue: SchedulingQueue,
                                                          clock: Clock) -> None:
    for name, priority in (("low", 0), ("high", 100), ("low2", None), ("mid", 10)):
        queue.add(pod(name, priority))
        clock.now += 1
    assert await names(queue) == ["high", "mid", "low", "low2"]


async def test_priority_change_reorders(queue: SchedulingQueue, clock: Clock) -> None:
    queue.add(pod("a", 1))
    clock.now += 1
    queue.add(pod("b", 1))
    queue.update(pod("b", 5))
    assert await names(queue) == ["b", "a"]


async def test_backoff_doubles_to_the_cap(queue: SchedulingQueue) -> None:
    assert [queue.backoff_duration(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


async def test_failed_pod_waits_its_backoff(queue: SchedulingQueue, clock: Clock) -> None:
    queue.add(pod("a"))
    for attempt, wait in ((1, 1.0), (2, 2.0), (3, 4.0)):
        queued = await pop(queue)
        assert queued.attempts == attempt
        queue.add_backoff(queued)
        assert queue.where("ns/a") == BACKOFF
        clock.now += wait - 0.01
        assert queue.flush_backoff() == 0
        clock.now += 0.02
        assert queue.flush_backoff() == 1
        assert queue.where("ns/a") == ACTIVE


async def test_unschedulable_waits_for_a_cluster_event(queue: SchedulingQueue,
                                                       clock: Clock) -> None:
    queue.add(pod("a"))
    queue.add_unschedulable(await pop(queue))
    clock.now += 60
    assert queue.flush_backoff() == 0
    assert queue.where("ns/a") == UNSCHEDULABLE
    assert queue.move_all("NodeAdd") == 1
    assert queue.where("ns/a") == ACTIVE  # its 1 s backoff passed long ago


async def test_event_during_backoff_goes_to_backoff(queue: SchedulingQueue,
                                                    clock: Clock) -> None:
    queue.add(pod("a"))
    queue.add_unschedulable(await pop(queue))
    clock.now += 0.5
    queue.move_all("NodeAdd")
    assert queue.where("ns/a") == BACKOFF
    clock.now += 0.6
    queue.flush_backoff()
    assert queue.where("ns/a") == ACTIVE


async def test_unschedulable_moves_after_five_minutes(queue: SchedulingQueue,
                                                      clock: Clock) -> None:
    queue.add(pod("a"))
    queue.add_unschedulable(await pop(queue))
    clock.now += 299
    assert queue.flush_unschedulable() == 0
    clock.now += 2
    assert queue.flush_unschedulable() == 1
    assert queue.where("ns/a") == ACTIVE


async def test_event_while_in_flight_sends_failure_to_backoff(queue: SchedulingQueue) -> None:
    queue.add(pod("a"))
    queued = await pop(queue)
    queue.move_all("NodeAdd")  # nothing parked yet, but the cycle saw an old cluster
    queue.add_unschedulable(queued)
    assert queue.where("ns/a") == BACKOFF


async def test_update_while_in_flight_sends_failure_to_backoff(queue: SchedulingQueue) -> None:
    queue.add(pod("a"))
    queued = await pop(queue)
    queue.update(pod("a", nodeSelector={"disk": "ssd"}))
    queue.add_unschedulable(queued)
    assert queue.where("ns/a") == BACKOFF
    assert queued.pod["spec"]["nodeSelector"] == {"disk": "ssd"}


async def test_status_only_update_leaves_unschedulable_pod(queue: SchedulingQueue) -> None:
    queue.add(pod("a"))
    queue.add_unschedulable(await pop(queue))
    newer = pod("a")
    newer["metadata"]["resourceVersion"] = "2"
    newer["status"] = {"conditions": [{"type": "PodScheduled", "status": "False"}]}
    queue.update(newer)
    assert queue.where("ns/a") == UNSCHEDULABLE
    queue.update(pod("a", nodeSelector={"x": "y"}))
    assert queue.where("ns/a") in (ACTIVE, BACKOFF)


async def test_deleted_in_flight_pod_is_not_requeued(queue: SchedulingQueue) -> None:
    queue.add(pod("a"))
    queued = await pop(queue)
    queue.delete(pod("a"))
    queue.add_unschedulable(queued)
    assert queue.where("ns/a") is None
    assert queue.counts() == {ACTIVE: 0, BACKOFF: 0, UNSCHEDULABLE: 0, GATED: 0}


async def test_deleted_pod_is_never_popped(queue: SchedulingQueue) -> None:
    queue.add(pod("a"))
    queue.add(pod("b"))
    queue.delete(pod("a"))
    assert await names(queue) == ["b"]


async def test_gated_pod_waits_for_its_gates_to_go(queue: SchedulingQueue) -> None:
    queue.add(pod("a", schedulingGates=[{"name": "wait"}]))
    assert queue.where("ns/a") == GATED
    queue.move_all("NodeAdd")
    assert queue.where("ns/a") == GATED
    queue.update(pod("a"))
    assert queue.where("ns/a") == ACTIVE


async def test_pop_waits_and_close_wakes_it(queue: SchedulingQueue) -> None:
    waiting = asyncio.ensure_future(queue.pop())
    await asyncio.sleep(0)
    assert not waiting.done()
    queue.add(pod("a"))
    assert (await asyncio.wait_for(waiting, 1)) is not None
    waiting = asyncio.ensure_future(queue.pop())
    await asyncio.sleep(0)
    queue.close()
    assert await asyncio.wait_for(waiting, 1) is None


async def test_done_pod_is_forgotten(queue: SchedulingQueue) -> None:
    queue.add(pod("a"))
    queued = await pop(queue)
    assert queue.where("ns/a") == "in flight"
    queue.done(queued)
    assert queue.where("ns/a") is None


async def test_activate_retries_at_once(queue: SchedulingQueue) -> None:
    queue.add(pod("a"))
    queue.activate(await pop(queue))
    assert queue.where("ns/a") == ACTIVE


async def test_move_only_the_pods_an_event_may_help(queue: SchedulingQueue,
                                                     clock: Clock) -> None:
    queue.add(pod("plain"))
    queue.add(pod("spread", topologySpreadConstraints=[{"maxSkew": 1}]))
    queue.add_unschedulable(await pop(queue))
    queue.add_unschedulable(await pop(queue))
    clock.now += 5
    assert queue.move_all("AssignedPodAdd",
                          only=lambda p: "topologySpreadConstraints" in p["spec"]) == 1
    assert queue.where("ns/spread") == ACTIVE
    assert queue.where("ns/plain") == UNSCHEDULABLE
