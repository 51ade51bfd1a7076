"""The README's walk-through, run as written against ``make run``'s cluster.

README.md marks the block with ``<!-- walk-through -->``: every line of the indented code
block after it is a shell command (a trailing ``\\`` continues it), run in order with ``sh``
in the directory ``make run`` would run in; ``export NAME=VALUE`` sets the environment of
the commands after it; a trailing ``# prints TEXT`` says what the command's output contains,
and is checked. As in one interactive shell, a command ending in ``&`` runs in the background
(its output checked when it is stopped) and ``kill %N`` stops the Nth of them. The cluster is
the Makefile's ``run`` recipe (so the two cannot drift) with the built km.pyz and
``ISOLATION=namespaces``, inside a network namespace of the test's own with no route out
(DESIGN.md "Safety"); no --node-ip: with loopback only, all-in-one's own pick is 127.0.0.1
(or the host name's loopback address), and nothing here depends on the host's interfaces.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from servers.kubelet.runtime import names
from tests.e2e.aio import POLL, REPO, WAIT, Cluster, remove_namespaced_pods
from tests.e2e.netns import enter, network_namespace
from tests.support.wait import until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

MARK = "<!-- walk-through -->"
COMMENT = re.compile(r"\s{2,}#\s?(.*)$")  # a trailing comment: two spaces or more, then #


@dataclass(frozen=True)
class Step:
    command: str
    prints: str  # "" when the README says nothing about the output


def walk_through(readme: str) -> list[Step]:
    """The commands of the README's walk-through block, continuation lines joined."""
    after = readme.split(MARK, 1)[1].splitlines()
    lines: list[str] = []
    for line in after:
        if not line.strip():
            if lines:
                break  # the end of the code block
            continue
        if not line.startswith("    "):
            break
        lines.append(line[4:])
    steps, pending = [], ""
    for line in lines:
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        comment = COMMENT.search(line)
        text = line[:comment.start()] if comment else line
        note = comment.group(1).strip() if comment else ""
        steps.append(Step((pending + text.strip()).strip(),
                          note[len("prints "):] if note.startswith("prints ") else ""))
        pending = ""
    return steps


def make_run(km: Path, data: Path) -> list[str]:
    """The Makefile's ``run`` recipe for this km.pyz, data dir and namespaces isolation."""
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\nrun: dist/km.pyz\n", 1)[1].splitlines()[0].strip()
    argv = shlex.split(recipe.replace("$(PORT)", "6443").replace("$(ISOLATION)", "namespaces"))
    assert argv[:2] == ["./dist/km.pyz", "all-in-one"], recipe
    return [str(km), *[str(data) if a == "./km-data" else a for a in argv[1:]]]


def test_the_walk_through_is_parsed_as_written() -> None:
    steps = walk_through((REPO / "README.md").read_text())
    assert steps[0] == Step("export KUBECONFIG=km-data/admin.kubeconfig", "")
    client = next(s for s in steps if s.command.startswith("kubectl run client"))
    assert client.command.endswith(
        "web.default.svc.cluster.local; do curl -sS -o /dev/null -w \"%{http_code} \" "
        "http://$host/; done; echo'")
    assert Step("kubectl logs job/once", "hello from a Job") in steps
    assert any(s.command.startswith("kubectl exec deploy/web -- ") for s in steps)
    [forward] = [i for i, s in enumerate(steps) if s.command.startswith("kubectl port-forward")]
    assert steps[forward].command.endswith(" &")
    assert steps[forward + 2].command == "kill %1"


def test_the_readme_walk_through_runs_as_written(km: Path, tmp_path: Path) -> None:
    steps = walk_through((REPO / "README.md").read_text())
    data = tmp_path / "km-data"
    with network_namespace("km-readme") as ns:
        cluster = Cluster(km, data, prefix=tuple(enter(ns)))
        cluster.cmd = [*enter(ns), *make_run(km, data)]
        cluster.start()
        env = {**os.environ}
        pod_cidr, node = "", ""
        jobs = Jobs(ns, tmp_path)
        try:
            until(lambda: (data / "admin.kubeconfig").exists() and cluster.json("get", "nodes"),
                  "the cluster's API", WAIT, POLL)
            node = until(lambda: _ready_node(cluster), "the node to be Ready", WAIT, POLL)
            pod_cidr = cluster.json("get", "node", node)["spec"]["podCIDR"]
            for step in steps:
                if step.command.startswith("export "):
                    name, _, value = step.command[len("export "):].partition("=")
                    env[name] = value
                    continue
                if step.command.endswith("&"):
                    jobs.start(step, env)
                    continue
                if re.fullmatch(r"kill %\d+", step.command):
                    step, output = jobs.stop(int(step.command[len("kill %"):]))
                    assert step.prints in output, f"{step.command}\n{output}"
                    continue
                done = subprocess.run([*enter(ns), "sh", "-c", step.command], cwd=tmp_path,
                                      env=env, capture_output=True, text=True, timeout=90)
                assert done.returncode == 0, f"{step.command}\n{done.stdout}{done.stderr}"
                assert step.prints in done.stdout, f"{step.command}\n{done.stdout}"
            # kubectl's pods have kube's 30 s grace period; http.server ends on SIGTERM
            until(lambda: not (cluster.json("get", "pods") or {"items": [1]})["items"],
                  "the walk-through's pods to go", 60, POLL)
            assert cluster.stop() == 0
        finally:
            jobs.stop_all()
            if cluster.running_now():  # a failure above: no sandboxed pod outlives the test
                cluster.run("delete", "deployment,job,pod", "--all", "--wait",
                            "--timeout=20s")
            cluster.stop()
            if pod_cidr:
                remove_namespaced_pods(ns, data / "kubelet", node, pod_cidr)
    assert "Traceback" not in cluster.log.read_text()
    if node:
        prefix = names.for_node(node).netns_prefix
        assert not [n for n in os.listdir("/run/netns") if n.startswith(prefix)], \
            "pod network namespaces left behind"


class Jobs:
    """The walk-through's background commands (``CMD &``), numbered as a shell's jobs."""

    def __init__(self, ns: str, cwd: Path) -> None:
        self.ns, self.cwd = ns, cwd
        self.running: dict[int, tuple[Step, subprocess.Popen[bytes], Path]] = {}
        self.count = 0

    def start(self, step: Step, env: dict[str, str]) -> None:
        self.count += 1
        out = self.cwd / f"job-{self.count}.out"
        with out.open("wb") as f:  # a file, not a pipe: nothing waits for its end
            proc = subprocess.Popen([*enter(self.ns), "sh", "-c", step.command[:-1]],
                                    cwd=self.cwd, env=env, stdout=f,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.running[self.count] = (step, proc, out)

    def stop(self, number: int) -> tuple[Step, str]:
        """SIGTERM to job ``number``'s process group; the step and its output."""
        step, proc, out = self.running.pop(number)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        return step, out.read_text()

    def stop_all(self) -> None:
        for number in list(self.running):
            self.stop(number)


def _ready_node(cluster: Cluster) -> str:
    nodes = (cluster.json("get", "nodes") or {}).get("items") or []
    found = [n["metadata"]["name"] for n in nodes]
    return found[0] if len(found) == 1 and cluster.node_ready(found[0]) else ""
