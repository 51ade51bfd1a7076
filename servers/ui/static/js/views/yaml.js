// Any object as YAML, kept live by a watch on its name.

import { h } from "../dom.js";
import { toYAML } from "../yaml.js";
import { section, watchAll } from "./common.js";

// "/api/v1/namespaces/ns/pods/web" -> groupVersion, plural, namespace, name
export function parsePath(path) {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  let gv;
  if (parts[0] === "api") { gv = parts[1]; parts.splice(0, 2); } else { gv = parts[1] + "/" + parts[2]; parts.splice(0, 3); }
  let ns = null;
  if (parts[0] === "namespaces" && parts.length >= 4) { ns = parts[1]; parts.splice(0, 2); }
  return { gv, plural: parts[0], ns, name: parts[1] };
}

export function mount(main, ctx) {
  const path = "/" + ctx.params.join("/");
  const { gv, plural, ns, name } = parsePath(path);
  const s = section(`${plural}/${name}` + (ns ? ` in ${ns}` : ""), "yaml");
  const pre = h("pre", { class: "yaml", tabindex: "0", "aria-label": "YAML" });
  s.body.append(pre);
  main.append(s.el);
  const kind = { endpoints: "Endpoints" }[plural] || "";
  const w = watchAll([[gv, plural, kind, ns, { fieldSelector: "metadata.name=" + name }]], render);
  const [inf] = w.informers;

  function render() {
    s.showState(inf);
    const obj = inf.items()[0];
    // kubectl's order: apiVersion and kind first.
    const text = obj ? toYAML({ apiVersion: obj.apiVersion, kind: obj.kind, ...obj })
      : (inf.synced && !inf.error ? "# not found\n" : "");
    if (pre.textContent !== text) pre.textContent = text;
  }
  return () => w.dispose();
}
