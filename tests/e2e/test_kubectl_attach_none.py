"""kubectl attach and ``kubectl run -it`` to pods under ``--isolation none``, through km.pyz.

The pods run under km's own monitor (servers/kubelet/runtime/monitor.py), which gives them
conmon's attach interface: a stdin kept open (closed after the first session with stdinOnce),
the attach socket relaying live output, a pseudo-terminal resized through the ``winsz`` FIFO.
The cluster is test_kubelet.py's (a km.pyz apiserver over HTTPS that relays pods/attach, a
km.pyz kubelet with ``--isolation none``); the real kubectl 1.32 drives it, ``run -it``
through a real pseudo-terminal (test_kubectl_exec.py's ``Terminal``), as a user would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e.test_kubectl import Kubectl, certs, kubectl
from tests.e2e.test_kubectl_exec import WAIT, Terminal, running
from tests.e2e.test_kubelet import NODE, POLL, Kubelet, api, node, pod, sh
from tests.support.wait import until

__all__ = ["api", "certs", "kubectl", "node"]  # fixtures used here

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture
def talker(node: Kubelet, kubectl: Kubectl) -> Iterator[str]:
    """A pod whose container reads its stdin (spec.stdin, stdinOnce) until it ends."""
    container = sh("echo started; while read line; do echo got-$line; done; echo bye",
                   stdin=True, stdinOnce=True)
    kubectl("apply", "-f", "-", input=pod("talker", container, restartPolicy="Never"))
    running(kubectl, "talker")
    yield "talker"
    kubectl("delete", "pod", "talker", "--timeout=30s", check=False)


def test_attach_i_feeds_a_stdin_once_pod_until_it_ends(talker: str, kubectl: Kubectl) -> None:
    done = kubectl("attach", "-i", talker, input="one\ntwo\n", timeout=WAIT)
    assert "got-one\ngot-two\nbye\n" in done.stdout  # stdin closed at the session's end
    until(lambda: kubectl("get", "pod", talker, "-o", "jsonpath={.status.phase}",
                          check=False).stdout == "Succeeded", "the attached pod to end", WAIT, POLL)
    assert kubectl("logs", talker).stdout == "started\ngot-one\ngot-two\nbye\n"


def test_run_it_rm_is_a_terminal_on_the_new_pod(node: Kubelet, kubectl: Kubectl) -> None:
    overrides = json.dumps({"apiVersion": "v1", "spec": {"nodeName": NODE}})
    term = Terminal([*kubectl.base, "run", "shell", "-it", "--rm", "--restart=Never",
                     "--image=busybox", f"--overrides={overrides}", "--command", "--",
                     "sh"], rows=33, cols=77)
    try:
        term.expect(b"If you don't see a command prompt, try pressing enter.")
        term.write(b"\n")
        term.expect(b"# ")
        term.write(b"stty size; tty; echo $((6*7))\n")
        seen = term.expect(b"42\r\n")
        assert b"/dev/pts/" in seen  # a real pty
        # kubectl sends a size one larger, then the real one (so programs redraw); the
        # kubelet writes the second a moment later, which a quick shell may beat.
        term.until_size(33, 77)  # kubectl's size
        term.resize(40, 100)
        term.until_size(40, 100)  # kubectl sends the new size when SIGWINCH reaches it
        term.write(b"exit 0\n")
        term.expect(b'pod "shell" deleted')
    except BaseException:
        term.kill()
        raise
    assert term.close() == 0
    assert kubectl("get", "pod", "shell", check=False).returncode != 0  # --rm
