"""Informer against the fake apiserver: sync, events, bookmarks, Gone, restarts, backoff."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from servers.client.informer import Backoff, Informer, SharedInformerFactory, object_key
from servers.client.resources import NODES, PODS
from servers.client.rest import Client
from tests.support.wait import eventually
from tests.unit.client.fakeapi import FakeApi, Obj, pod

pytestmark = pytest.mark.timeout(20)


class Recorder:
    """Handlers that write down what they saw, as (event, key, resourceVersion)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []
        self.changed = asyncio.Event()

    def note(self, event: str, obj: Obj) -> None:
        self.seen.append((event, object_key(obj), obj["metadata"]["resourceVersion"]))
        self.changed.set()

    def on_add(self, obj: Obj) -> None:
        self.note("add", obj)

    async def on_update(self, old: Obj, new: Obj) -> None:  # async handlers work too
        assert object_key(old) == object_key(new)
        self.note("update", new)

    def on_delete(self, obj: Obj) -> None:
        self.note("delete", obj)

    def register(self, informer: Informer) -> None:
        informer.add_handler(self.on_add, self.on_update, self.on_delete)

    async def until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async def wait() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(wait(), timeout)

    def events(self) -> list[tuple[str, str]]:
        return [(event, key) for event, key, _ in self.seen]


class Running:
    """An informer running in a task until the test ends."""

    def __init__(self, informer: Informer) -> None:
        self.informer = informer
        self.stop = asyncio.Event()
        self.task = asyncio.ensure_future(informer.run(self.stop))

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 5)


@pytest.fixture
async def start(client: Client) -> AsyncIterator[Callable[..., Running]]:
    started: list[Running] = []

    def make(resource: Any = PODS, **kwargs: Any) -> Running:
        kwargs.setdefault("backoff", Backoff(initial=0.05, cap=0.2))
        running = Running(Informer(client, resource, **kwargs))
        started.append(running)
        return running

    yield make
    for running in started:
        if not running.task.done():
            await running.finish()


async def test_sync_lists_then_watches_and_calls_handlers(
        api: FakeApi, start: Callable[..., Running]) -> None:
    api.put("pods", pod("a"))
    api.put("pods", pod("b", "other"))
    recorder = Recorder()
    running = start(PODS, namespace="default", page_size=1)
    recorder.register(running.informer)
    assert await running.informer.wait_synced(5)
    assert running.informer.has_synced()
    assert recorder.events() == [("add", "default/a")]
    cached = running.informer.get("a", "default")
    assert cached is not None and cached["kind"] == "Pod"  # list items get their kind back
    api.put("pods", {**pod("a"), "spec": {"changed": True}})
    api.put("pods", pod("c"))
    api.remove("pods", "a", "default")
    await recorder.until(lambda: len(recorder.seen) == 4)
    assert recorder.events() == [("add", "default/a"), ("update", "default/a"),
                                 ("add", "default/c"), ("delete", "default/a")]
    assert running.informer.keys() == ["default/c"]
    assert running.informer.resource_version == str(api.revision)
    watch = next(r for r in api.requests if r.query.get("watch"))
    assert watch.query["resourceVersion"] == "102"
    assert watch.query["allowWatchBookmarks"] == "true"
    assert 300 <= int(watch.query["timeoutSeconds"]) <= 600


async def test_cluster_scoped_keys_are_names(api: FakeApi, start: Callable[..., Running]) -> None:
    api.put("nodes", {"metadata": {"name": "n1"}})
    running = start(NODES)
    assert await running.informer.wait_synced(5)
    assert running.informer.get("n1") is not None
    assert [o["metadata"]["name"] for o in running.informer.list()] == ["n1"]


async def test_bookmark_only_moves_the_resource_version(
        api: FakeApi, start: Callable[..., Running]) -> None:
    recorder = Recorder()
    running = start()
    recorder.register(running.informer)
    assert await running.informer.wait_synced(5)
    api.put("pods", pod("a"))
    await recorder.until(lambda: len(recorder.seen) == 1)
    api.bookmark("pods")
    for _ in range(100):
        if running.informer.resource_version == str(api.revision):
            break
        await asyncio.sleep(0.01)
    assert running.informer.resource_version == str(api.revision)
    assert recorder.events() == [("add", "default/a")]


async def test_gone_relists_and_emits_the_differences(
        api: FakeApi, start: Callable[..., Running]) -> None:
    for name in ("keep", "change", "drop"):
        api.put("pods", pod(name))
    recorder = Recorder()
    running = start()
    recorder.register(running.informer)
    assert await running.informer.wait_synced(5)
    await api.stop()  # the watch ends; what happens next is hidden from the informer
    api.put("pods", {**pod("change"), "spec": {"v": 2}})
    api.remove("pods", "drop", "default")
    api.put("pods", pod("new"))
    api.compact()  # the informer's resourceVersion is now too old: 410 on its next watch
    await api.start()
    await recorder.until(lambda: len(recorder.seen) == 6)
    assert sorted(recorder.events()[3:]) == [
        ("add", "default/new"), ("delete", "default/drop"), ("update", "default/change")]
    assert sorted(running.informer.keys()) == ["default/change", "default/keep", "default/new"]
    relists = [r for r in api.requests if not r.query.get("watch")]
    assert len(relists) == 2


