"""kubectl exec, attach and cp, and the Python client's stream, through km.pyz end to end.

The real kubectl (v1.32: WebSocket ``v5.channel.k8s.io``) and the official Python client
(``v4.channel.k8s.io``) talk to a km.pyz apiserver, which relays pods/exec and pods/attach to
a km.pyz kubelet running pods under ``--isolation namespaces`` (runc + conmon), all inside a
network namespace of the test's own (test_kubelet_namespaces.py's fixtures). ``exec -it`` is
driven through a real pseudo-terminal, as a user's terminal would drive it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_kubectl import Kubectl
from tests.e2e.test_kubelet import POLL, Kubelet, pod, sh
from tests.e2e.test_kubelet_namespaces import (
    ROOT,
    api,
    certs,
    enter,
    km_in_ns,
    kubectl,
    netns,
    node,
)
from tests.support.wait import until

__all__ = ["api", "certs", "km_in_ns", "kubectl", "netns", "node"]  # fixtures used here

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

WAIT = 30.0


def running(kubectl: Kubectl, name: str) -> None:
    until(lambda: kubectl("get", "pod", name, "-o", "jsonpath={.status.phase}",
                          check=False).stdout == "Running", f"pod {name} running", WAIT, POLL)


@pytest.fixture(scope="module")
def box(node: Kubelet, api: object, netns: str, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[str]:
    """A running pod "box" (container c: sleep) to exec into."""
    client = Kubectl(api, tmp_path_factory.mktemp("kube-cache"))  # type: ignore[arg-type]
    client.base = [*enter(netns), *client.base]
    client("apply", "-f", "-", input=pod("box", sh("exec sleep 3600")))
    running(client, "box")
    yield "box"
    client("delete", "pod", "box", "--timeout=30s", check=False)  # gone before the node stops


def test_exec_returns_the_commands_exit_code(box: str, kubectl: Kubectl) -> None:
    done = kubectl("exec", box, "--", "sh", "-c", "echo out; echo err >&2; exit 3",
                   check=False)
    assert done.returncode == 3
    assert done.stdout == "out\n"
    assert "err\n" in done.stderr and "command terminated with exit code 3" in done.stderr
    assert kubectl("exec", box, "--", "true").returncode == 0


def test_piped_stdin_ends_and_is_printed(box: str, kubectl: Kubectl) -> None:
    done = kubectl("exec", "-i", box, "--", "cat", input="hi\n", timeout=WAIT)
    assert done.stdout == "hi\n"


def test_a_missing_command_is_kubes_error_not_a_hang(box: str, kubectl: Kubectl) -> None:
    done = kubectl("exec", box, "--", "no-such-command", check=False, timeout=WAIT)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: Internal error occurred: error executing command in container: exec failed: "
        'unable to start container process: exec: "no-such-command": executable file not '
        "found in $PATH")


class Terminal:
    """A process on a fresh pseudo-terminal (its controlling terminal, as a login's)."""

    def __init__(self, argv: list[str], rows: int = 24, cols: int = 80) -> None:
        self.master, slave = os.openpty()
        self.resize(rows, cols)
        self.proc = subprocess.Popen(["setsid", "--ctty", *argv], stdin=slave, stdout=slave,
                                     stderr=slave, close_fds=True)
        os.close(slave)
        self.seen = b""

    def resize(self, rows: int, cols: int) -> None:
        """As a terminal window does: the kernel sends the foreground group SIGWINCH."""
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def expect(self, text: bytes, timeout: float = WAIT) -> bytes:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no {text!r} on the terminal; it shows {self.seen[-400:]!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        raise
                    pytest.fail(f"the terminal closed before {text!r}: {self.seen[-400:]!r}")
        return self.seen

    def until_size(self, rows: int, cols: int, timeout: float = WAIT) -> None:
        """Ask the remote shell its terminal size until it is ``rows cols``.

        A size goes from kubectl's SIGWINCH through the apiserver and the kubelet to the
        runtime apart from the typed input (kube's resize stream), so a quick shell may
        answer with the old one first; a size that never arrives fails the test.
        """
        deadline = time.monotonic() + timeout
        n = 0
        while f"{rows} {cols}\r\n".encode() not in self.seen:
            if time.monotonic() > deadline:
                pytest.fail(f"the terminal never became {rows}x{cols}: {self.seen[-400:]!r}")
            time.sleep(0.1 if n else 0)
            self.write(f"stty size; echo mark-$(({n} + 1000))\n".encode())
            self.expect(f"mark-{n + 1000}\r\n".encode())  # the output, not the typed line
            n += 1

    def kill(self) -> None:
        """End kubectl after a failure, reaping it (a Popen left running is a
        ResourceWarning that fails whichever test happens to collect it)."""
        self.proc.kill()
        self.proc.wait(timeout=WAIT)

    def close(self) -> int:
        try:
            code = self.proc.wait(timeout=WAIT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)
        return code


def test_exec_it_is_an_interactive_terminal_with_resize_and_ctrl_c(box: str,
                                                                  kubectl: Kubectl) -> None:
    term = Terminal([*kubectl.base, "exec", "-it", box, "--", "sh"])
    try:
        term.expect(b"# ")  # the prompt: the shell is up, as a user would see before typing
        term.write(b"tty\n")
        assert b"/dev/pts/" in term.expect(b"/dev/pts/")
        # kubectl's first size travels apart from the typed input (under runc, its SIGWINCH
        # forwarding can lag the shell's first command), so ask until it shows
        term.until_size(24, 80)
        term.resize(40, 132)
        term.until_size(40, 132)  # kubectl sends the new size when SIGWINCH reaches it
        # (the echoes differ from the outputs; the mark says the shell runs the line)
        term.write(b"echo sleeping-$((1+1)); sleep 100; echo no''t-interrupted\n")
        term.expect(b"sleeping-2\r\n")
        time.sleep(0.5)  # sleep is started
        term.write(b"\x03")  # Ctrl-C: the remote terminal makes it SIGINT for sleep
        term.write(b"echo after-$?\n")
        assert b"not-interrupted" not in term.expect(b"after-130")
        term.write(b"exit 4\n")
    except BaseException:
        term.kill()
        raise
    assert term.close() == 4


@pytest.fixture
def talker(node: Kubelet, kubectl: Kubectl) -> Iterator[str]:
    """A pod whose container reads its stdin (spec.stdin, stdinOnce) until it ends."""
    container = sh("echo started; while read line; do echo got-$line; done; echo bye",
                   stdin=True, stdinOnce=True)
    kubectl("apply", "-f", "-", input=pod("talker", container, restartPolicy="Never"))
    running(kubectl, "talker")
    yield "talker"
    kubectl("delete", "pod", "talker", "--timeout=30s", check=False)


def test_attach_writes_to_the_containers_stdin_and_reads_its_output(talker: str,
                                                                     kubectl: Kubectl) -> None:
    done = kubectl("attach", "-i", talker, input="one\ntwo\n", timeout=WAIT)
    assert "got-one\ngot-two\nbye\n" in done.stdout
    until(lambda: kubectl("get", "pod", talker, "-o", "jsonpath={.status.phase}",
                          check=False).stdout == "Succeeded", "the attached pod to end", WAIT, POLL)
    logs = kubectl("logs", talker).stdout
    assert logs == "started\ngot-one\ngot-two\nbye\n"


def test_cp_both_ways(box: str, kubectl: Kubectl, tmp_path: Path) -> None:
    source = tmp_path / "up"
    source.mkdir()
    (source / "a.txt").write_text("alpha\n")
    (source / "big.bin").write_bytes(os.urandom(300_000))
    kubectl("cp", str(source), f"{box}:/tmp/up", timeout=WAIT)
    listing = kubectl("exec", box, "--", "sh", "-c", "cat /tmp/up/a.txt; wc -c < /tmp/up/big.bin")
    assert listing.stdout.split() == ["alpha", "300000"]
    back = tmp_path / "back"
    kubectl("cp", f"{box}:/tmp/up", str(back), timeout=WAIT)
    assert (back / "a.txt").read_text() == "alpha\n"
    assert (back / "big.bin").read_bytes() == (source / "big.bin").read_bytes()


STREAM = r"""
import sys
from kubernetes import client, config
from kubernetes.stream import stream

config.load_kube_config(sys.argv[1])
configuration = client.Configuration.get_default_copy()
configuration.host = sys.argv[2]
api = client.CoreV1Api(client.ApiClient(configuration))
out = stream(api.connect_get_namespaced_pod_exec, "box", "default",
             command=["sh", "-c", "echo from-python; echo to-err >&2"],
             stderr=True, stdin=False, stdout=True, tty=False)
print(repr(out))
resp = stream(api.connect_get_namespaced_pod_exec, "box", "default",
              command=["sh", "-c", "exit 7"], stderr=True, stdin=False, stdout=True,
              tty=False, _preload_content=False)
resp.run_forever(timeout=20)
print("exit", resp.returncode)
"""


def test_python_client_stream_exec(box: str, api: object, netns: str) -> None:
    done = subprocess.run(
        [*enter(netns), sys.executable, "-c", STREAM,
         str(api.kubeconfig), api.url],  # type: ignore[attr-defined]
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "from-python" in lines[0] and "to-err" in lines[0]
    assert lines[1] == "exit 7"


def test_run_it_attaches_a_terminal_to_the_new_pod(node: Kubelet, kubectl: Kubectl) -> None:
    overrides = json.dumps({"apiVersion": "v1", "spec": {"nodeName": "n1"}})
    term = Terminal([*kubectl.base, "run", "shell", "-it", "--rm", "--restart=Never",
                     "--image=busybox", f"--overrides={overrides}", "--command", "--",
                     "sh"], rows=33, cols=77)
    try:
        # kubectl says to press enter when it may have missed the prompt
        term.expect(b"If you don't see a command prompt, try pressing enter.")
        term.write(b"\n")
        term.expect(b"# ")
        # kubectl sends a size one larger, then the real one (so programs redraw); the
        # kubelet writes the second a moment later, which a quick shell may beat.
        term.until_size(33, 77)
        term.write(b"exit 0\n")
        term.expect(b'pod "shell" deleted')
    except BaseException:
        term.kill()
        raise
    assert term.close() == 0
