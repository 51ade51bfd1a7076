"""The kubelet rotates a running container's log by size and count, conmon keeps writing to
the fresh file, and ``kubectl logs`` reads across the kept files (kube's
container_log_manager)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from servers.kubelet.logs import LogOptions, files_of, read_log
from servers.kubelet.runtime.base import MonitoredRuntime
from servers.kubelet.workers import Kubelet
from tests.integration.kubelet.test_runtime_conformance import pod, run_container, sh, wait_log

pytestmark = pytest.mark.parametrize("make_runtime", ["none"], indirect=True)

LINE = "x" * 90


async def text(path: str) -> list[str]:
    async def ended() -> bool:
        return False
    chunks = [c async for c in read_log(path, LogOptions(), ended)]
    return b"".join(chunks).decode().splitlines()


async def test_rotation_by_size_and_count(runtime: MonitoredRuntime, tmp_path: Path) -> None:
    kubelet = Kubelet(None, runtime, None, node_name="n", node_ip="127.0.0.1",  # type: ignore[arg-type]
                      root_dir=str(tmp_path), allocatable={})
    log = str(tmp_path / "0.log")
    go = tmp_path / "go"
    script = (f"for round in 1 2 3 4; do i=0; while [ $i -lt 200 ]; do "
              f"echo $round-$i-{LINE}; i=$((i+1)); done; echo done-$round; "
              f"while [ ! -e {go}-$round ]; do sleep 0.05; done; done; exec sleep 1000")
    sid = await runtime.run_pod_sandbox(pod())
    await run_container(runtime, sid, sh(script, log_path=log))
    for rnd in range(1, 5):
        await wait_log(log, f"done-{rnd}")
        await kubelet.rotate_logs(10_000, 3)
        (go.parent / f"go-{rnd}").touch()
        await asyncio.sleep(0.1)
    kept = files_of(log)
    assert len(kept) <= 3 and all(os.path.exists(p) for p in kept)
    lines = await text(log)
    assert lines[-1] == "done-4" or lines[-1].startswith("4-")
    assert not any(line.startswith("1-") for line in lines)  # the oldest file is gone
    rotated = [p for p in kept if p != log]
    assert rotated and all(os.path.getsize(p) > 10_000 for p in rotated)