async def test_restart_resumes_the_watch_from_the_last_resource_version(
        api: FakeApi, start: Callable[..., Running]) -> None:
    api.put("pods", pod("a"))
    recorder = Recorder()
    running = start()
    recorder.register(running.informer)
    assert await running.informer.wait_synced(5)
    await api.stop()
    last = running.informer.resource_version
    await asyncio.sleep(0.3)  # a few refused reconnects
    api.put("pods", pod("b"))
    await api.start()
    await recorder.until(lambda: len(recorder.seen) == 2)
    assert recorder.events() == [("add", "default/a"), ("add", "default/b")]
    assert len([r for r in api.requests if not r.query.get("watch")]) == 1  # no relist
    assert [r for r in api.requests if r.query.get("watch")][-1].query["resourceVersion"] == last


async def test_a_down_apiserver_is_retried_with_bounded_backoff(
        api: FakeApi, client: Client) -> None:
    await api.stop()
    attempts: list[float] = []
    original = client.list_all

    async def counting(*args: Any, **kwargs: Any) -> Obj:
        attempts.append(asyncio.get_running_loop().time())
        return await original(*args, **kwargs)

    client.list_all = counting  # type: ignore[method-assign]
    running = Running(Informer(client, PODS, backoff=Backoff(initial=0.05, cap=0.2)))
    await asyncio.sleep(1.0)
    assert not running.informer.has_synced()
    assert len(attempts) <= 20  # 0.05, 0.1, 0.2, 0.2, ... with jitter: not a busy loop
    # and it keeps trying (a stall only slows it)
    await eventually(lambda: len(attempts) >= 4, "4 list attempts", 10.0, 0.01)
    await api.start()
    assert await running.informer.wait_synced(5)
    await running.finish()


async def test_a_watch_closed_at_once_does_not_spin(api: FakeApi, client: Client) -> None:
    api.close_watches = True
    running = Running(Informer(client, PODS, backoff=Backoff(initial=0.05, cap=0.2)))
    await asyncio.sleep(1.0)

    def watches() -> int:
        return len([r for r in api.requests if r.query.get("watch")])

    assert watches() <= 20  # backed off, not a busy loop
    # and it keeps watching (a stall only slows it)
    await eventually(lambda: watches() >= 4, "4 watches", 10.0, 0.01)
    await running.finish()
    assert running.informer.has_synced()


async def test_an_empty_list_answer_is_retried_not_fatal(api: FakeApi, client: Client) -> None:
    api.canned[("GET", "/api/v1/pods")] = (200, b"", "application/json")
    running = Running(Informer(client, PODS, backoff=Backoff(initial=0.05, cap=0.2)))
    await asyncio.sleep(0.3)
    assert not running.informer.has_synced() and not running.task.done()
    del api.canned[("GET", "/api/v1/pods")]
    assert await running.informer.wait_synced(5)
    await running.finish()


async def test_stop_ends_run_promptly_even_mid_watch(start: Callable[..., Running]) -> None:
    running = start()
    assert await running.informer.wait_synced(5)
    await asyncio.sleep(0.1)
    await running.finish()
    assert running.task.result() is None


async def test_a_handler_exception_ends_run(api: FakeApi, start: Callable[..., Running]) -> None:
    def explode(obj: Obj) -> None:
        raise LookupError(obj["metadata"]["name"])

    running = start()
    running.informer.add_handler(on_add=explode)
    api.put("pods", pod("a"))
    with pytest.raises(LookupError, match="a"):
        await asyncio.wait_for(running.task, 5)


async def test_a_late_handler_first_gets_the_cache(api: FakeApi,
                                                   start: Callable[..., Running]) -> None:
    api.put("pods", pod("a"))
    running = start()
    assert await running.informer.wait_synced(5)
    late = Recorder()
    late.register(running.informer)
    api.put("pods", pod("b"))
    await late.until(lambda: len(late.seen) == 2)
    assert late.events() == [("add", "default/a"), ("add", "default/b")]


async def test_a_late_handler_exception_ends_run(api: FakeApi,
                                                 start: Callable[..., Running]) -> None:
    api.put("pods", pod("a"))
    running = start()
    assert await running.informer.wait_synced(5)
    running.informer.add_handler(on_add=lambda obj: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        await asyncio.wait_for(running.task, 5)


async def test_run_twice_is_refused(start: Callable[..., Running]) -> None:
    running = start()
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="already running"):
        await running.informer.run(asyncio.Event())


async def test_wait_synced_times_out(client: Client) -> None:
    assert not await Informer(client, PODS).wait_synced(0.05)


async def test_factory_shares_one_informer_per_resource(api: FakeApi, client: Client) -> None:
    api.put("pods", pod("a"))
    factory = SharedInformerFactory(client, backoff=Backoff(initial=0.05, cap=0.2))
    pods = factory.informer(PODS)
    assert factory.informer(PODS) is pods
    assert factory.informer(PODS, namespace="default") is not pods
    assert factory.informer(NODES).backoff is not pods.backoff
    first, second = Recorder(), Recorder()
    first.register(pods)
    stop = asyncio.Event()
    factory.start(stop)
    second.register(factory.informer(PODS))
    assert await factory.wait_synced(5)
    factory.start(stop)  # idempotent
    nodes = factory.informer(NODES)
    factory.start(stop)
    assert await nodes.wait_synced(5)
    await second.until(lambda: len(second.seen) == 1)
    assert first.events() == second.events() == [("add", "default/a")]
    stop.set()
    await asyncio.wait_for(factory.join(), 5)
    assert await SharedInformerFactory(client).wait_synced(0.01)  # nothing to wait for


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    backoff = Backoff(initial=0.2, cap=5.0, jitter=0.5)
    delays = [backoff.next() for _ in range(100)]
    steps = [0.2, 0.4, 0.8, 1.6, 3.2] + [5.0] * 95
    assert all(step / 2 <= delay <= step for delay, step in zip(delays, steps, strict=True))
    assert len(set(delays)) > 90
    backoff.reset()
    assert backoff.next() <= 0.2
