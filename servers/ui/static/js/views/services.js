// Services with their endpoints (the Endpoints object of the same name).

import { link, syncRows } from "../dom.js";
import { age, byName, selectorText } from "../format.js";
import { objectPath } from "../api.js";
import { inNamespace, section, table, watchAll, yamlLink } from "./common.js";

export function mount(main, ctx) {
  const s = section("Services", "services");
  const t = table("Services and their endpoints", ["Name", "Namespace", "Type", "Cluster IP", "Ports", "Selector", "Endpoints", "Age", ""]);
  s.body.append(t.el);
  main.append(s.el);
  const w = watchAll([["v1", "services", "Service", ctx.ns], ["v1", "endpoints", "Endpoints", ctx.ns]], render);
  const [svcInf, epInf] = w.informers;

  function render() {
    s.showState(svcInf.error ? svcInf : epInf);
    const list = svcInf.items().filter(inNamespace(ctx.ns)).sort(byName);
    syncRows(t.tbody, list, (o) => o.metadata.namespace + "/" + o.metadata.name, (svc) => {
      const { namespace, name } = svc.metadata;
      const spec = svc.spec || {};
      const path = objectPath("v1", "services", namespace, name);
      const ports = (spec.ports || []).map((p) => p.port + (p.nodePort ? ":" + p.nodePort : "") + "/" + (p.protocol || "TCP")).join(", ");
      return [link("#/yaml" + path, name), namespace, spec.type || "ClusterIP", spec.clusterIP || "",
        ports, selectorText(spec.selector), endpointsText(epInf.store.get(namespace + "/" + name)),
        age(svc.metadata.creationTimestamp), yamlLink(path, name)];
    });
  }
  return () => w.dispose();
}

// "10.0.0.5:80, 10.0.0.6:80" (+ "(not ready: …)"), as `kubectl get endpoints` lists them.
export function endpointsText(ep) {
  if (!ep) return "<none>";
  const ready = [];
  const notReady = [];
  for (const subset of ep.subsets || []) {
    const ports = (subset.ports || []).map((p) => p.port);
    for (const a of subset.addresses || []) for (const p of ports.length ? ports : [""]) ready.push(a.ip + (p ? ":" + p : ""));
    for (const a of subset.notReadyAddresses || []) for (const p of ports.length ? ports : [""]) notReady.push(a.ip + (p ? ":" + p : ""));
  }
  let text = ready.join(", ") || "<none>";
  if (notReady.length) text += " (not ready: " + notReady.join(", ") + ")";
  return text;
}

