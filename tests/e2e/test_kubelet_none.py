"""km.pyz kubelet --isolation none on a host without the runtime packages, as a plain user.

The kubelet runs as nobody (util-linux ``setpriv``) with the system python3, in a mount
namespace of the test's own where /usr/bin/conmon and /usr/sbin/runc are covered by
/dev/null (so nothing can run them; the host keeps its own), with PATH=/usr/bin:/bin. Its
pods run under km's own monitor: they start, log, exit with their codes and restart; a
kubelet killed with -9 and started again adopts them; and a pod reads its ServiceAccount
token, ca.crt and namespace at /var/run/secrets/kubernetes.io/serviceaccount, where the
official Python client's load_incluster_config() finds them, and lists pods with them.
The apiserver and controller-manager are those of test_serviceaccount_pod.py (HTTPS, RBAC,
the service account signer). Pods are plain processes on loopback addresses of their own.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import test_kubectl as base
from tests.e2e.test_kubectl import Kubectl
from tests.e2e.test_kubelet import NODE, POLL, WAIT, Kubelet, _cleanup_pods, pod, sh, status
from tests.e2e.test_serviceaccount_pod import api, manager  # noqa: F401 (fixtures)
from tests.support.apiserver import ApiServer
from tests.support.wait import until

certs = base.certs
kubectl = base.kubectl

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

NOBODY = 65534
HIDDEN = ("/usr/bin/conmon", "/usr/sbin/runc", "/usr/bin/runc", "/usr/bin/crun")
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _give(path: Path) -> Path:
    os.chown(path, NOBODY, NOBODY)
    return path


@pytest.fixture(scope="module")
def shared(km: Path, certs: Path) -> Iterator[Path]:
    """A folder nobody may use: km.pyz, the node's kubeconfig, the kubelet's root dir and
    km's cache, and the Python client's packages for the pod (the venv is root's)."""
    if os.geteuid() != 0:
        pytest.skip("running the kubelet as another user needs root")
    top = Path(tempfile.mkdtemp(prefix="km-none-"))
    try:
        top.chmod(0o755)
        shutil.copy(km, top / "km.pyz")
        for name in (f"node-{NODE}.kubeconfig", "ca.crt"):
            shutil.copy(certs / name, top / name)
            _give(top / name)
        for name in ("root", "cache", "home"):
            (top / name).mkdir()
            _give(top / name)
        _client_packages(top / "site")
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _client_packages(target: Path) -> None:
    """Copy the top-level packages that ``kubernetes.config`` imports out of this venv."""
    code = ("import sys, kubernetes.config, json; print(json.dumps(sorted({getattr(m, "
            "'__file__', None) or '' for m in list(sys.modules.values())})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    site = next(p for p in sys.path if p.endswith("site-packages"))
    tops = {Path(f).relative_to(site).parts[0] for f in json.loads(done.stdout)
            if f.startswith(site + "/")}
    target.mkdir()
    for name in sorted(tops):
        source = Path(site, name)
        if source.is_dir():
            shutil.copytree(source, target / name)
        else:
            shutil.copy(source, target / name)
    for folder, dirs, files in os.walk(target):
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            os.chmod(path, os.stat(path).st_mode | stat.S_IRGRP | stat.S_IROTH
                     | (stat.S_IXGRP | stat.S_IXOTH if name in dirs else 0))


class NobodyKubelet(Kubelet):
    """The km.pyz kubelet as nobody, with conmon and runc covered, PATH=/usr/bin:/bin."""

    def __init__(self, top: Path, server: ApiServer, pki: Path) -> None:
        super().__init__(top / "km.pyz", server, pki, top / "root", NODE)
        config = self.cmd.index("--kubeconfig") + 1
        self.cmd[config] = str(top / f"node-{NODE}.kubeconfig")
        ca = self.cmd.index("--client-ca-file") + 1
        self.cmd[ca] = str(top / "ca.crt")
        self.log = top.parent / f"{top.name}-kubelet.log"
        hide = "".join(f"mount --bind /dev/null {p} && " for p in HIDDEN if os.path.exists(p))
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(top / "home"), "LANG": "C.UTF-8",
                    "KM_CACHE_DIR": str(top / "cache")}
        self.cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                    f'{hide}exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups "$@"',
                    "sh", "/usr/bin/python3", *self.cmd]

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=out,
                                         env=self.env, cwd="/")


