"""The SQLite data dir on a small filesystem that fills up (issue 13's fault): the built
km.pyz apiserver refuses writes with a clear 5xx Status while there is no space, keeps
answering reads, loses nothing it acknowledged, and takes writes again once space returns —
also after a kill -9 and a restart on the same files, which SQLite's own integrity check
then passes.

The filesystem is a 16 MiB tmpfs mounted by the test (root) on its own temporary folder and
unmounted after; everything listens on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from tests.support.apiserver import ApiServer, start_apiserver

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
CHUNK = 64 * 1024  # each ConfigMap carries this much data
MAX_WRITES = 400  # 25 MiB of writes: more than the filesystem holds


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.fail("mounting the test's own small filesystem needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "km-test-small",
                    str(mount)], check=True, timeout=30)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, timeout=30)


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"blob": name[0] * CHUNK}}


def call(http: urllib3.PoolManager, api: ApiServer, method: str, path: str,
         body: Any = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    resp = http.request(method, api.url + path, body=data,
                        headers={"Content-Type": "application/json"}, timeout=30,
                        retries=False)
    return resp.status, json.loads(resp.data)


def fill(folder: Path) -> Path:
    """Take every free byte of ``folder``'s filesystem with one file; return it."""
    filler = folder / "filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        block = b"\0" * (1 << 20)
        for _ in range(64):
            out.write(block)
            out.flush()
        # what a whole MiB no longer fits in, a byte at a time would: fill to the end
        while True:
            out.write(b"\0" * 4096)
            out.flush()
    return filler


def test_a_full_filesystem_refuses_writes_clearly_and_loses_nothing(
        km: Path, small_fs: Path) -> None:
    http = urllib3.PoolManager()
    data_dir = small_fs / "data"
    with start_apiserver(data_dir, km=km) as api:
        acked: dict[str, str] = {}  # name -> resourceVersion of every 201
        status, body = call(http, api, "POST", CONFIGMAPS, configmap("a-before"))
        assert status == 201, body
        acked["a-before"] = body["metadata"]["resourceVersion"]
        filler = fill(small_fs)

        refused: tuple[int, dict[str, Any]] | None = None
        for i in range(MAX_WRITES):  # the WAL may still have room for a few
            name = f"b-{i:03d}"
            status, body = call(http, api, "POST", CONFIGMAPS, configmap(name))
            if status == 201:
                acked[name] = body["metadata"]["resourceVersion"]
                continue
            refused = (status, body)
            break
        assert refused is not None, "every write succeeded on a full filesystem"
        status, body = refused
        assert 500 <= status < 600, body
        assert body["kind"] == "Status" and body["status"] == "Failure"
        assert "full" in body["message"], body["message"]

        # Reads go on; what was acknowledged is there, whole.
        status, got = call(http, api, "GET", f"{CONFIGMAPS}/a-before")
        assert status == 200 and got["data"]["blob"] == "a" * CHUNK
        status, listed = call(http, api, "GET", CONFIGMAPS)
        assert status == 200
        assert {item["metadata"]["name"] for item in listed["items"]} == set(acked)

        filler.unlink()
        status, body = call(http, api, "POST", CONFIGMAPS, configmap("c-after"))
        assert status == 201, body
        acked["c-after"] = body["metadata"]["resourceVersion"]

        api.kill()
        api.restart()
        status, listed = call(http, api, "GET", CONFIGMAPS)
        assert status == 200
        assert {item["metadata"]["name"]: item["metadata"]["resourceVersion"]
                for item in listed["items"]} == acked
        assert all(item["data"]["blob"] == item["metadata"]["name"][0] * CHUNK
                   for item in listed["items"])
    db = sqlite3.connect(f"file:{data_dir / 'state.db'}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        db.close()
