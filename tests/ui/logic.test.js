// The web view's own logic, run in the same headless Chromium as the e2e tests: watch events
// merged into lists (and the informer's re-list on 410), quantity arithmetic for the bars,
// the YAML emitter, kubectl-style formatting, the frame-batched keyed table.
// test_logic.py runs each test("...") below as a pytest test of the same name.

import { parseQuantity, podRequests, requestedByNode, formatBytes, formatCPU, fraction, allocatable } from "/static/js/quantity.js";
import { applyEvent, replaceAll, keyOf, Informer } from "/static/js/informer.js";
import { toYAML } from "/static/js/yaml.js";
import { podStatus, readyCount, restarts, age, sortByName, byName } from "/static/js/format.js";
import { syncRows, schedule, stats, h } from "/static/js/dom.js";
import { rollout } from "/static/js/views/workloads.js";
import { endpointsText } from "/static/js/views/services.js";
import { parsePath } from "/static/js/views/yaml.js";
import { collectionPath, objectPath } from "/static/js/api.js";

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

function eq(got, want, what = "") {
  const a = JSON.stringify(got);
  const b = JSON.stringify(want);
  if (a !== b) throw new Error(`${what} expected ${b}, got ${a}`);
}

const pod = (name, extra = {}) => ({ metadata: { namespace: "default", name, resourceVersion: "1" }, ...extra });
const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));

test("quantities parse as kube's suffixes say", () => {
  eq(parseQuantity("100m"), 0.1);
  eq(parseQuantity("2"), 2);
  eq(parseQuantity("1.5"), 1.5);
  eq(parseQuantity("128Mi"), 128 * 2 ** 20);
  eq(parseQuantity("1Gi"), 2 ** 30);
  eq(parseQuantity("2k"), 2000);
  eq(parseQuantity("1e3"), 1000);
  eq(parseQuantity("500u"), 0.0005);
  eq(parseQuantity("110"), 110);
});

test("bad quantities are NaN, not zero", () => {
  for (const bad of ["abc", "1.2.3", "", "Mi", "1 Gi", "1MiB"]) {
    if (!Number.isNaN(parseQuantity(bad))) throw new Error(bad + " parsed");
  }
});

test("pod requests: containers summed, init containers as a floor, sidecars added, overhead", () => {
  const p = { spec: {
    containers: [{ resources: { requests: { cpu: "100m", memory: "64Mi" } } }, { resources: { requests: { cpu: "250m" } } }, {}],
    initContainers: [{ resources: { requests: { cpu: "1", memory: "16Mi" } } },
      { restartPolicy: "Always", resources: { requests: { memory: "32Mi" } } }],
    overhead: { cpu: "10m" },
  } };
  const r = podRequests(p);
  eq(Math.round(r.cpu * 1000), 1010);
  eq(r.memory, 96 * 2 ** 20);
});

test("requested per node counts only bound pods that still run", () => {
  const mk = (node, phase, cpu) => ({ spec: { nodeName: node, containers: [{ resources: { requests: { cpu } } }] }, status: { phase } });
  const byNode = requestedByNode([mk("a", "Running", "500m"), mk("a", "Pending", "250m"),
    mk("a", "Succeeded", "4"), mk("b", "Failed", "1"), { spec: { containers: [] }, status: { phase: "Pending" } }]);
  eq(byNode.get("a"), { cpu: 0.75, memory: 0, pods: 2 });
  eq(byNode.has("b"), false);
});

test("bar arithmetic: allocatable, fractions, formatting", () => {
  const a = allocatable({ status: { capacity: { cpu: "8", memory: "4Gi", pods: "250" }, allocatable: { cpu: "7500m", memory: "3Gi", pods: "110" } } });
  eq(a, { cpu: 7.5, memory: 3 * 2 ** 30, pods: 110 });
  eq(fraction(0.75, 7.5), 0.1);
  eq(fraction(9, 8), 1);
  eq(fraction(1, 0), 1);
  eq(fraction(0, 0), 0);
  eq(formatBytes(1.5 * 2 ** 30), "1.5Gi");
  eq(formatBytes(512), "512");
  eq(formatCPU(0.25), "250m");
  eq(formatCPU(2), "2");
});

