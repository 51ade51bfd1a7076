// The pods view: status, ready, restarts, node, IP and age, with delete and YAML per pod.

import { badge, h, link, syncRows } from "../dom.js";
import { age, podStatus, readyCount, restarts, sortByName, statusKind } from "../format.js";
import { objectPath } from "../api.js";
import { button, deletePod, inNamespace, section, table, watchAll, yamlLink } from "./common.js";

export function mount(main, ctx) {
  const phase = ctx.query.get("phase") || "";
  const filter = h("input", { type: "search", id: "pod-filter", placeholder: "name contains…",
    "aria-label": "Filter pods by name", value: ctx.query.get("q") || "" });
  const pods = section(phase ? `Pods (${phase})` : "Pods", "pods");
  const t = table("Pods", ["Name", "Namespace", "Ready", "Status", "Restarts", "Node", "IP", "Age", "Actions"]);
  pods.body.append(h("div", { class: "toolbar" }, filter), t.el);
  main.append(pods.el);
  const w = watchAll([["v1", "pods", "Pod", ctx.ns]], render);
  filter.addEventListener("input", render);
  const [inf] = w.informers;
  let lastAge = 0;

  function render() {
    pods.showState(inf);
    const q = filter.value.trim();
    let list = inf.items().filter(inNamespace(ctx.ns))
      .filter((p) => !phase || ((p.status && p.status.phase) || "Pending") === phase)
      .filter((p) => !q || p.metadata.name.includes(q));
    list = sortByName(list);
    const now = Date.now();
    syncRows(t.tbody, list, (p) => p.metadata.namespace + "/" + p.metadata.name, (p) => cells(p, now),
      (p) => p.metadata.resourceVersion + "|" + age(p.metadata.creationTimestamp, now));
    lastAge = now;
  }
  // Ages move on without events: redraw them every few seconds.
  const tick = setInterval(() => { if (Date.now() - lastAge > 4000) render(); }, 5000);
  return () => { clearInterval(tick); w.dispose(); };
}

function cells(p, now) {
  const { namespace, name } = p.metadata;
  const status = podStatus(p);
  const st = p.status || {};
  return [
    link(`#/pod/${namespace}/${name}`, name),
    namespace,
    readyCount(p),
    badge(status, statusKind(status)),
    String(restarts(p)),
    (p.spec && p.spec.nodeName) || "",
    st.podIP || "",
    age(p.metadata.creationTimestamp, now),
    h("span", { "data-v": namespace + "/" + name },
      button("Delete", `Delete pod ${name}`, () => {
        if (confirm(`Delete pod ${namespace}/${name}?`)) deletePod(p);
      }), " ", yamlLink(objectPath("v1", "pods", namespace, name), name)),
  ];
}
