// One pod: its containers, conditions and events, and a live log pane (container choice,
// previous instance, follow) reading pods/log as `kubectl logs -f` does.

import { badge, h, syncRows } from "../dom.js";
import { age, podStatus, readyCount, restarts, statusKind } from "../format.js";
import { objectPath, streamLines } from "../api.js";
import { button, deletePod, section, table, watchAll, yamlLink } from "./common.js";
import { lastSeen } from "./overview.js";

const MAX_LOG_CHUNKS = 2000; // text nodes kept in the pane (each one frame's lines)

export function mount(main, ctx) {
  const [ns, name] = ctx.params;
  const path = objectPath("v1", "pods", ns, name);
  const summary = h("dl", { class: "summary" });
  const head = section(`Pod ${ns}/${name}`, "pod");
  head.body.append(summary, h("p", {}, button("Delete", `Delete pod ${name}`, () => {
    if (confirm(`Delete pod ${ns}/${name}?`)) deletePod({ metadata: { namespace: ns, name } });
  }), " ", yamlLink(path, name)));
  const containers = section("Containers", "containers");
  const ct = table("Containers", ["Name", "Image", "State", "Ready", "Restarts", "Last state"]);
  containers.body.append(ct.el);
  const conditions = section("Conditions", "conditions");
  const cond = table("Conditions", ["Type", "Status", "Reason", "Last transition"]);
  conditions.body.append(cond.el);
  const events = section("Events", "pod-events");
  const ev = table("Events of this pod", ["Last seen", "Type", "Reason", "Message", "Count"]);
  events.body.append(ev.el);
  const logs = logPane(ns, name);
  main.append(head.el, containers.el, conditions.el, events.el, logs.el);

  const w = watchAll([
    ["v1", "pods", "Pod", ns, { fieldSelector: "metadata.name=" + name }],
    ["v1", "events", "Event", ns, { fieldSelector: "involvedObject.name=" + name }],
  ], render);
  const [podInf, eventInf] = w.informers;

  function render() {
    head.showState(podInf);
    events.showState(eventInf);
    const pod = podInf.store.get(ns + "/" + name);
    if (!pod) {
      if (podInf.synced && !podInf.error) summary.replaceChildren(h("p", { class: "alert", role: "alert" }, "This pod does not exist (any more)."));
      return;
    }
    const status = podStatus(pod);
    const st = pod.status || {};
    summary.replaceChildren(...[
      ["Status", badge(status, statusKind(status))], ["Ready", readyCount(pod)],
      ["Restarts", String(restarts(pod))], ["Node", (pod.spec && pod.spec.nodeName) || ""],
      ["IP", st.podIP || ""], ["Age", age(pod.metadata.creationTimestamp)],
    ].flatMap(([k, v]) => [h("dt", {}, k), h("dd", { "data-field": k.toLowerCase() }, v)]));
    const statuses = new Map((st.containerStatuses || []).map((c) => [c.name, c]));
    syncRows(ct.tbody, pod.spec.containers, (c) => c.name, (c) => {
      const s = statuses.get(c.name) || {};
      return [c.name, c.image || "", stateText(s.state), String(Boolean(s.ready)),
        String(s.restartCount || 0), stateText(s.lastState)];
    });
    syncRows(cond.tbody, st.conditions || [], (c) => c.type, (c) => [c.type, c.status, c.reason || "", age(c.lastTransitionTime)]);
    const list = eventInf.items().filter((e) => (e.involvedObject || {}).kind === "Pod")
      .sort((a, b) => (lastSeen(a) < lastSeen(b) ? 1 : -1));
    syncRows(ev.tbody, list, (e) => e.metadata.name, (e) => [age(lastSeen(e)), e.type || "", e.reason || "", e.message || "", String(e.count || 1)]);
    logs.setContainers(pod.spec.containers.map((c) => c.name));
    logs.restarted(new Map((st.containerStatuses || []).map((c) => [c.name, c.restartCount || 0])));
  }
  return () => { logs.stop(); w.dispose(); };
}

function stateText(state) {
  if (!state) return "";
  if (state.running) return "Running since " + (state.running.startedAt || "");
  if (state.waiting) return "Waiting: " + (state.waiting.reason || "") + (state.waiting.message ? " (" + state.waiting.message + ")" : "");
  if (state.terminated) {
    const t = state.terminated;
    return `Terminated: ${t.reason || ""} (exit ${t.exitCode})`;
  }
  return "";
}

// The log pane: a container select, previous and follow toggles, and the text as it comes.
function logPane(ns, name) {
  const select = h("select", { id: "log-container" });
  const previous = h("input", { type: "checkbox", id: "log-previous" });
  const follow = h("input", { type: "checkbox", id: "log-follow", checked: true });
  const status = h("span", { class: "log-status", "aria-live": "polite" });
  const pre = h("pre", { class: "log", id: "log", tabindex: "0", "aria-label": "Log" });
  const s = section("Log", "logs");
  s.body.append(h("div", { class: "toolbar" },
    h("label", { for: "log-container" }, "Container "), select,
    h("label", {}, previous, " Previous instance"),
    h("label", {}, follow, " Follow"), status), pre);
  let controller = null;
  let names = [];
  let restartsSeen = null;
  let pending = [];
  let frame = 0;

  function flushLines() {
    frame = 0;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(pending.join(""));
    pending = [];
    while (pre.childNodes.length > MAX_LOG_CHUNKS) pre.firstChild.remove();
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }

  async function start() {
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    pre.textContent = "";
    pending = [];
    restartsSeen = null; // the next render notes the chosen container's count
    const q = new URLSearchParams({ tailLines: "1000" });
    if (select.value) q.set("container", select.value);
    if (previous.checked) q.set("previous", "true");
    else if (follow.checked) q.set("follow", "true");
    status.textContent = previous.checked ? "previous instance" : (follow.checked ? "following…" : "");
    try {
      await streamLines(objectPath("v1", "pods", ns, name) + "/log?" + q, (line) => {
        pending.push(line + "\n");
        if (!frame) frame = requestAnimationFrame(flushLines);
      }, signal, "text/plain");
      if (!signal.aborted) status.textContent = follow.checked && !previous.checked ? "stream ended" : "";
    } catch (err) {
      if (!signal.aborted) {
        status.textContent = "";
        pre.textContent = "";
        pre.append(h("span", { class: "alert", role: "alert" }, err.message));
      }
    }
  }

  for (const el of [select, previous, follow]) el.addEventListener("change", start);
  return {
    el: s.el,
    setContainers(list) {
      if (list.join() === names.join()) return;
      names = list;
      const keep = select.value;
      select.replaceChildren(...list.map((n) => h("option", { value: n }, n)));
      if (list.includes(keep)) select.value = keep;
      start();
    },
    // A followed log ends with its container; when the container starts again, follow anew.
    restarted(counts) {
      const n = counts.get(select.value) || 0;
      if (restartsSeen !== null && n !== restartsSeen && follow.checked && !previous.checked) start();
      restartsSeen = n;
    },
    stop() { if (controller) controller.abort(); },
  };
}