test("watch events merge into the store", () => {
  const store = new Map();
  eq(applyEvent(store, { type: "ADDED", object: pod("a") }), true);
  eq(applyEvent(store, { type: "ADDED", object: pod("b") }), true);
  const newer = pod("a", { spec: { x: 1 } });
  newer.metadata.resourceVersion = "5";
  eq(applyEvent(store, { type: "MODIFIED", object: newer }), true);
  eq(store.get("default/a").spec, { x: 1 });
  eq(applyEvent(store, { type: "DELETED", object: pod("b") }), true);
  eq([...store.keys()], ["default/a"]);
  eq(applyEvent(store, { type: "DELETED", object: pod("zz") }), false);
  eq(applyEvent(store, { type: "BOOKMARK", object: { metadata: { resourceVersion: "9" } } }), false);
});

test("a stale replay does not overwrite a newer object", () => {
  const store = new Map();
  const v7 = pod("a", { status: { phase: "Running" } });
  v7.metadata.resourceVersion = "7";
  applyEvent(store, { type: "ADDED", object: v7 });
  const v3 = pod("a", { status: { phase: "Pending" } });
  v3.metadata.resourceVersion = "3";
  eq(applyEvent(store, { type: "MODIFIED", object: v3 }), false);
  eq(store.get("default/a").status.phase, "Running");
});

test("a re-list replaces the store and drops what is gone", () => {
  const store = new Map([["default/a", pod("a")], ["default/b", pod("b")]]);
  const changed = replaceAll(store, [pod("b"), pod("c")]);
  eq([...store.keys()].sort(), ["default/b", "default/c"]);
  eq(changed, 2);
  eq(keyOf({ metadata: { name: "node1" } }), "node1");
});

