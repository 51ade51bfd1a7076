"""Fleet membership by name, in O(1)."""

from __future__ import annotations

import pytest

from servers.hollow_node.fleet import Fleet
from servers.hollow_node.nodes import NodeShape


@pytest.mark.parametrize(("name", "index"), [
    ("hollow-0", 0), ("hollow-9", 9), ("hollow-10", None), ("hollow-01", None),
    ("hollow-", None), ("hollow", None), ("hollowx-1", None), ("other-1", None),
    ("hollow--1", None), ("hollow-1a", None), (None, None), ("", None),
])
def test_index(name: str | None, index: int | None) -> None:
    assert Fleet("hollow", 10, NodeShape()).index(name) == index


def test_prefix_with_dashes() -> None:
    fleet = Fleet("a-b", 3, NodeShape())
    assert fleet.index("a-b-2") == 2
    assert fleet.index("a-2") is None
    assert fleet.host_ip("a-b-2") == "100.64.0.3"
    with pytest.raises(KeyError):
        fleet.host_ip("a-b-3")
