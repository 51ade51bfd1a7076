"""The web view in headless Chromium against the built km.pyz.

One ``km all-in-one --isolation none`` for the module, with the service account signer on
(``--kube-apiserver-arg``) so ``kubectl create token`` works; its pods opt out of the token
volume, which a plain process cannot mount. Two ServiceAccounts log in: ``ui-admin``
(cluster-admin) and ``ui-viewer`` (view). Screenshots go to $KM_UI_SCREENSHOTS, else to a
temporary folder. Chromium reaches 127.0.0.1 only (tests/ui/browser.py).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.aio import POLL, QUIET, WAIT, Cluster, apply, remove_process_pods
from tests.support.apiserver import start_apiserver
from tests.support.ports import free_port
from tests.support.wait import until
from tests.ui.browser import PAGE_POLL, STALE, chromium, console_errors, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

NODE = "ui-node"
STATIC = Path(__file__).resolve().parents[2] / "servers" / "ui" / "static"
WEB = "echo serving; exec sleep 3600"
CRASH = "echo crash run at $(date +%s%N); exit 3"


def workload(name: str, replicas: int, script: str) -> str:
    labels = {"app": name}
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "automountServiceAccountToken": False,
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": "busybox",
                                     "command": ["sh", "-c", script],
                                     "resources": {"requests": {"cpu": "100m",
                                                                "memory": "32Mi"}}}]}}}})


@pytest.fixture(scope="module")
def cluster(km: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data = tmp_path_factory.mktemp("ui") / "data"
    c = Cluster(km, data, "--isolation", "none", "--node-name", NODE,
                "--secure-port", str(free_port()), *QUIET, "--kube-apiserver-arg",
                f"service-account-signing-key-file={data / 'pki' / 'sa.key'}")
    c.start()
    try:
        until(lambda: c.node_ready(NODE), "the node to be Ready", WAIT, POLL)
        for name, role in (("ui-admin", "cluster-admin"), ("ui-viewer", "view")):
            c.kubectl("create", "serviceaccount", name)
            c.kubectl("create", "clusterrolebinding", name, "--clusterrole", role,
                      "--serviceaccount", f"default:{name}")
        apply(c, workload("web", 2, WEB))
        apply(c, workload("crash", 1, CRASH))
        until(lambda: c.running("app=web", 2), "2 web pods Running", WAIT, POLL)
        yield c
        for name in ("web", "crash", "roll"):
            c.kubectl("delete", "deployment", name, "--ignore-not-found", check=False)
        until(lambda: not (c.json("get", "pods") or {"items": [1]})["items"],
              "the pods to go", WAIT, POLL)
    finally:
        c.stop()
        remove_process_pods(c.data / "kubelet", NODE)
    assert "Traceback" not in c.log.read_text()


@pytest.fixture(scope="module")
def base(cluster: Cluster) -> str:
    server = json.loads(cluster.kubectl("config", "view", "--raw", "-o", "json"))
    return server["clusters"][0]["cluster"]["server"] + "/ui/"


@pytest.fixture(scope="module")
def tokens(cluster: Cluster) -> dict[str, str]:
    return {name: cluster.kubectl("create", "token", name).strip()
            for name in ("ui-admin", "ui-viewer")}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = os.environ.get("KM_UI_SCREENSHOTS")
    return Path(env) if env else tmp_path_factory.mktemp("ui-screenshots")


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver
        errors = [e for e in console_errors(driver) if "Failed to load resource" not in e]
        assert not errors, errors  # uncaught exceptions, failed imports


def by_id(driver: Any, element_id: str) -> Any:
    return driver.find_element("id", element_id)


def css(driver: Any, selector: str) -> Any:
    return driver.find_element("css selector", selector)


def click(driver: Any, selector: str, what: str) -> None:
    """Find ``selector`` and click it in one step, again while a render replaces it between
    the two (a live list renders on every watch event)."""
    def clicked() -> bool:
        css(driver, selector).click()
        return True
    until(clicked, what, WAIT, PAGE_POLL, retry_on=STALE)


def text_of(driver: Any, selector: str) -> str:
    els = driver.find_elements("css selector", selector)
    return " ".join(e.text for e in els)


def login(driver: Any, base: str, token: str) -> None:
    driver.get(base)
    until(lambda: by_id(driver, "token"), "the login form", WAIT, PAGE_POLL, retry_on=STALE)
    by_id(driver, "token").send_keys(token)
    by_id(driver, "login-button").click()
    until(lambda: "Logged in as" in by_id(driver, "user").text,
          "the login to finish", WAIT, PAGE_POLL, retry_on=STALE)


def go(driver: Any, base: str, view: str) -> None:
    driver.execute_script("location.hash = arguments[0]", "#/" + view)


def replicas(cluster: Cluster, name: str) -> int:
    return int(cluster.json("get", "deployment", name)["spec"]["replicas"])


def test_the_built_km_serves_the_web_view(km: Path, tmp_path: Path) -> None:
    with start_apiserver(tmp_path / "data", km=km) as api:
        for name in ("index.html", "app.css", "js/main.js", "js/views/pod.js"):
            with urllib.request.urlopen(f"{api.url}/ui/{name}", timeout=10) as answer:
                assert answer.read() == (STATIC / name).read_bytes()
                assert answer.headers["ETag"].startswith('"')
        with urllib.request.urlopen(f"{api.url}/ui/", timeout=10) as answer:
            assert answer.headers["Content-Type"] == "text/html; charset=utf-8"


def test_a_wrong_token_gets_the_login_error(browser: Any, base: str, shots: Path) -> None:
    browser.get(base)
    by_id(browser, "token").send_keys("not-a-token")
    by_id(browser, "login-button").click()
    message = until(lambda: by_id(browser, "login-error").text,
                    "the login error", WAIT, PAGE_POLL, retry_on=STALE)
    assert "401 Unauthorized" in message and "kubectl create token" in message
    assert browser.execute_script("return sessionStorage.getItem('km.token')") is None
    screenshot(browser, shots, "login-error")


def test_the_node_and_the_running_pods_appear(browser: Any, base: str,
                                              tokens: dict[str, str], shots: Path) -> None:
    login(browser, base, tokens["ui-admin"])
    assert "system:serviceaccount:default:ui-admin" in by_id(browser, "user").text
    until(lambda: NODE in text_of(browser, "#nodes tbody"),
          "the node in the overview", WAIT, PAGE_POLL, retry_on=STALE)
    row = css(browser, f'#nodes tr[data-key="{NODE}"]')
    assert "Ready" in row.text
    cpu = row.find_element("css selector", f'[aria-label="CPU of {NODE}"]')
    until(lambda: float(cpu.get_attribute("aria-valuenow")) >= 0.3,
          "3 pods' cpu requests", WAIT, PAGE_POLL, retry_on=STALE)
    until(lambda: "Running" in text_of(browser, "#phases"),
          "pods by phase", WAIT, PAGE_POLL, retry_on=STALE)
    screenshot(browser, shots, "overview")
    go(browser, base, "pods")
    until(lambda: len([r for r in browser.find_elements("css selector", "#pods tbody tr")
                          if r.text.startswith("web-") and "Running" in r.text]) == 2,
          "the 2 running web pods", WAIT, PAGE_POLL, retry_on=STALE)
    screenshot(browser, shots, "pods")


def test_a_deployment_appears_and_its_rollout_moves_without_reload(
        browser: Any, base: str, tokens: dict[str, str], cluster: Cluster, shots: Path) -> None:
    login(browser, base, tokens["ui-admin"])
    go(browser, base, "workloads")
    until(lambda: "web" in text_of(browser, "#deployments tbody"),
          "the web deployment", WAIT, PAGE_POLL, retry_on=STALE)
    browser.execute_script("""
        window.__noReload = true; window.__seen = [];
        new MutationObserver(() => {
          const row = document.querySelector('#deployments tr[data-key="default/roll"]');
          if (row) window.__seen.push(row.querySelector('.rollout').textContent);
        }).observe(document.querySelector('#deployments tbody'),
                   {childList: true, subtree: true, characterData: true});""")
    apply(cluster, workload("roll", 3, WEB))
    roll = '#deployments tr[data-key="default/roll"]'
    until(lambda: "available 3/3" in text_of(browser, roll),
          "the rollout to finish on the page", WAIT, PAGE_POLL, retry_on=STALE)
    seen = browser.execute_script("return window.__seen")
    assert any("available 0/3" in s or "available 1/3" in s or "available 2/3" in s
               for s in seen), seen
    assert seen[-1].endswith("complete")
    assert browser.execute_script("return window.__noReload") is True
    screenshot(browser, shots, "workloads")


def test_scaling_from_the_page_changes_kubectl(browser: Any, base: str, tokens: dict[str, str],
                                               cluster: Cluster) -> None:
    login(browser, base, tokens["ui-admin"])
    go(browser, base, "workloads")
    box = until(lambda: css(browser, 'input[aria-label="Replicas for web"]'),
                "the scale box", WAIT, PAGE_POLL, retry_on=STALE)
    box.clear()
    box.send_keys("3")
    click(browser, 'button[aria-label="Scale web"]', "Scale")
    until(lambda: replicas(cluster, "web") == 3, "kubectl to see 3 replicas", WAIT, POLL)
    # (the page says so once the answer reached it, which may be after kubectl saw the change)
    until(lambda: "Scaled deployments/web to 3" in by_id(browser, "flash").text,
          "the page's confirmation", WAIT, PAGE_POLL, retry_on=STALE)
    until(lambda: "available 3/3" in text_of(browser, '#deployments tr[data-key="default/web"]'),
          "3 available on the page", WAIT, PAGE_POLL, retry_on=STALE)


def test_a_view_token_sees_everything_but_scaling_is_refused_with_the_403(
        browser: Any, base: str, tokens: dict[str, str], cluster: Cluster, shots: Path) -> None:
    login(browser, base, tokens["ui-viewer"])
    until(lambda: 'nodes is forbidden: User "system:serviceaccount:default:ui-viewer" '
             'cannot list resource "nodes"' in text_of(browser, "#nodes"),
          "the API's 403 for nodes, shown", WAIT, PAGE_POLL, retry_on=STALE)
    go(browser, base, "pods")
    until(lambda: "web-" in text_of(browser, "#pods tbody"),
          "the pods, to a viewer", WAIT, PAGE_POLL, retry_on=STALE)
    go(browser, base, "workloads")
    box = until(lambda: css(browser, 'input[aria-label="Replicas for web"]'),
                "the scale box", WAIT, PAGE_POLL, retry_on=STALE)
    before = replicas(cluster, "web")
    box.clear()
    box.send_keys("1")
    click(browser, 'button[aria-label="Scale web"]', "Scale")
    flash = until(lambda: by_id(browser, "flash").text,
                  "the refusal", WAIT, PAGE_POLL, retry_on=STALE)
    assert flash.startswith("Could not scale deployments/web to 1: ")
    assert ('deployments.apps "web" is forbidden: User "system:serviceaccount:default:ui-viewer" '
            'cannot patch resource "deployments/scale" in API group "apps"') in flash
    assert by_id(browser, "flash").get_attribute("role") == "alert"
    assert replicas(cluster, "web") == before
    screenshot(browser, shots, "viewer-refused")
    by_id(browser, "logout").click()
    until(lambda: by_id(browser, "token"),
          "the login form after logging out", WAIT, PAGE_POLL, retry_on=STALE)
    assert browser.execute_script("return sessionStorage.getItem('km.token')") is None


def test_a_crashing_pod_shows_restarts_and_its_previous_log(
        browser: Any, base: str, tokens: dict[str, str], cluster: Cluster, shots: Path) -> None:
    until(lambda: any((p["status"].get("containerStatuses") or [{}])[0].get("restartCount", 0)
                      for p in (cluster.json("get", "pods", "-l", "app=crash") or {"items": []})
                      ["items"]), "the crash pod to restart", 60, POLL)
    name = cluster.json("get", "pods", "-l", "app=crash")["items"][0]["metadata"]["name"]
    login(browser, base, tokens["ui-admin"])
    go(browser, base, f"pod/default/{name}")
    until(lambda: int(css(browser, 'dd[data-field="restarts"]').text or 0) >= 1,
          "the restarts on the pod page", WAIT, PAGE_POLL, retry_on=STALE)
    assert text_of(browser, "#containers tbody")  # the container's row
    # The current instance's request answers first (a user does not toggle within
    # milliseconds; an abort before the kubelet answers is logged by the apiserver as a 500).
    until(lambda: by_id(browser, "log").text,
          "the current instance's log or its error", WAIT, PAGE_POLL, retry_on=STALE)
    by_id(browser, "log-previous").click()
    until(lambda: "crash run at" in by_id(browser, "log").text,
          "the previous instance's log", WAIT, PAGE_POLL, retry_on=STALE)
    until(lambda: "BackOff" in text_of(browser, "#pod-events") or
             "Started" in text_of(browser, "#pod-events"),
          "the pod's events", WAIT, PAGE_POLL, retry_on=STALE)
    screenshot(browser, shots, "pod")
    go(browser, base, "overview")
    until(lambda: "BackOff" in text_of(browser, "#warnings tbody"),
          "the crash's BackOff among the recent warnings", WAIT, PAGE_POLL, retry_on=STALE)


def test_cordon_restart_and_delete_are_kubectl_calls(
        browser: Any, base: str, tokens: dict[str, str], cluster: Cluster) -> None:
    login(browser, base, tokens["ui-admin"])
    click(browser, f'button[aria-label="Cordon {NODE}"]', "Cordon")
    until(lambda: cluster.json("get", "node", NODE)["spec"].get("unschedulable"),
          "cordoned", WAIT, POLL)
    click(browser, f'button[aria-label="Uncordon {NODE}"]', "Uncordon")
    until(lambda: not cluster.json("get", "node", NODE)["spec"].get("unschedulable"),
          "uncordoned", WAIT, POLL)
    go(browser, base, "workloads")
    click(browser, 'button[aria-label="Restart rollout of web"]', "Restart")
    until(lambda: "kubectl.kubernetes.io/restartedAt" in (cluster.json(
        "get", "deployment", "web")["spec"]["template"]["metadata"].get("annotations") or {}),
        "the restartedAt annotation kubectl rollout restart sets", WAIT, POLL)
    until(lambda: "Restarted deployments/web" in by_id(browser, "flash").text,
          "the page's confirmation", WAIT, PAGE_POLL, retry_on=STALE)
    # (a pod of the finished rollout: one the restart is replacing may go before the click)
    done = cluster.run("rollout", "status", "deployment/web", "--timeout=60s", timeout=70)
    assert done.returncode == 0, done.stderr
    go(browser, base, "pods")
    pod = next(p["metadata"]["name"] for p in cluster.json("get", "pods", "-l", "app=web")["items"]
               if not p["metadata"].get("deletionTimestamp"))
    click(browser, f'button[aria-label="Delete pod {pod}"]', "Delete")
    browser.switch_to.alert.accept()
    until(lambda: pod not in cluster.kubectl("get", "pods", "-o", "name") or
          "Terminating" in cluster.kubectl("get", "pods"), "the pod to be deleted", WAIT, POLL)


def test_phone_width_and_dark_scheme(browser: Any, base: str, tokens: dict[str, str],
                                     shots: Path) -> None:
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {
        "features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    login(browser, base, tokens["ui-admin"])
    until(lambda: NODE in text_of(browser, "#nodes tbody"),
          "the node", WAIT, PAGE_POLL, retry_on=STALE)
    assert browser.execute_script(
        "return getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"
    assert browser.execute_script("return window.innerWidth") == 390
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth + 1"), \
        "the page scrolls sideways at phone width (only tables may)"
    screenshot(browser, shots, "overview-phone-dark")
    # Keyboard: "g p" goes to the pods, "j" focuses the first pod's link.
    body = css(browser, "body")
    body.send_keys("g")
    body.send_keys("p")
    until(lambda: "web-" in text_of(browser, "#pods tbody"),
          "the pods view by keyboard", WAIT, PAGE_POLL, retry_on=STALE)
    css(browser, "main").send_keys("j")
    assert browser.execute_script("return document.activeElement.closest('#pods tbody') !== null")


def test_services_events_yaml_and_the_namespace_filter(
        browser: Any, base: str, tokens: dict[str, str], cluster: Cluster) -> None:
    cluster.kubectl("expose", "deployment", "web", "--port", "80", "--target-port", "8000")
    login(browser, base, tokens["ui-admin"])
    go(browser, base, "services")
    row = '#services tr[data-key="default/web"]'
    until(lambda: ":8000" in text_of(browser, row),
          "the web service with its endpoints", WAIT, PAGE_POLL, retry_on=STALE)
    assert "80/TCP" in text_of(browser, row) and "app=web" in text_of(browser, row)
    go(browser, base, "events")
    until(lambda: "Scheduled" in text_of(browser, "#events tbody"),
          "the event stream", WAIT, PAGE_POLL, retry_on=STALE)
    go(browser, base, "yaml/apis/apps/v1/namespaces/default/deployments/web")
    text = until(lambda: css(browser, "pre.yaml").text,
                 "the deployment as YAML", WAIT, PAGE_POLL, retry_on=STALE)
    assert text.startswith("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n")
    assert "  name: web\n" in text
    go(browser, base, "pods")
    until(lambda: "web-" in text_of(browser, "#pods tbody"),
          "the pods", WAIT, PAGE_POLL, retry_on=STALE)
    from selenium.webdriver.support.ui import Select

    until(lambda: "kube-system" in text_of(browser, "#namespace"),
          "the namespaces listed", WAIT, PAGE_POLL, retry_on=STALE)
    Select(by_id(browser, "namespace")).select_by_value("kube-system")
    until(lambda: "web-" not in text_of(browser, "#pods tbody"),
          "default's pods filtered out", WAIT, PAGE_POLL, retry_on=STALE)
    assert browser.execute_script("return sessionStorage.getItem('km.namespace')") == "kube-system"


def test_the_page_reconnects_after_the_cluster_restarts(
        browser: Any, base: str, tokens: dict[str, str], cluster: Cluster) -> None:
    # Last in the module: the cluster is killed (-9) and started again under the open page.
    login(browser, base, tokens["ui-admin"])
    go(browser, base, "pods")
    until(lambda: "web-" in text_of(browser, "#pods tbody"),
          "the pods", WAIT, PAGE_POLL, retry_on=STALE)
    browser.execute_script("window.__noReload = true")
    cluster.kill()
    cluster.start()
    until(lambda: cluster.node_ready(NODE), "the node Ready again", WAIT, POLL)
    cluster.kubectl("run", "after-restart", "--image", "busybox", "--restart", "Never",
                    "--overrides", json.dumps({"spec": {"automountServiceAccountToken": False}}),
                    "--command", "--", "sleep", "3600")
    until(lambda: "after-restart" in text_of(browser, "#pods tbody"),
          "a pod made after the restart, on the same page", 60, PAGE_POLL, retry_on=STALE)
    assert browser.execute_script("return window.__noReload") is True
    cluster.kubectl("delete", "pod", "after-restart", "--wait=false")
