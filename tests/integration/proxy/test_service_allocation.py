"""The apiserver's service IP and node port allocation, against a real apiserver subprocess.

Range flags, kube's 422s for a taken or out-of-range clusterIP and nodePort, no duplicates
under concurrent creates, and the allocation rebuilt from the store across a restart (a
delete frees). Only Service objects are written; no packet goes anywhere.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.support.apiserver import start_apiserver

RANGE = ["--service-cluster-ip-range", "10.100.0.0/28", "--service-node-port-range",
         "31000-31009"]


def _call(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _svc(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"port": 80}], **spec}}


def _create(url: str, svc: dict[str, Any]) -> tuple[int, Any]:
    return _call(url, "POST", "/api/v1/namespaces/default/services", svc)


def test_ranges_conflicts_and_restart(tmp_path: Path) -> None:
    with start_apiserver(tmp_path / "data", extra_args=RANGE) as api:
        code, first = _create(api.url, _svc("a"))
        assert code == 201 and first["spec"]["clusterIP"] == "10.100.0.2"  # .1: kubernetes
        code, status = _create(api.url, _svc("b", clusterIP="10.100.0.2"))
        assert code == 422, status
        assert status["details"]["causes"][0]["message"].endswith(
            "failed to allocate IP 10.100.0.2: provided IP is already allocated")
        code, status = _create(api.url, _svc("c", clusterIP="10.96.0.9"))
        assert code == 422
        assert ("the provided IP (10.96.0.9) is not in the valid range. The range of valid "
                "IPs is 10.100.0.0/28") in status["message"]
        code, nodeport = _create(api.url, _svc("np", type="NodePort",
                                               ports=[{"port": 80, "nodePort": 31005}]))
        assert code == 201 and nodeport["spec"]["ports"][0]["nodePort"] == 31005
        code, status = _create(api.url, _svc("np2", type="NodePort",
                                             ports=[{"port": 80, "nodePort": 31005}]))
        assert code == 422 and "provided port is already allocated" in status["message"]
        code, status = _create(api.url, _svc("np3", type="NodePort",
                                             ports=[{"port": 80, "nodePort": 30000}]))
        assert code == 422 and ("provided port is not in the valid range. The range of "
                                "valid ports is 31000-31009") in status["message"]
        code, auto = _create(api.url, _svc("np4", type="NodePort"))
        assert code == 201 and auto["spec"]["ports"][0]["nodePort"] in range(31000, 31010)
        assert auto["spec"]["ports"][0]["nodePort"] != 31005
        code, headless = _create(api.url, _svc("h", clusterIP="None"))
        assert code == 201 and headless["spec"]["clusterIPs"] == ["None"]
        code, external = _create(api.url, {**_svc("x", type="ExternalName",
                                                  externalName="example.invalid"),
                                           })
        assert code == 201 and "clusterIP" not in external["spec"]
        api.kill()
        api.restart()
        # the store is the allocation: after a kill -9 and restart, taken stays taken
        code, status = _create(api.url, _svc("b", clusterIP="10.100.0.2"))
        assert code == 422 and "provided IP is already allocated" in status["message"]
        code, status = _create(api.url, _svc("np2", type="NodePort",
                                             ports=[{"port": 80, "nodePort": 31005}]))
        assert code == 422
        # a delete frees both
        assert _call(api.url, "DELETE", "/api/v1/namespaces/default/services/a")[0] == 200
        assert _call(api.url, "DELETE", "/api/v1/namespaces/default/services/np")[0] == 200
        assert _create(api.url, _svc("b", clusterIP="10.100.0.2"))[0] == 201
        assert _create(api.url, _svc("np2", type="NodePort",
                                     ports=[{"port": 80, "nodePort": 31005}]))[0] == 201


def test_concurrent_creates_never_share_and_full_range_is_an_error(tmp_path: Path) -> None:
    with start_apiserver(tmp_path / "data", extra_args=RANGE) as api:
        # a /28 has 14 hosts; the first is kept for default/kubernetes: 13 to give
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: _create(api.url, _svc(f"s{i}", type="NodePort")),
                                    range(16)))
        made = [body for code, body in results if code == 201]
        assert len(made) == 10  # the node port range (10 ports) runs out first
        ips = [body["spec"]["clusterIP"] for body in made]
        ports = [body["spec"]["ports"][0]["nodePort"] for body in made]
        assert len(set(ips)) == len(ips) and len(set(ports)) == len(ports)
        failed = [body for code, body in results if code != 201]
        assert all(body["code"] == 500 and "range is full" in body["message"]
                   for body in failed), failed


def test_bad_range_flags_are_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    for flag, value in (("--service-cluster-ip-range", "10.96.0.1/12"),
                        ("--service-node-port-range", "32767-30000")):
        done = subprocess.run([sys.executable, "-m", "servers.km", "apiserver", flag, value,
                               "--data-dir", str(tmp_path)], capture_output=True, text=True,
                              timeout=30, check=False)
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert lines[-1].startswith("km apiserver: error: argument " + flag), done.stderr
        assert "Traceback" not in done.stderr


def test_updates_allocate_what_the_service_did_not_hold(tmp_path: Path) -> None:
    with start_apiserver(tmp_path / "data", extra_args=RANGE) as api:
        path = "/api/v1/namespaces/default/services"
        assert _create(api.url, _svc("taken", type="NodePort",
                                     ports=[{"port": 80, "nodePort": 31001}]))[0] == 201
        code, svc = _create(api.url, _svc("web"))
        assert code == 201 and "nodePort" not in svc["spec"]["ports"][0]
        code, svc = _call(api.url, "PUT", f"{path}/web",
                          {**svc, "spec": {**svc["spec"], "type": "NodePort"}})
        assert code == 200, svc
        port = svc["spec"]["ports"][0]["nodePort"]
        assert port in range(31000, 31010) and port != 31001
        # an unrelated update keeps what it holds and is not re-checked
        code, again = _call(api.url, "PUT", f"{path}/web",
                            {**svc, "metadata": {**svc["metadata"], "labels": {"a": "b"}}})
        assert code == 200 and again["spec"]["ports"][0]["nodePort"] == port
        # asking for another Service's port is a 422
        moved = {**again, "spec": {**again["spec"], "ports": [
            {**again["spec"]["ports"][0], "nodePort": 31001}]}}
        code, status = _call(api.url, "PUT", f"{path}/web", moved)
        assert code == 422 and "provided port is already allocated" in status["message"]
        # ExternalName turned ClusterIP gets an address
        code, ext = _create(api.url, {**_svc("ext", type="ExternalName",
                                             externalName="example.invalid")})
        assert code == 201
        code, turned = _call(api.url, "PUT", f"{path}/ext", {**ext, "spec": {
            "type": "ClusterIP", "ports": [{"port": 80}]}})
        assert code == 200 and turned["spec"]["clusterIP"].startswith("10.100.0."), turned
