"""The storage contract, proved once for every backend (sqlite and a real etcd).

Same tests, same assertions: key semantics and their exceptions, revisions, paged and
historical lists, compaction, watch replay and live delivery, and behaviour under concurrent
writers, watchers and read-modify-write races.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING

import pytest

from servers.apiserver.storage.interface import (
    Compacted,
    Event,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    KeyValue,
    RevisionMismatch,
    Unavailable,
    WatchClosed,
)

if TYPE_CHECKING:
    from servers.apiserver.storage.interface import Storage

WAIT = 10.0


async def take(watch: AsyncIterator[Event], count: int) -> list[Event]:
    """The next count events of a watch (failing the test if they do not come)."""
    return [await asyncio.wait_for(anext(watch), WAIT) for _ in range(count)]


async def fill(store: Storage, prefix: str, names: list[str]) -> dict[str, int]:
    """Create prefix+name = name for each name; their revisions."""
    return {name: await store.create(prefix + name, name.encode()) for name in names}


# -- create, get, update, delete -----------------------------------------------------------


async def test_create_then_get_returns_value_and_revisions(store: Storage, prefix: str) -> None:
    rev = await store.create(prefix + "a", b"\x00value\xff")
    assert await store.get(prefix + "a") == KeyValue(prefix + "a", b"\x00value\xff", rev, rev)
    assert await store.current_revision() >= rev


async def test_create_of_existing_key_raises_key_exists(store: Storage, prefix: str) -> None:
    await store.create(prefix + "a", b"1")
    with pytest.raises(KeyExists) as info:
        await store.create(prefix + "a", b"2")
    assert info.value.key == prefix + "a"
    assert (await store.get(prefix + "a")).value == b"1"


async def test_get_of_missing_key_raises_key_not_found(store: Storage, prefix: str) -> None:
    with pytest.raises(KeyNotFound):
        await store.get(prefix + "missing")


async def test_update_with_current_revision_replaces_value(store: Storage, prefix: str) -> None:
    created = await store.create(prefix + "a", b"1")
    updated = await store.update(prefix + "a", b"2", created)
    assert updated > created
    assert await store.get(prefix + "a") == KeyValue(prefix + "a", b"2", created, updated)


async def test_update_with_stale_revision_raises_mismatch_carrying_current(
    store: Storage, prefix: str
) -> None:
    created = await store.create(prefix + "a", b"1")
    updated = await store.update(prefix + "a", b"2", created)
    for stale in (created, 0, updated + 1000):
        with pytest.raises(RevisionMismatch) as info:
            await store.update(prefix + "a", b"3", stale)
        assert info.value.current == KeyValue(prefix + "a", b"2", created, updated)
    assert (await store.get(prefix + "a")).value == b"2"


async def test_update_of_missing_key_raises_key_not_found(store: Storage, prefix: str) -> None:
    with pytest.raises(KeyNotFound):
        await store.update(prefix + "missing", b"1", 1)


async def test_delete_returns_last_value_at_the_delete_revision(
    store: Storage, prefix: str
) -> None:
    created = await store.create(prefix + "a", b"1")
    gone = await store.delete(prefix + "a")
    assert gone.value == b"1"
    assert gone.create_revision == created
    assert gone.mod_revision > created
    with pytest.raises(KeyNotFound):
        await store.get(prefix + "a")
    with pytest.raises(KeyNotFound):
        await store.delete(prefix + "a")


async def test_delete_with_expected_revision(store: Storage, prefix: str) -> None:
    created = await store.create(prefix + "a", b"1")
    updated = await store.update(prefix + "a", b"2", created)
    with pytest.raises(RevisionMismatch) as info:
        await store.delete(prefix + "a", expected_rev=created)
    assert info.value.current == KeyValue(prefix + "a", b"2", created, updated)
    gone = await store.delete(prefix + "a", expected_rev=updated)
    assert (gone.value, gone.create_revision) == (b"2", created)
    assert gone.mod_revision > updated
    with pytest.raises(KeyNotFound):
        await store.delete(prefix + "a", expected_rev=gone.mod_revision)


async def test_key_can_be_created_again_after_delete(store: Storage, prefix: str) -> None:
    await store.create(prefix + "a", b"1")
    gone = await store.delete(prefix + "a")
    again = await store.create(prefix + "a", b"2")
    assert again > gone.mod_revision
    assert await store.get(prefix + "a") == KeyValue(prefix + "a", b"2", again, again)


async def test_revisions_strictly_increase_across_all_writes(store: Storage, prefix: str) -> None:
    start = await store.current_revision()
    revs = [await store.create(prefix + "a", b"1")]
    revs.append(await store.update(prefix + "a", b"2", revs[-1]))
    revs.append(await store.create(prefix + "b", b"1"))
    revs.append((await store.delete(prefix + "a")).mod_revision)
    revs.append(await store.create(prefix + "a", b"3"))
    assert start < revs[0]
    assert revs == sorted(set(revs))  # strictly increasing
    assert await store.current_revision() >= revs[-1]


# -- list ----------------------------------------------------------------------------------


async def test_list_returns_live_keys_under_prefix_sorted(store: Storage, prefix: str) -> None:
    await fill(store, prefix, ["c", "a", "b/x", "d"])
    await store.delete(prefix + "d")
    await store.create(prefix[:-1] + "0", b"sibling")  # just past the prefix
    await store.create(prefix[:-1], b"parent")  # the prefix without its slash
    result = await store.list(prefix)
    assert [kv.key for kv in result.items] == [prefix + k for k in ("a", "b/x", "c")]
    assert [kv.value for kv in result.items] == [b"a", b"b/x", b"c"]
    assert (result.more, result.remaining) == (False, 0)
    assert result.revision == await store.current_revision()


async def test_list_pages_at_a_fixed_revision(store: Storage, prefix: str) -> None:
    await fill(store, prefix, ["a", "b", "c", "d", "e"])
    page1 = await store.list(prefix, limit=2)
    assert [kv.key for kv in page1.items] == [prefix + "a", prefix + "b"]
    assert (page1.more, page1.remaining) == (True, 3)
    # Writes between pages must not show in page 2, read at page 1's revision.
    await store.create(prefix + "bb", b"new")
    await store.delete(prefix + "c")
    after = page1.items[-1].key + "\0"
    page2 = await store.list(prefix, limit=2, start_key=after, at_rev=page1.revision)
    assert [kv.key for kv in page2.items] == [prefix + "c", prefix + "d"]
    assert (page2.more, page2.remaining, page2.revision) == (True, 1, page1.revision)
    page3 = await store.list(prefix, limit=2, start_key=prefix + "d\0", at_rev=page1.revision)
    assert [kv.key for kv in page3.items] == [prefix + "e"]
    assert (page3.more, page3.remaining) == (False, 0)


async def test_list_with_start_key_is_inclusive(store: Storage, prefix: str) -> None:
    await fill(store, prefix, ["a", "b", "c"])
    result = await store.list(prefix, start_key=prefix + "b")
    assert [kv.key for kv in result.items] == [prefix + "b", prefix + "c"]


async def test_list_at_an_old_revision_shows_the_old_state(store: Storage, prefix: str) -> None:
    revs = await fill(store, prefix, ["a", "b"])
    old = await store.current_revision()
    await store.update(prefix + "a", b"a2", revs["a"])
    await store.delete(prefix + "b")
    await store.create(prefix + "c", b"c")
    result = await store.list(prefix, at_rev=old)
    assert result.items == [
        KeyValue(prefix + "a", b"a", revs["a"], revs["a"]),
        KeyValue(prefix + "b", b"b", revs["b"], revs["b"]),
    ]
    assert result.revision == old
    now = await store.list(prefix)
    assert [(kv.key, kv.value) for kv in now.items] == [(prefix + "a", b"a2"), (prefix + "c", b"c")]


async def test_list_at_a_future_revision_raises(store: Storage, prefix: str) -> None:
    current = await store.current_revision()
    with pytest.raises(FutureRevision):
        await store.list(prefix, at_rev=current + 1000)


# -- compaction ----------------------------------------------------------------------------


async def test_compaction_makes_older_revisions_unreadable(store: Storage, prefix: str) -> None:
    revs = await fill(store, prefix, ["a", "b"])
    await store.update(prefix + "a", b"a2", revs["a"])
    await store.delete(prefix + "b")
    compact_at = await store.create(prefix + "c", b"c")
    await store.create(prefix + "d", b"d")
    await store.compact(compact_at)
    with pytest.raises(Compacted) as info:
        await store.list(prefix, at_rev=revs["b"])
    assert (info.value.requested_rev, info.value.compact_rev) == (revs["b"], compact_at)
    with pytest.raises(Compacted):
        async with aclosing(store.watch(prefix, revs["a"])) as watch:
            await anext(watch)
    # The state at the compacted revision, and everything after it, is still there.
    at = await store.list(prefix, at_rev=compact_at)
    assert [(kv.key, kv.value) for kv in at.items] == [(prefix + "a", b"a2"), (prefix + "c", b"c")]
    async with aclosing(store.watch(prefix, compact_at)) as watch:
        [event] = await take(watch, 1)
    assert event.kv.key == prefix + "d"
    await store.compact(revs["a"])  # older than the last compaction: nothing to do


# -- watch ---------------------------------------------------------------------------------


async def test_watch_from_a_revision_replays_later_events_once_in_order(
    store: Storage, prefix: str
) -> None:
    revs = await fill(store, prefix, ["a", "b", "c"])
    updated = await store.update(prefix + "a", b"a2", revs["a"])
    gone = await store.delete(prefix + "b")
    async with aclosing(store.watch(prefix, revs["b"])) as watch:
        events = await take(watch, 3)
        marker = await store.create(prefix + "z", b"marker")
        [next_event] = await take(watch, 1)
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events] == [
        ("PUT", prefix + "c", revs["c"]),
        ("PUT", prefix + "a", updated),
        ("DELETE", prefix + "b", gone.mod_revision),
    ]
    assert events[1].prev_kv == KeyValue(prefix + "a", b"a", revs["a"], revs["a"])
    assert events[2].kv == KeyValue(prefix + "b", b"b", revs["b"], gone.mod_revision)
    assert (next_event.kv.key, next_event.kv.mod_revision) == (prefix + "z", marker)


async def test_watch_sees_live_creates_updates_and_deletes(store: Storage, prefix: str) -> None:
    start = await store.current_revision()
    async with aclosing(store.watch(prefix, start)) as watch:
        waiting = asyncio.ensure_future(take(watch, 3))
        await asyncio.sleep(0.05)
        created = await store.create(prefix + "a", b"1")
        updated = await store.update(prefix + "a", b"2", created)
        gone = await store.delete(prefix + "a", expected_rev=updated)
        create, update, delete = await waiting
    assert create == Event("PUT", KeyValue(prefix + "a", b"1", created, created), None)
    assert update == Event(
        "PUT",
        KeyValue(prefix + "a", b"2", created, updated),
        KeyValue(prefix + "a", b"1", created, created),
    )
    assert delete.type == "DELETE"
    assert delete.kv == KeyValue(prefix + "a", b"2", created, gone.mod_revision)
    assert delete.prev_kv == KeyValue(prefix + "a", b"2", created, updated)


async def test_watch_only_sees_its_prefix(store: Storage, prefix: str) -> None:
    start = await store.current_revision()
    async with aclosing(store.watch(prefix + "in/", start)) as watch:
        await store.create(prefix + "out", b"x")
        await store.create(prefix + "in", b"x")
        await store.create(prefix + "in0", b"x")
        inside = await store.create(prefix + "in/a", b"x")
        [event] = await take(watch, 1)
    assert (event.kv.key, event.kv.mod_revision) == (prefix + "in/a", inside)


async def test_watch_from_a_future_revision_waits_for_it(store: Storage, prefix: str) -> None:
    first = await store.create(prefix + "a", b"1")
    async with aclosing(store.watch(prefix, first + 1)) as watch:
        waiting = asyncio.ensure_future(take(watch, 1))
        await store.update(prefix + "a", b"2", first)  # revision first + 1: not after it
        third = await store.create(prefix + "b", b"1")
        [event] = await waiting
    assert event.kv.mod_revision == third


async def test_closing_a_watch_mid_stream_is_clean(store: Storage, prefix: str) -> None:
    start = await store.current_revision()
    watch = store.watch(prefix, start)
    await fill(store, prefix, ["a", "b", "c"])
    await take(watch, 1)
    await watch.aclose()
    consumer = asyncio.ensure_future(take(store.watch(prefix, start), 100))
    await asyncio.sleep(0.05)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer


# -- concurrency ---------------------------------------------------------------------------


async def test_concurrent_writers_and_watchers_see_every_event_once_in_order(
    store: Storage, prefix: str
) -> None:
    writers, per_writer = 8, 25
    start = await store.current_revision()

    async def writer(n: int) -> list[int]:
        key = f"{prefix}w{n}"
        revs = [await store.create(key, b"0")]
        for i in range(1, per_writer - 1):
            revs.append(await store.update(key, str(i).encode(), revs[-1]))
        revs.append((await store.delete(key, expected_rev=revs[-1])).mod_revision)
        return revs

    async def watcher() -> list[Event]:
        async with aclosing(store.watch(prefix, start)) as watch:
            return await take(watch, writers * per_writer)

    watching = [asyncio.ensure_future(watcher()) for _ in range(3)]
    await asyncio.sleep(0.05)
    written = await asyncio.gather(*(writer(n) for n in range(writers)))
    acked = sorted(rev for revs in written for rev in revs)
    assert len(set(acked)) == len(acked)
    late = await watcher()  # a watcher started afterwards replays the same history
    for events in [*await asyncio.gather(*watching), late]:
        assert [e.kv.mod_revision for e in events] == acked
        for n in range(writers):
            mine = [e for e in events if e.kv.key == f"{prefix}w{n}"]
            assert [e.type for e in mine] == ["PUT"] * (per_writer - 1) + ["DELETE"]
            assert [e.kv.value for e in mine[:-1]] == [b"0"] + [
                str(i).encode() for i in range(1, per_writer - 1)
            ]


async def test_a_failing_write_does_not_fail_its_concurrent_neighbours(
    store: Storage, prefix: str
) -> None:
    duplicates = [store.create(prefix + "dup", str(n).encode()) for n in range(10)]
    distinct = [store.create(f"{prefix}k{n}", b"x") for n in range(10)]
    results = await asyncio.gather(*duplicates, *distinct, return_exceptions=True)
    dup_results, distinct_results = results[:10], results[10:]
    assert sum(isinstance(r, int) for r in dup_results) == 1
    assert sum(isinstance(r, KeyExists) for r in dup_results) == 9
    assert all(isinstance(r, int) for r in distinct_results)
    assert len({r for r in results if isinstance(r, int)}) == 11  # 11 distinct revisions


async def test_concurrent_read_modify_write_has_exactly_one_winner(
    store: Storage, prefix: str
) -> None:
    created = await store.create(prefix + "counter", b"0")
    # Everyone reads the same version, then everyone writes back at once.
    reads = await asyncio.gather(*(store.get(prefix + "counter") for _ in range(20)))
    assert {kv.mod_revision for kv in reads} == {created}

    async def write(n: int, read: KeyValue) -> int | None:
        try:
            return await store.update(prefix + "counter", str(n).encode(), read.mod_revision)
        except RevisionMismatch as exc:
            assert exc.current is not None
            assert exc.current.mod_revision > created
            return None

    results = await asyncio.gather(*(write(n, read) for n, read in enumerate(reads)))
    winners = [(n, rev) for n, rev in enumerate(results) if rev is not None]
    assert len(winners) == 1
    [(winner, rev)] = winners
    assert await store.get(prefix + "counter") == KeyValue(
        prefix + "counter", str(winner).encode(), created, rev
    )


async def test_close_ends_open_watches_and_refuses_calls(store: Storage, prefix: str) -> None:
    start = await store.current_revision()
    async with aclosing(store.watch(prefix, start)) as watch:
        await store.create(prefix + "a", b"1")
        await take(watch, 1)  # the watch is running
        pending = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0.05)
        await store.close()
        with pytest.raises(WatchClosed, match="closed"):
            await asyncio.wait_for(pending, WAIT)
    with pytest.raises(Unavailable, match="closed"):
        await store.get(prefix + "a")
    with pytest.raises(Unavailable, match="closed"):
        await anext(store.watch(prefix, start))
    await store.close()  # closing twice is harmless
