"""The runtime's records on disk: one JSON file per sandbox and per container.

Records live under the root dir (``sandboxes/<id>/sandbox.json``,
``containers/<id>/container.json``) and are replaced atomically (write a temporary file,
rename it over the record), so a kubelet killed mid-write leaves the old record or the new
one, never half of one. There is no fsync: a record describes processes, pids and addresses
that only live as long as the machine, so a record lost or torn by a machine crash describes
nothing that is still there (``load`` reads a torn one as none). An fsync per save blocked
the kubelet's loop on the disk: five per pod started, ~36 % of a kubelet's busy time at
10 kubelets x 100 pods (bench/cluster.py, py-spy). What the kernel knows (is the pid alive,
did conmon write an exit file) is read fresh each time.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

Record = dict[str, Any]

SANDBOXES = "sandboxes"
CONTAINERS = "containers"
FILES = {SANDBOXES: "sandbox.json", CONTAINERS: "container.json"}


class Store:
    """Records of one runtime root dir."""

    def __init__(self, root: str) -> None:
        self.root = root
        for kind in FILES:
            os.makedirs(os.path.join(root, kind), exist_ok=True)

    def dir(self, kind: str, ident: str) -> str:
        """The directory of one sandbox or container (made by ``save``)."""
        return os.path.join(self.root, kind, ident)

    def save(self, kind: str, ident: str, record: Record) -> None:
        """Write ``record`` atomically (against a kubelet crash; see the module docstring)."""
        d = self.dir(kind, ident)
        os.makedirs(d, exist_ok=True)
        target = os.path.join(d, FILES[kind])
        tmp = target + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, sort_keys=True)
        os.replace(tmp, target)

    def load(self, kind: str, ident: str) -> Record | None:
        """The record, or None when there is none (or only a half-made directory)."""
        try:
            with open(os.path.join(self.dir(kind, ident), FILES[kind]), encoding="utf-8") as f:
                record: Record = json.load(f)
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return None
        return record

    def ids(self, kind: str) -> list[str]:
        """Ids of every record of ``kind``, oldest first."""
        found = []
        for ident in os.listdir(os.path.join(self.root, kind)):
            record = self.load(kind, ident)
            if record is not None:
                found.append((record.get("created_at", 0.0), ident))
        return [ident for _, ident in sorted(found)]

    def delete(self, kind: str, ident: str) -> None:
        """Remove the record and its directory (idempotent)."""
        shutil.rmtree(self.dir(kind, ident), ignore_errors=True)
