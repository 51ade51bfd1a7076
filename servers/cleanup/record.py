"""The node record a km node server leaves in its state folder, for ``km cleanup``.

``km minion`` (ROOT/km-node.json) and ``km all-in-one`` (DATA/km-node.json) write, when they
start, which node they run and where, and who they are:

    {"node": "n1", "isolation": "namespaces", "kubelet_root": "/var/lib/km/minion/kubelet",
     "cluster_cidr": "10.244.0.0/16", "service_cidr": "10.96.0.0/12",
     "pid": 4242, "start": 123456}

``pid`` and ``start`` (the process' start time in clock ticks since boot, field 22 of
/proc/PID/stat) let ``km cleanup`` stop exactly that process and never one that reused its
pid: km's processes are found through km's own files, never by matching names. The node name
gives every name the kubelet's runtime made on the host (servers/kubelet/runtime/names.py).
Standard library only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

FILE = "km-node.json"


@dataclass(frozen=True)
class NodeRecord:
    """One node server's record (see the module docstring)."""

    node: str
    isolation: str
    kubelet_root: str
    cluster_cidr: str = ""
    service_cidr: str = ""
    pid: int = 0
    start: int = 0


def write(folder: str | os.PathLike[str], record: NodeRecord) -> None:
    """``record`` into ``folder``/km-node.json (atomically; the folder is made if need be)."""
    path = Path(folder) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2) + "\n")
    os.replace(tmp, path)


def read(folder: str | os.PathLike[str]) -> NodeRecord | None:
    """The record in ``folder`` (None when there is none or it is unreadable)."""
    try:
        doc = json.loads((Path(folder) / FILE).read_text())
        return NodeRecord(**{k: doc[k] for k in NodeRecord.__dataclass_fields__ if k in doc})
    except (OSError, ValueError, TypeError):
        return None


def start_time(pid: int) -> int:
    """Start time of process ``pid`` in clock ticks since boot (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[19])  # field 22; fields[0] is field 3 (state)


def for_this_process(node: str, isolation: str, kubelet_root: str, *, cluster_cidr: str = "",
                     service_cidr: str = "") -> NodeRecord:
    """The record of the calling process."""
    pid = os.getpid()
    return NodeRecord(node=node, isolation=isolation, kubelet_root=os.path.abspath(kubelet_root),
                      cluster_cidr=cluster_cidr, service_cidr=service_cidr, pid=pid,
                      start=start_time(pid))