@pytest.fixture(scope="module")
def node(shared: Path, api: ApiServer, certs: Path, manager: None) -> Iterator[NobodyKubelet]:  # noqa: F811
    kubelet = NobodyKubelet(shared, api, certs)
    kubelet.start()
    try:
        yield kubelet
    finally:
        kubelet.stop()
        _cleanup_pods(kubelet.root)
        text = kubelet.log.read_text()
        kubelet.log.unlink()
        assert "Traceback" not in text


def _processes() -> list[tuple[int, int, bytes]]:
    """(pid, uid, command line) of every process."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uid = os.stat(f"/proc/{entry}").st_uid
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    found.append((int(entry), uid, f.read()))
            except OSError:
                continue
    return found


def test_pods_run_without_root_conmon_or_runc(node: NobodyKubelet, kubectl: Kubectl) -> None:
    until(lambda: "Ready" in kubectl("get", "node", NODE, "--no-headers",
                                     check=False).stdout.split(), "node Ready", WAIT, POLL)
    assert node.proc is not None
    assert os.stat(f"/proc/{node.proc.pid}").st_uid == NOBODY
    for path in HIDDEN:  # what the kubelet sees there: /dev/null, nothing to run
        seen = f"/proc/{node.proc.pid}/root{path}"
        if os.path.exists(path):
            assert stat.S_ISCHR(os.stat(seen).st_mode), path
    kubectl("apply", "-f", "-", input=pod("plain", sh("echo up; exec sleep 1000")))
    until(lambda: status(kubectl, "plain").get("phase") == "Running", "plain Running", WAIT, POLL)
    until(lambda: "up" in kubectl("logs", "plain", check=False).stdout, "plain's log", WAIT, POLL)
    ours = [(pid, uid, cmd) for pid, uid, cmd in _processes() if str(node.root).encode() in cmd]
    monitors = [p for p in ours if b"km container monitor" in p[2]]
    assert monitors and all(uid == NOBODY for _, uid, _ in ours)
    assert not [p for p in ours if b"conmon" in p[2].split(b"\0")[0]]
    kubectl("delete", "pod", "plain", "--wait=true", "--timeout=20s")


def test_exit_codes_restarts_and_previous_logs(node: NobodyKubelet, kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=pod("crash", sh('echo "try $(date +%s%N)"; exit 3')))
    kubectl("apply", "-f", "-", input=pod("done", sh("echo finished"), restartPolicy="Never"))
    try:
        def restarted() -> dict[str, Any] | None:
            cs = (status(kubectl, "crash").get("containerStatuses") or [{}])[0]
            return cs if cs.get("restartCount", 0) >= 1 and cs.get("lastState") else None
        cs = until(restarted, "a restart of crash", WAIT, POLL)
        assert cs["lastState"]["terminated"]["exitCode"] == 3
        assert cs["lastState"]["terminated"]["reason"] == "Error"
        previous = kubectl("logs", "crash", "--previous").stdout
        assert previous.startswith("try ")
        until(lambda: status(kubectl, "done").get("phase") == "Succeeded",
              "done Succeeded", WAIT, POLL)
        done = status(kubectl, "done")["containerStatuses"][0]["state"]["terminated"]
        assert (done["exitCode"], done["reason"]) == (0, "Completed")
        assert kubectl("logs", "done").stdout == "finished\n"
    finally:
        kubectl("delete", "pod", "crash", "done", "--wait=true", "--timeout=20s", check=False)


def test_kill_9_and_restart_adopts_running_pods(node: NobodyKubelet, kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=pod("stays", sh("exec sleep 1000")))
    kubectl("apply", "-f", "-", input=pod("ends", sh("sleep 3; exit 7"), restartPolicy="Never"))
    try:
        until(lambda: all(status(kubectl, n).get("phase") == "Running" for n in ("stays", "ends")),
              "both Running", WAIT, POLL)
        before = status(kubectl, "stays")["containerStatuses"][0]
        node.kill()
        until(lambda: not os.path.exists(f"/proc/{node.proc.pid}") if node.proc else True,
              "the kubelet gone", WAIT, POLL)
        until(lambda: _exit_file_written(node.root),
              "ends' exit recorded while no kubelet ran", 10, POLL)
        node.start()
        until(lambda: status(kubectl, "ends").get("phase") == "Failed", "ends Failed", WAIT, POLL)
        ended = status(kubectl, "ends")["containerStatuses"][0]["state"]["terminated"]
        assert (ended["exitCode"], ended["reason"]) == (7, "Error")
        after = status(kubectl, "stays")["containerStatuses"][0]
        assert after["containerID"] == before["containerID"]
        assert (after["restartCount"], "running" in after["state"]) == (0, True)
    finally:
        kubectl("delete", "pod", "stays", "ends", "--wait=true", "--timeout=20s", check=False)


def _exit_file_written(root: Path) -> bool:
    return any(_text(f) == "7" for f in root.glob("**/exit/*"))


def _text(path: Path) -> str:
    """The file's stripped text; "" for a folder or a file removed since it was listed."""
    try:
        return path.read_text().strip()
    except (FileNotFoundError, IsADirectoryError):
        return ""


