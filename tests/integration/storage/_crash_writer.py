"""Child process for the crash test: concurrent writes to a SQLite store until killed.

    python _crash_writer.py DATA_DIR

Each of WRITERS tasks creates its own keys and updates each once; after every acknowledged
write it prints ``<key> <revision> <value>`` (flushed), so the parent knows exactly which writes
were acknowledged when it sends SIGKILL.
"""

from __future__ import annotations

import asyncio
import sys

from servers.apiserver.storage import sqlite

WRITERS = 32


async def writer(store: sqlite.SQLiteStorage, n: int) -> None:
    i = 0
    while True:
        key = f"/crash/w{n}/k{i}"
        rev = await store.create(key, b"v1")
        print(key, rev, "v1", flush=True)
        rev = await store.update(key, b"v2", rev)
        print(key, rev, "v2", flush=True)
        i += 1


async def main(data_dir: str) -> None:
    store = await sqlite.open(data_dir)
    print("ready", flush=True)
    await asyncio.gather(*(writer(store, n) for n in range(WRITERS)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
