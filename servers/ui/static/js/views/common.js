// What every view shares: informers tied to the view's life, sections with their error line,
// and the actions (the same API calls kubectl makes), whose refusals show the API's message.

import { MERGE, STRATEGIC, collectionPath, del, objectPath, patch } from "../api.js";
import { acquire, release } from "../informer.js";
import { alertBox, h, schedule } from "../dom.js";

// Informers for a view: each spec is [groupVersion, plural, kind, namespace, params]. Any
// change schedules `render` for the next frame; dispose() lets the informers go.
export function watchAll(specs, render) {
  const informers = specs.map(([gv, plural, kind, ns, params]) =>
    acquire(collectionPath(gv, plural, ns), kind, params || {}));
  const unsubscribe = informers.map((inf) => inf.subscribe(() => schedule(render)));
  schedule(render);
  return {
    informers,
    dispose() {
      unsubscribe.forEach((fn) => fn());
      informers.forEach(release);
    },
  };
}

// A titled section whose body is redrawn; it shows an informer's error (a 403's message).
export function section(title, id) {
  const status = h("div", { class: "section-status", "aria-live": "polite" });
  const body = h("div", { class: "section-body" });
  const el = h("section", { "aria-labelledby": id + "-h", id }, h("h2", { id: id + "-h" }, title), status, body);
  return {
    el, body,
    showState(informer) {
      const text = informer.error ? informer.error.message : (informer.synced ? "" : "Loading…");
      if (status.textContent !== text) status.replaceChildren(informer.error ? alertBox(text) : text);
    },
  };
}

export function table(caption, headings) {
  const tbody = h("tbody", { role: "rowgroup" });
  // Explicit roles: a table restyled as grids (the pods view) stays a table to screen readers.
  const el = h("div", { class: "table-wrap" },
    h("table", { role: "table" }, h("caption", { class: "visually-hidden" }, caption),
      h("thead", { role: "rowgroup" }, h("tr", { role: "row" },
        headings.map((t) => h("th", { scope: "col", role: "columnheader" }, t)))), tbody));
  return { el, tbody };
}

// The page-wide message line for actions: what was done, or the API's refusal.
export function flash(text, isError = false) {
  const el = document.getElementById("flash");
  if (!el) return;
  el.className = isError ? "flash error" : "flash";
  el.setAttribute("role", isError ? "alert" : "status");
  el.textContent = text;
}

// Runs one action; says what was done, or "Could not <what>: <the API's message>".
async function act(what, done, call) {
  try {
    await call();
    flash(done);
    return true;
  } catch (err) {
    flash(`Could not ${what}: ${err.message}`, true);
    return false;
  }
}

// kubectl scale: a merge patch of the scale subresource.
export function scale(gv, plural, obj, replicas) {
  const path = objectPath(gv, plural, obj.metadata.namespace, obj.metadata.name) + "/scale";
  const name = `${plural}/${obj.metadata.name}`;
  return act(`scale ${name} to ${replicas}`, `Scaled ${name} to ${replicas}`,
    () => patch(path, { spec: { replicas } }, MERGE));
}

// kubectl rollout restart: the restartedAt annotation on the pod template (strategic merge).
export function restart(gv, plural, obj) {
  const at = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const body = { spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": at } } } } };
  const name = `${plural}/${obj.metadata.name}`;
  return act(`restart ${name}`, `Restarted ${name}`,
    () => patch(objectPath(gv, plural, obj.metadata.namespace, obj.metadata.name), body, STRATEGIC));
}

export function deletePod(pod) {
  const name = `pod ${pod.metadata.namespace}/${pod.metadata.name}`;
  return act(`delete ${name}`, `Deleted ${name}`,
    () => del(objectPath("v1", "pods", pod.metadata.namespace, pod.metadata.name)));
}

// kubectl cordon/uncordon: spec.unschedulable by strategic merge patch.
export function cordon(node, unschedulable) {
  const verb = unschedulable ? "cordon" : "uncordon";
  return act(`${verb} node ${node.metadata.name}`, `${unschedulable ? "Cordoned" : "Uncordoned"} node ${node.metadata.name}`,
    () => patch(objectPath("v1", "nodes", null, node.metadata.name), { spec: { unschedulable } }, STRATEGIC));
}

// A replicas box and a Scale button, labelled for the object they act on.
export function scaleControl(gv, plural, obj) {
  const name = obj.metadata.name;
  const current = (obj.spec && obj.spec.replicas) ?? 1;
  const input = h("input", { type: "number", min: "0", value: String(current), class: "replicas",
    "aria-label": `Replicas for ${name}` });
  const form = h("form", { class: "inline", "data-v": plural + name + current },
    input, h("button", { type: "submit", "aria-label": `Scale ${name}` }, "Scale"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    scale(gv, plural, obj, parseInt(input.value, 10)).then((ok) => {
      if (!ok) input.value = String(current); // refused: show what is, not what was asked
    });
  });
  return form;
}

export function button(text, label, onclick, dataV) {
  return h("button", { type: "button", "aria-label": label, onclick, "data-v": dataV || label }, text);
}

export function yamlLink(path, name) {
  return h("a", { href: "#/yaml" + path, class: "yaml", "aria-label": `YAML of ${name}`, "data-v": path }, "YAML");
}

export function inNamespace(ns) {
  return ns ? (o) => o.metadata.namespace === ns : () => true;
}
