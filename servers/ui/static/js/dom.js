// DOM helpers: element building, renders coalesced to one per animation frame, keyed table
// bodies that touch only the rows and cells that changed, and bars.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Renders wanted by watch events are merged: whatever changed within one frame is drawn once.
const dirty = new Set();
let frame = 0;
export const stats = { frames: 0, lastFrameMs: 0, rendered: [] };

export function schedule(render) {
  dirty.add(render);
  if (!frame) frame = requestAnimationFrame(flush);
}

function flush() {
  frame = 0;
  const t0 = performance.now();
  const renders = [...dirty];
  dirty.clear();
  for (const render of renders) render();
  stats.frames++;
  const t1 = performance.now();
  stats.lastFrameMs = t1 - t0;
  // bench/ui.py's event-to-screen: a task queued from the frame runs after its layout and paint.
  if (window.__kmTrace) setTimeout(() => window.__kmTrace.push(["frame", t0, t1, performance.now()]), 0);
}

// A table body kept in step with `rows` (already sorted): rows are matched by key; a row's
// cells are rewritten only when their text changed. cells(row) returns strings or Nodes;
// a Node cell is replaced when its data-v (the value it shows) differs.
// With `version(row)` (say, resourceVersion and age), a row whose version is unchanged is
// not even asked for its cells: a big table then costs per frame only what changed. The rows
// of each body are remembered on the JS side (no DOM reads to match them).
const bodies = new WeakMap(); // tbody -> Map(key -> {tr, version})

export function syncRows(tbody, rows, key, cells, version) {
  const known = bodies.get(tbody) || new Map();
  const next = new Map();
  let cursor = tbody.firstElementChild;
  for (const row of rows) {
    const k = key(row);
    let entry = known.get(k);
    const v = version ? version(row) : undefined;
    if (!entry) {
      const tr = h("tr", { "data-key": k, role: "row" });
      for (const value of cells(row)) tr.append(h("td", { role: "cell" }, value));
      entry = { tr, version: v };
    } else {
      known.delete(k);
      if (v === undefined || entry.version !== v) {
        updateCells(entry.tr, cells(row));
        entry.version = v;
      }
    }
    next.set(k, entry);
    if (entry.tr !== cursor) tbody.insertBefore(entry.tr, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const entry of known.values()) entry.tr.remove();
  bodies.set(tbody, next);
}

function updateCells(tr, values) {
  values.forEach((v, i) => {
    const td = tr.children[i];
    if (v instanceof Node) {
      const old = td.firstChild;
      if (!old || !(old instanceof Element) || old.dataset.v !== v.dataset.v || v.dataset.v === undefined) {
        td.replaceChildren(v);
      }
    } else if (td.textContent !== String(v)) {
      td.textContent = String(v);
    }
  });
}

// A horizontal bar for used of total, with the numbers as its label.
// kind "usage": a nearly full bar is a warning; "progress": a full bar is done.
export function bar(label, used, total, text, kind = "usage") {
  const share = total > 0 ? Math.min(1, used / total) : (used > 0 ? 1 : 0);
  const pct = Math.round(share * 100);
  const state = kind === "usage" ? (share >= 0.9 ? " high" : "") : (share >= 1 ? " done" : "");
  const fill = h("span", { class: "fill " + kind + state });
  fill.style.width = pct + "%";
  const el = h("div", {
    class: "bar", role: "meter", "aria-label": label, "aria-valuemin": "0",
    "aria-valuemax": String(total), "aria-valuenow": String(used), "aria-valuetext": text,
    "data-v": label + text, title: label + ": " + text,
  }, fill, h("span", { class: "bar-text", text }));
  return el;
}

export function link(href, text, attrs = {}) {
  return h("a", { href, "data-v": href + "|" + text, ...attrs }, text);
}

export function badge(text, kind = "") {
  return h("span", { class: "badge " + kind, "data-v": text + kind }, text);
}

// A message line for errors (role=alert so screen readers say it).
export function alertBox(text) {
  return h("p", { class: "alert", role: "alert" }, text);
}
