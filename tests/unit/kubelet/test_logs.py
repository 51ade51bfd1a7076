"""CRI log files read back as kubectl logs wants them, and rotated by size and count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from servers.kubelet import logs
from servers.kubelet.logs import LogOptions, files_of, read_log, rotate

LINES = (b"2026-01-01T00:00:01.000000001Z stdout F one\n"
         b"2026-01-01T00:00:02.5Z stderr P tw\n"
         b"2026-01-01T00:00:02.6Z stderr F o\n"
         b"2026-01-01T00:00:03Z stdout F three\n")


async def read(path: Path, **kw: object) -> bytes:
    async def ended() -> bool:
        return False
    return b"".join([c async for c in read_log(str(path), LogOptions(**kw), ended)])  # type: ignore[arg-type]


async def test_read_options(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.write_bytes(LINES)
    assert await read(log) == b"one\ntwo\nthree\n"
    assert await read(log, tail_lines=1) == b"three\n"
    assert await read(log, limit_bytes=6) == b"one\ntw"
    assert await read(log, timestamps=True, tail_lines=1) == b"2026-01-01T00:00:03Z three\n"
    since = 1767225602.0  # 2026-01-01T00:00:02Z
    assert await read(log, since=since) == b"two\nthree\n"


async def test_rotation_keeps_max_files_and_reads_across_them(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    for i in range(4):
        log.write_bytes(f"2026-01-01T00:00:0{i}Z stdout F line{i}\n".encode() * 3)
        assert rotate(str(log), 10, 3, now=1767225600 + i)
    log.write_bytes(b"2026-01-01T00:00:09Z stdout F live\n")
    assert not rotate(str(log), 1000, 3)
    names = files_of(str(log))
    assert len(names) == 3 and names[-1] == str(log)
    assert all(os.path.exists(n) for n in names)
    assert (await read(log)).splitlines() == [b"line2"] * 3 + [b"line3"] * 3 + [b"live"]


async def test_timestamps_are_printed_in_utc_whatever_offset_conmon_wrote(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.write_bytes(b"2026-01-01T02:00:01.5+02:00 stdout F x\n"
                    b"2026-01-01T00:00:02.000000001+00:00 stdout F y\n")
    assert await read(log, timestamps=True) == (b"2026-01-01T00:00:01.5Z x\n"
                                                b"2026-01-01T00:00:02.000000001Z y\n")


PARTIAL = (b"2026-01-01T00:00:01Z stdout F a\n"
           b"2026-01-01T00:00:02Z stdout P b\n")  # what `printf 'a\nb'` leaves in the log


async def test_a_last_line_without_newline_is_shown_as_it_is(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.write_bytes(PARTIAL)
    assert await read(log) == b"a\nb"
    assert await read(log, tail_lines=1) == b"b"
    assert await read(log, tail_lines=2, timestamps=True) == (b"2026-01-01T00:00:01Z a\n"
                                                              b"2026-01-01T00:00:02Z b")
    assert await read(log, limit_bytes=3) == b"a\nb"
    assert await read(log, limit_bytes=2) == b"a\n"
    assert await read(log, since=1767225602.0) == b"b"


async def test_the_writers_partial_piece_reads_back(tmp_path: Path) -> None:
    from servers.kubelet.runtime import monitor  # the --isolation none writer

    log = tmp_path / "0.log"
    log.write_bytes(monitor.cri_lines(b"stdout", b"a\nb", 1_796_000_000_000_000_000))
    assert await read(log) == b"a\nb"


async def test_a_carriage_return_is_text_not_a_record_end(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.write_bytes(b"2026-01-01T00:00:01Z stdout F 10%\r20%\n")
    assert await read(log) == b"10%\r20%\n"


@pytest.mark.parametrize(("timestamps", "want"), [
    (False, b"a\nbc\n"),
    (True, b"2026-01-01T00:00:01Z a\n2026-01-01T00:00:02Z bc\n"),
])
async def test_follow_sends_a_partial_piece_and_continues_its_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, timestamps: bool, want: bytes) -> None:
    monkeypatch.setattr(logs, "POLL", 0)
    log = tmp_path / "0.log"
    log.write_bytes(PARTIAL)
    calls = 0

    async def running() -> bool:  # the container prints "c\n", then ends
        nonlocal calls
        calls += 1
        if calls == 1:
            with open(log, "ab") as f:
                f.write(b"2026-01-01T00:00:03Z stdout F c\n")
        return calls == 1

    opts = LogOptions(follow=True, timestamps=timestamps)
    got = [c async for c in logs.read_log(str(log), opts, running)]
    assert got[:2] == [want.split(b"\n")[0] + b"\n", want.split(b"\n")[1][:-1]]  # b at once
    assert b"".join(got) == want
