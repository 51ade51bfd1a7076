"""Three hosts, one cluster: the steps the multi-host e2e tests share (a helper module, not tests).

    with three_hosts(km, tmp_path, "h", "--bind-address", "0.0.0.0") as c:
        ...                                  # c.aio (host 1's all-in-one), c.names, c.minions
        clean_up_every_host(c)               # km cleanup everywhere; nothing left

Host 1 (``SUBNET.1``, a network namespace of tests/e2e/hosts.py's ``hosts``) runs ``km
all-in-one --isolation namespaces`` serving its LAN; once its node is Ready, hosts 2 and 3 join
with ``km minion --server https://HOST1:6443 --token``. On the way out, whatever happened,
the minions are killed, the all-in-one stopped and what km left on each host removed. Used by
tests/e2e/test_minion_hosts.py and tests/e2e/test_multihost.py.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.e2e.aio import POLL, WAIT, Cluster
from tests.e2e.hosts import SUBNET, host_leftovers, hosts, remove_what_is_left, start_minion
from tests.e2e.netns import enter
from tests.support.wait import until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@dataclass
class ThreeHosts:
    """The running cluster: host i (1-based) is ``namespaces[i - 1]``, its node
    ``names[i - 1]``, its km root ``roots[i - 1]``; ``minions`` are hosts 2's and 3's."""

    km: Path
    namespaces: list[str]
    names: list[str]
    roots: list[Path]
    aio: Cluster
    minions: list[subprocess.Popen[bytes]]

    def hosts(self) -> list[tuple[str, str, Path]]:
        """(namespace, node, root) per host."""
        return list(zip(self.namespaces, self.names, self.roots, strict=True))


@contextlib.contextmanager
def three_hosts(km: Path, tmp: Path, prefix: str, *aio_args: str) -> Iterator[ThreeHosts]:
    """Host 1's all-in-one (with ``aio_args``) Ready, hosts 2 and 3 joining; their nodes
    ``PREFIX1-TAG`` .. ``PREFIX3-TAG`` (a random tag, so runs do not meet)."""
    tag = secrets.token_hex(2)
    names = [f"{prefix}{i}-{tag}" for i in (1, 2, 3)]
    with hosts(3) as namespaces:
        aio = Cluster(km, tmp / "h1", "--node-ip", f"{SUBNET}.1", "--isolation", "namespaces",
                      "--node-name", names[0], *aio_args, prefix=tuple(enter(namespaces[0])))
        aio.cmd.remove("127.0.0.1")  # Cluster binds to loopback; this host serves its LAN
        aio.cmd.remove("--bind-address")
        cluster = ThreeHosts(km, namespaces, names, [aio.data, tmp / "h2", tmp / "h3"], aio, [])
        aio.start()
        try:
            until(lambda: aio.node_ready(names[0]), "host 1's node Ready", WAIT, POLL)
            token = (aio.data / "node-token").read_text().strip()
            for i in (2, 3):
                cluster.minions.append(start_minion(
                    km, namespaces[i - 1], cluster.roots[i - 1], names[i - 1], f"{SUBNET}.{i}",
                    token, tmp / f"h{i}.log", aio.env))
            yield cluster
        finally:
            for minion in cluster.minions:
                if minion.poll() is None:
                    minion.kill()
                    minion.wait(10)
            aio.stop()
            remove_what_is_left(cluster.hosts())


def clean_up_every_host(cluster: ThreeHosts) -> None:
    """``km cleanup`` on hosts 3, 2 and 1; then every km process has exited 0 and no host
    has anything of km's left."""
    for ns, _, root in reversed(cluster.hosts()):
        done = subprocess.run([*enter(ns), str(cluster.km), "cleanup", "--dir", str(root)],
                              capture_output=True, text=True, env=cluster.aio.env, timeout=90)
        assert done.returncode == 0, done.stdout + done.stderr
    codes = [minion.wait(10) for minion in cluster.minions]
    assert codes == [0, 0], f"the minions exited {codes}"
    proc = cluster.aio.proc
    assert proc is not None and proc.wait(10) == 0, "host 1's all-in-one did not exit 0"
    for ns, name, root in cluster.hosts():
        assert host_leftovers(ns, name, root) == [], f"{name} left {host_leftovers(ns, name, root)}"
