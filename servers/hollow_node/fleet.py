"""The nodes one hollow-node process plays: their names, addresses and what it knows of them.

Node ``i`` of ``--nodes N`` is ``PREFIX-i``; its index fixes its fake addresses (see
``addresses``), so a restarted process gives every node and pod range the same addresses.
Membership is decided by name alone (``index``), in O(1), so a watch on every bound pod can
be filtered without a set of thousands of names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from servers.hollow_node.addresses import node_ip, pod_block_size
from servers.hollow_node.nodes import NodeShape

__all__ = ["Fleet"]


@dataclass
class Fleet:
    """``count`` nodes named ``prefix-0`` ... with one ``shape``; uids once registered."""

    prefix: str
    count: int
    shape: NodeShape
    uids: dict[str, str] = field(default_factory=dict)
    #: per node, condition type -> lastTransitionTime (kept across status reports)
    since: dict[str, dict[str, str]] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [f"{self.prefix}-{i}" for i in range(self.count)]

    def index(self, name: str | None) -> int | None:
        """The index of node ``name``, or None when it is not one of ours."""
        if not name or not name.startswith(self.prefix) or name[len(self.prefix):][:1] != "-":
            return None
        digits = name[len(self.prefix) + 1:]
        if not digits.isdigit() or (digits != "0" and digits[0] == "0"):
            return None
        index = int(digits)
        return index if index < self.count else None

    def host_ip(self, name: str) -> str:
        index = self.index(name)
        if index is None:
            msg = f"node {name!r} is not a hollow node of this process"
            raise KeyError(msg)
        return node_ip(index)

    @property
    def block(self) -> int:
        return pod_block_size(self.shape.max_pods)