test("the informer lists, watches from the list's resourceVersion, and re-lists on 410", async () => {
  const realFetch = window.fetch;
  const calls = [];
  const lines = (...events) => events.map((e) => JSON.stringify(e)).join("\n") + "\n";
  const answers = [
    () => new Response(JSON.stringify({ kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: "10" }, items: [pod("a"), pod("b")] })),
    () => new Response(lines(
      { type: "MODIFIED", object: { ...pod("a", { status: { phase: "Running" } }), metadata: { namespace: "default", name: "a", resourceVersion: "11" } } },
      { type: "BOOKMARK", object: { kind: "Pod", metadata: { resourceVersion: "12" } } },
      { type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version" } })),
    () => new Response(JSON.stringify({ kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: "20" }, items: [pod("c")] })),
    () => new Promise(() => {}), // the second watch stays open
  ];
  window.fetch = (url) => { calls.push(String(url)); return Promise.resolve(answers[calls.length - 1]()); };
  try {
    const inf = new Informer("/api/v1/pods", "Pod");
    const seen = [];
    inf.subscribe((_, e) => seen.push(e.type));
    inf.start();
    for (let i = 0; i < 100 && calls.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    inf.stop();
    eq(calls.length, 4, "requests");
    eq(calls[0], "/api/v1/pods?");
    if (!calls[1].includes("watch=1") || !calls[1].includes("resourceVersion=10") || !calls[1].includes("allowWatchBookmarks=true")) throw new Error("watch url " + calls[1]);
    if (calls[2].includes("watch")) throw new Error("410 must re-list: " + calls[2]);
    if (!calls[3].includes("resourceVersion=20")) throw new Error("watch after re-list " + calls[3]);
    eq([...inf.store.keys()], ["default/c"]);
    eq(inf.store.get("default/c").kind, "Pod");
    eq(seen, ["SYNC", "MODIFIED", "SYNC"]);
    eq(inf.relists, 2);
  } finally {
    window.fetch = realFetch;
  }
});

test("a dropped connection resumes the watch from the last resourceVersion, no re-list", async () => {
  const realFetch = window.fetch;
  const calls = [];
  const answers = [
    () => Promise.resolve(new Response(JSON.stringify({ kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: "7" }, items: [pod("a")] }))),
    () => Promise.resolve(new Response(JSON.stringify({ type: "ADDED", object: { ...pod("b"), metadata: { namespace: "default", name: "b", resourceVersion: "8" } } }) + "\n")),
    () => Promise.reject(new TypeError("Failed to fetch")), // the apiserver went away
    () => new Promise(() => {}),
  ];
  window.fetch = (url) => { calls.push(String(url)); return answers[calls.length - 1](); };
  try {
    const inf = new Informer("/api/v1/pods", "Pod");
    inf.start();
    for (let i = 0; i < 300 && calls.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    inf.stop();
    eq(calls.length, 4, "requests");
    if (!calls[2].includes("resourceVersion=8") || !calls[3].includes("resourceVersion=8")) throw new Error("resume " + calls.slice(2));
    if (!calls[3].includes("watch=1")) throw new Error("a network error must not re-list: " + calls[3]);
    eq([...inf.store.keys()], ["default/a", "default/b"]);
    eq(inf.relists, 1);
  } finally {
    window.fetch = realFetch;
  }
});

test("an informer keeps a 403 as its error, with the API's message", async () => {
  const realFetch = window.fetch;
  window.fetch = () => Promise.resolve(new Response(JSON.stringify({ kind: "Status", code: 403, reason: "Forbidden",
    message: 'nodes is forbidden: User "x" cannot list resource "nodes"' }), { status: 403 }));
  try {
    const inf = new Informer("/api/v1/nodes", "Node");
    inf.start();
    for (let i = 0; i < 100 && !inf.error; i++) await new Promise((r) => setTimeout(r, 10));
    inf.stop();
    eq(inf.error.status, 403);
    eq(inf.error.message, 'nodes is forbidden: User "x" cannot list resource "nodes"');
  } finally {
    window.fetch = realFetch;
  }
});

test("YAML: nested maps and lists, kubectl's layout", () => {
  const y = toYAML({ apiVersion: "v1", kind: "Pod", metadata: { name: "web", labels: { app: "web" } },
    spec: { containers: [{ name: "c", args: ["-p", "8000"], ports: [{ containerPort: 80 }] }], volumes: [] } });
  eq(y, [
    "apiVersion: v1", "kind: Pod", "metadata:", "  name: web", "  labels:", "    app: web", "spec:",
    "  containers:", "  - name: c", "    args:", "    - -p", '    - "8000"', "    ports:", "    - containerPort: 80",
    "  volumes: []", ""].join("\n"));
});

test("YAML: strings that would read back as something else are quoted", () => {
  const y = toYAML({ a: "true", b: "123", c: "", d: "no", e: "x: y", f: "#c", g: null, h: false, i: 1.5,
    j: "2026-12-06T12:00:00Z", k: "10.0.0.1", l: "plain text", m: "[x]" });
  eq(y, ['a: "true"', 'b: "123"', 'c: ""', 'd: "no"', 'e: "x: y"', 'f: "#c"', "g: null", "h: false", "i: 1.5",
    'j: "2026-12-06T12:00:00Z"', "k: 10.0.0.1", "l: plain text", 'm: "[x]"', ""].join("\n"));
});

test("YAML: multi-line text as a literal block", () => {
  eq(toYAML({ s: "line 1\nline 2\n" }), "s: |\n  line 1\n  line 2\n");
  eq(toYAML({ s: "a\nb" }), "s: |-\n  a\n  b\n");
  eq(toYAML({ s: " lead\nx" }), 's: " lead\\nx"\n');
  eq(toYAML([]), "[]\n");
});

test("pod status, ready and restarts read as kubectl prints them", () => {
  const p = { metadata: { name: "p" }, spec: { containers: [{ name: "a" }, { name: "b" }] },
    status: { phase: "Running", containerStatuses: [
      { name: "a", ready: true, restartCount: 0, state: { running: {} } },
      { name: "b", ready: false, restartCount: 3, state: { waiting: { reason: "CrashLoopBackOff" } } }] } };
  eq(podStatus(p), "CrashLoopBackOff");
  eq(readyCount(p), "1/2");
  eq(restarts(p), 3);
  eq(podStatus({ metadata: { deletionTimestamp: "x" }, status: { phase: "Running" } }), "Terminating");
  eq(podStatus({ metadata: {}, status: {} }), "Pending");
  const now = Date.parse("2026-01-01T10:00:00Z");
  eq(age("2026-01-01T09:59:30Z", now), "30s");
  eq(age("2026-01-01T07:00:00Z", now), "3h");
  eq(age("2026-01-01T08:30:00Z", now), "90m");
  eq(age("2025-12-25T10:00:00Z", now), "7d");
});

test("sorting by namespace/name: the keyed sort agrees with the comparator", () => {
  const items = ["b/x", "a/z", "a/y", "c/a", "a/y-1"].map((k) => ({ metadata: { namespace: k.split("/")[0], name: k.split("/")[1] } }));
  const names = (xs) => xs.map((o) => o.metadata.namespace + "/" + o.metadata.name);
  eq(names(sortByName(items)), ["a/y", "a/y-1", "a/z", "b/x", "c/a"]);
  eq(names(sortByName(items)), names(items.slice().sort(byName)));
});

test("rollout progress: updated, ready and available of desired", () => {
  const d = (spec, status, gen = 1) => ({ metadata: { generation: gen }, spec, status: { observedGeneration: 1, ...status } });
  eq(rollout(d({ replicas: 4 }, { replicas: 4, updatedReplicas: 2, readyReplicas: 3, availableReplicas: 3 })).state, "2 of 4 updated");
  eq(rollout(d({ replicas: 2 }, { replicas: 3, updatedReplicas: 2, readyReplicas: 3, availableReplicas: 3 })).state, "1 old replicas pending termination");
  eq(rollout(d({ replicas: 2 }, { replicas: 2, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1 })).state, "1 of 2 updated available");
  eq(rollout(d({ replicas: 2 }, { replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 })).state, "complete");
  eq(rollout(d({ replicas: 2 }, {}, 2)).state, "waiting for the controller");
  eq(rollout(d({}, {})).desired, 1);
});

test("endpoints and paths", () => {
  eq(endpointsText({ subsets: [{ addresses: [{ ip: "127.0.0.5" }, { ip: "127.0.0.6" }], notReadyAddresses: [{ ip: "127.0.0.7" }], ports: [{ port: 8000 }] }] }),
    "127.0.0.5:8000, 127.0.0.6:8000 (not ready: 127.0.0.7:8000)");
  eq(endpointsText(undefined), "<none>");
  eq(collectionPath("apps/v1", "deployments", "ns"), "/apis/apps/v1/namespaces/ns/deployments");
  eq(objectPath("v1", "nodes", null, "n1"), "/api/v1/nodes/n1");
  eq(parsePath("/apis/apps/v1/namespaces/default/deployments/web"), { gv: "apps/v1", plural: "deployments", ns: "default", name: "web" });
  eq(parsePath("/api/v1/nodes/n1"), { gv: "v1", plural: "nodes", ns: null, name: "n1" });
  eq(parsePath("/api/v1/namespaces/kube-system"), { gv: "v1", plural: "namespaces", ns: null, name: "kube-system" });
});

test("keyed table rows are reused, reordered and removed, not rebuilt", () => {
  const tbody = h("tbody");
  const cells = (r) => [r.name, String(r.n)];
  syncRows(tbody, [{ name: "a", n: 1 }, { name: "b", n: 2 }, { name: "c", n: 3 }], (r) => r.name, cells);
  const rowB = tbody.children[1];
  const cellB = rowB.children[1];
  syncRows(tbody, [{ name: "c", n: 3 }, { name: "b", n: 5 }], (r) => r.name, cells);
  eq([...tbody.children].map((tr) => tr.dataset.key), ["c", "b"]);
  eq(tbody.children[1] === rowB, true, "row b reused");
  eq(rowB.children[1] === cellB && cellB.textContent === "5", true, "cell updated in place");
});

test("a row whose version is unchanged is not asked for its cells", () => {
  const tbody = h("tbody");
  let asked = 0;
  const cells = (r) => { asked++; return [r.name, String(r.n)]; };
  const version = (r) => String(r.rv);
  syncRows(tbody, [{ name: "a", n: 1, rv: 1 }, { name: "b", n: 2, rv: 1 }], (r) => r.name, cells, version);
  eq(asked, 2);
  syncRows(tbody, [{ name: "a", n: 1, rv: 1 }, { name: "b", n: 7, rv: 2 }], (r) => r.name, cells, version);
  eq(asked, 3, "only b again");
  eq(tbody.children[1].children[1].textContent, "7");
});

test("renders asked within one frame are drawn once", async () => {
  let count = 0;
  const render = () => count++;
  const before = stats.frames;
  for (let i = 0; i < 1000; i++) schedule(render);
  eq(count, 0, "nothing drawn synchronously");
  await frame();
  eq(count, 1);
  eq(stats.frames, before + 1);
});

async function runAll() {
  const results = [];
  for (const [name, fn] of tests) {
    try {
      await fn();
      results.push({ name, ok: true });
    } catch (err) {
      results.push({ name, ok: false, error: String((err && err.stack) || err) });
    }
  }
  window.__results = results;
}

runAll();
