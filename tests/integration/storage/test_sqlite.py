"""What only the SQLite backend promises: crash durability, its lock, its data dir, its watchers.

The crash test runs ``_crash_writer.py`` as a real child process doing concurrent writes and
kills it with SIGKILL mid-burst; every write it acknowledged must be there after reopening.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
from contextlib import aclosing, closing
from pathlib import Path

import pytest

from servers.apiserver.storage import sqlite
from servers.apiserver.storage.interface import Compacted, Unavailable, WatchClosed

ROOT = Path(__file__).resolve().parents[3]
CRASH_WRITER = Path(__file__).with_name("_crash_writer.py")
WAIT = 10.0


async def test_slow_watcher_is_closed_rather_than_losing_events(tmp_path: Path) -> None:
    store = await sqlite.open(str(tmp_path), watch_buffer=5)
    try:
        async with aclosing(store.watch("/k/", 0)) as watch:
            first = asyncio.ensure_future(anext(watch))
            await asyncio.sleep(0)
            await store.create("/k/0", b"0")
            assert (await asyncio.wait_for(first, WAIT)).kv.key == "/k/0"
            for i in range(1, 5):  # within the bound: all buffered
                await store.create(f"/k/{i}", b"x")
            assert [(await anext(watch)).kv.key for _ in range(4)] == [
                f"/k/{i}" for i in range(1, 5)
            ]
            await asyncio.gather(*(store.create(f"/k/{i}", b"x") for i in range(5, 12)))
            assert store.watchers == 0  # dropped from the hub as soon as it overflowed
            with pytest.raises(WatchClosed, match="behind"):
                await anext(watch)
    finally:
        await store.close()


async def test_concurrent_writes_share_commits(tmp_path: Path) -> None:
    store = await sqlite.open(str(tmp_path))
    try:
        before = store.commits
        revs = await asyncio.gather(*(store.create(f"/k/{i}", b"x") for i in range(500)))
        assert sorted(revs) == list(range(1, 501))
        assert store.commits - before < 100  # grouped: far fewer fsyncs than writes
    finally:
        await store.close()


async def test_replay_spans_several_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite, "REPLAY_PAGE", 3)
    store = await sqlite.open(str(tmp_path))
    try:
        revs = []
        for i in range(10):
            revs.append(await store.create(f"/in/{i}", b"x"))
            await store.create(f"/out/{i}", b"x")
        async with aclosing(store.watch("/in/", 0)) as watch:
            seen = [(await asyncio.wait_for(anext(watch), WAIT)).kv.mod_revision for _ in revs]
            live = await store.create("/in/live", b"x")
            assert (await asyncio.wait_for(anext(watch), WAIT)).kv.mod_revision == live
        assert seen == revs
    finally:
        await store.close()


async def test_thousands_of_idle_watchers_cost_no_threads(tmp_path: Path) -> None:
    store = await sqlite.open(str(tmp_path))
    try:
        threads = threading.active_count()
        watches = [store.watch("/k/", 0) for _ in range(2000)]
        waiting = [asyncio.ensure_future(anext(w)) for w in watches]
        await asyncio.sleep(0.05)
        assert store.watchers == 2000
        assert threading.active_count() == threads
        rev = await store.create("/k/a", b"x")
        events = await asyncio.wait_for(asyncio.gather(*waiting), WAIT)
        assert {e.kv.mod_revision for e in events} == {rev}
        await asyncio.gather(*(w.aclose() for w in watches))
        assert store.watchers == 0
    finally:
        await store.close()


async def test_cancelled_and_closed_watches_unregister(tmp_path: Path) -> None:
    store = await sqlite.open(str(tmp_path))
    try:
        consumer = asyncio.ensure_future(anext(store.watch("/k/", 0)))
        await asyncio.sleep(0.01)
        assert store.watchers == 1
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        assert store.watchers == 0
    finally:
        await store.close()


async def test_second_opener_of_a_data_dir_is_refused(tmp_path: Path) -> None:
    store = await sqlite.open(str(tmp_path))
    try:
        with pytest.raises(Unavailable, match="in use by another process"):
            await sqlite.open(str(tmp_path))
    finally:
        await store.close()
    again = await sqlite.open(str(tmp_path))  # released on close
    await again.close()


async def test_data_dir_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(Unavailable, match=r"cannot use data dir .*file/data: Not a directory"):
        await sqlite.open(str(tmp_path / "file" / "data"))


async def test_unwritable_data_dir_is_a_clear_error() -> None:
    # /proc refuses new folders even to root, so this holds for every user the tests run as.
    with pytest.raises(Unavailable, match=r"cannot use data dir /proc/km-test-data"):
        await sqlite.open("/proc/km-test-data")


async def test_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / sqlite.DB_FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(Unavailable, match=r"cannot open sqlite database .*not a database"):
        await sqlite.open(str(tmp_path))
    (tmp_path / sqlite.DB_FILE).unlink()
    store = await sqlite.open(str(tmp_path))  # the failed open released its lock
    await store.close()


async def test_reopen_keeps_data_revision_and_compaction(tmp_path: Path) -> None:
    store = await sqlite.open(str(tmp_path))
    first = await store.create("/k/a", b"1")
    await store.update("/k/a", b"2", first)
    last = (await store.delete("/k/a")).mod_revision
    await store.compact(last)  # the newest row, a tombstone, is gone now
    await store.close()
    store = await sqlite.open(str(tmp_path))
    try:
        assert await store.current_revision() == last
        with pytest.raises(Compacted):
            await store.list("/k/", at_rev=first)
        assert await store.create("/k/a", b"3") == last + 1
    finally:
        await store.close()


async def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    acked = await _run_and_kill(data, min_acks=3000)
    store = await sqlite.open(str(data))
    try:
        for key, (rev, value) in acked.items():
            kv = await store.get(key)
            assert kv.mod_revision >= rev, key
            if kv.mod_revision == rev:
                assert kv.value == value, key
        newest = max(rev for rev, _ in acked.values())
        assert await store.current_revision() >= newest
        assert await store.create("/after/crash", b"x") > newest
    finally:
        await store.close()
    with closing(sqlite3.connect(data / sqlite.DB_FILE)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def _run_and_kill(data: Path, min_acks: int) -> dict[str, tuple[int, bytes]]:
    """Run the crash writer until min_acks writes are acknowledged, SIGKILL it mid-burst."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(CRASH_WRITER), str(data), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        ready = await asyncio.wait_for(proc.stdout.readline(), WAIT)
        assert ready == b"ready\n", (ready, await proc.stderr.read())
        lines = [await asyncio.wait_for(proc.stdout.readline(), WAIT) for _ in range(min_acks)]
    finally:
        proc.kill()
    lines += (await proc.stdout.read()).splitlines(keepends=True)
    await proc.stderr.read()
    assert await proc.wait() == -9
    acked: dict[str, tuple[int, bytes]] = {}
    for line in lines:
        if line.endswith(b"\n"):  # a torn last line was not a complete acknowledgement
            key, rev, value = line.decode().split()
            acked[key] = max(acked.get(key, (0, b"")), (int(rev), value.encode()))
    return acked
