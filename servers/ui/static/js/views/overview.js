// The overview: nodes with allocatable against requested cpu, memory and pods as bars (and
// cordon/uncordon), pods by phase, and the most recent warnings.

import { bar, h, link, syncRows, badge } from "../dom.js";
import { age, nodeReady, statusKind } from "../format.js";
import { allocatable, formatBytes, formatCPU, requestedByNode } from "../quantity.js";
import { objectPath } from "../api.js";
import { button, cordon, inNamespace, section, table, watchAll, yamlLink } from "./common.js";

const PHASES = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];

export function mount(main, ctx) {
  const nodes = section("Nodes", "nodes");
  const nodeTable = table("Nodes: readiness and requested of allocatable resources",
    ["Node", "Status", "CPU requested", "Memory requested", "Pods", "Actions"]);
  nodes.body.append(nodeTable.el);
  const phases = section("Pods by phase", "phases");
  const phaseList = h("ul", { class: "phases" });
  phases.body.append(phaseList);
  const warnings = section("Recent warnings", "warnings");
  const warnTable = table("Recent warning events", ["Last seen", "Object", "Reason", "Message"]);
  warnings.body.append(warnTable.el);
  main.append(h("div", { class: "grid" }, nodes.el, phases.el, warnings.el));

  const w = watchAll([
    ["v1", "nodes", "Node"],
    ["v1", "pods", "Pod"],
    ["v1", "events", "Event", ctx.ns, { fieldSelector: "type=Warning" }],
  ], render);
  const [nodeInf, podInf, eventInf] = w.informers;

  function render() {
    nodes.showState(nodeInf);
    phases.showState(podInf);
    warnings.showState(eventInf);
    const pods = podInf.items();
    const requested = requestedByNode(pods);
    const list = nodeInf.items().sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    syncRows(nodeTable.tbody, list, (n) => n.metadata.name, (n) => nodeCells(n, requested.get(n.metadata.name)));
    const counts = Object.fromEntries(PHASES.map((p) => [p, 0]));
    for (const pod of pods.filter(inNamespace(ctx.ns))) {
      const phase = (pod.status && pod.status.phase) || "Pending";
      counts[phase] = (counts[phase] || 0) + 1;
    }
    const items = Object.entries(counts).map(([p, n]) => h("li", { class: "phase " + p.toLowerCase() },
      h("a", { href: "#/pods?phase=" + p }, h("span", { class: "count" }, String(n)), " " + p)));
    phaseList.replaceChildren(...items);
    const recent = eventInf.items().sort((a, b) => (lastSeen(b) > lastSeen(a) ? 1 : -1)).slice(0, 15);
    syncRows(warnTable.tbody, recent, (e) => e.metadata.namespace + "/" + e.metadata.name, (e) => [
      age(lastSeen(e)), involved(e), e.reason || "", e.message || ""]);
  }
  return () => w.dispose();
}

function nodeCells(node, req = { cpu: 0, memory: 0, pods: 0 }) {
  const a = allocatable(node);
  const name = node.metadata.name;
  const ready = nodeReady(node);
  const cordoned = Boolean(node.spec && node.spec.unschedulable);
  const status = ready + (cordoned ? ", SchedulingDisabled" : "");
  return [
    link("#/yaml" + objectPath("v1", "nodes", null, name), name),
    badge(status, statusKind(ready === "Ready" ? "Running" : ready)),
    bar(`CPU of ${name}`, req.cpu, a.cpu, `${formatCPU(req.cpu)} / ${formatCPU(a.cpu)}`),
    bar(`Memory of ${name}`, req.memory, a.memory, `${formatBytes(req.memory)} / ${formatBytes(a.memory)}`),
    bar(`Pods on ${name}`, req.pods, a.pods, `${req.pods} / ${a.pods}`),
    h("span", { "data-v": name + cordoned }, cordoned
      ? button("Uncordon", `Uncordon ${name}`, () => cordon(node, false))
      : button("Cordon", `Cordon ${name}`, () => cordon(node, true)), " ", yamlLink(objectPath("v1", "nodes", null, name), name)),
  ];
}

export function lastSeen(e) {
  return e.lastTimestamp || e.eventTime || (e.series && e.series.lastObservedTime) || e.metadata.creationTimestamp || "";
}

export function involved(e) {
  const o = e.involvedObject || {};
  const text = (o.kind || "").toLowerCase() + "/" + (o.name || "");
  if (o.kind === "Pod" && o.namespace) return h("a", { href: `#/pod/${o.namespace}/${o.name}`, "data-v": text + o.namespace }, text);
  return text;
}