INCLUSTER = """
import os, sys
from kubernetes import client, config
config.load_incluster_config()
found = client.Configuration.get_default_copy()
print("in-cluster", found.host.startswith("https://"), found.ssl_ca_cert, bool(found.api_key))
# the kubernetes Service (a ClusterIP) needs a proxy and none runs here: the same credentials
# go to the apiserver on loopback, and nowhere else
mine = client.Configuration(host=os.environ["API"], api_key=dict(found.api_key),
                            api_key_prefix=dict(found.api_key_prefix))
mine.ssl_ca_cert = found.ssl_ca_cert
api = client.ApiClient(mine)
if api.configuration.host != os.environ["API"]:
    sys.exit("not the loopback apiserver: " + api.configuration.host)
namespace = open(sys.argv[1] + "/namespace").read()
names = [p.metadata.name for p in client.CoreV1Api(api).list_namespaced_pod(namespace).items]
print("listed", " ".join(names))
"""

def test_a_pod_uses_its_token_at_the_standard_path(node: NobodyKubelet, kubectl: Kubectl,
                                                   api: ApiServer, shared: Path) -> None:  # noqa: F811
    until(lambda: kubectl("get", "sa", "default", check=False).returncode == 0,
          "the default ServiceAccount", WAIT, POLL)
    until(lambda: kubectl("get", "cm", "kube-root-ca.crt", check=False).returncode == 0,
          "kube-root-ca.crt", WAIT, POLL)
    kubectl("create", "rolebinding", "sa-view-none", "--clusterrole", "view",
            "--serviceaccount", "default:default")
    script = (f"cat {TOKEN_DIR}/namespace; echo; head -c 27 {TOKEN_DIR}/ca.crt; echo; "
              f'/usr/bin/python3 -c "$INCLUSTER" {TOKEN_DIR} 2>&1')
    env = [{"name": "API", "value": api.url}, {"name": "INCLUSTER", "value": INCLUSTER},
           {"name": "PYTHONPATH", "value": str(shared / "site")}]
    kubectl("apply", "-f", "-", input=pod("me", sh(script, env=env), restartPolicy="Never"))
    try:
        until(lambda: status(kubectl, "me").get("phase") in ("Succeeded", "Failed"),
              "me ended", WAIT, POLL)
        out = kubectl("logs", "me").stdout.splitlines()
        assert out[:3] == ["default", "-----BEGIN CERTIFICATE-----",
                           f"in-cluster True {TOKEN_DIR}/ca.crt True"], "\n".join(out[-8:])
        assert out[3:] and out[3].split()[0] == "listed", "\n".join(out)
        assert "me" in out[3].split(), out
        assert status(kubectl, "me")["phase"] == "Succeeded"
        volumes = kubectl.json("get", "pod", "me")["spec"]["volumes"]
        assert [v["name"][:16] for v in volumes] == ["kube-api-access-"]
    finally:
        kubectl("delete", "pod", "me", "--wait=true", "--timeout=20s", check=False)
        kubectl("delete", "rolebinding", "sa-view-none", check=False)
