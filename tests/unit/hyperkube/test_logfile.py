"""RotatingLog (hyperkube/logfile.py): rotation by size between lines, pruning by count and age."""

from __future__ import annotations

import os
import time
from pathlib import Path

from hyperkube.logfile import RotatingLog


def _files(tmp_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir())}


def test_rotates_between_whole_lines_and_keeps_what_was_there(tmp_path: Path) -> None:
    (tmp_path / "c.log").write_bytes(b"old\n")
    log = RotatingLog(str(tmp_path / "c.log"), max_size=10)
    log.write(b"aaaa\nbbbb\ncc")
    log.write(b"c\n")
    log.close()
    files = _files(tmp_path)
    assert files.pop("c.log") == b"bbbb\nccc\n"
    assert list(files.values()) == [b"old\naaaa\n"]
    assert all(n.startswith("c-") and n.endswith(".log") for n in files)


def test_a_line_longer_than_a_file_is_cut(tmp_path: Path) -> None:
    log = RotatingLog(str(tmp_path / "c.log"), max_size=4)
    log.write(b"0123456789\n")
    log.close()
    assert sorted(_files(tmp_path).values()) == [b"0123", b"4567", b"89\n"]


def test_keeps_the_newest_backups(tmp_path: Path) -> None:
    log = RotatingLog(str(tmp_path / "c.log"), max_size=3, max_backups=2)
    for i in range(6):
        log.write(f"{i}{i}\n".encode())
    log.close()
    assert sorted(_files(tmp_path).values()) == [b"33\n", b"44\n", b"55\n"]


def test_removes_backups_older_than_the_age(tmp_path: Path) -> None:
    old = tmp_path / "c-2020-01-01T00-00-00.000.log"
    old.write_bytes(b"x\n")
    week = time.time() - 8 * 86400
    os.utime(old, (week, week))
    other = tmp_path / "other-2020-01-01T00-00-00.000.log"
    other.write_bytes(b"not ours\n")
    os.utime(other, (week, week))
    log = RotatingLog(str(tmp_path / "c.log"), max_size=3, max_age=7 * 86400)
    log.write(b"ab\n")
    log.write(b"cd\n")
    log.close()
    assert not old.exists()
    assert other.exists(), "another log's backups are left alone"
    assert len(log.backups()) == 1
