// The event stream: the newest events first, live.

import { syncRows } from "../dom.js";
import { age } from "../format.js";
import { inNamespace, section, table, watchAll } from "./common.js";
import { involved, lastSeen } from "./overview.js";

const SHOWN = 500;

export function mount(main, ctx) {
  const s = section("Events", "events");
  const t = table("Events, newest first", ["Last seen", "Type", "Namespace", "Object", "Reason", "Message", "Count"]);
  s.body.append(t.el);
  main.append(s.el);
  const w = watchAll([["v1", "events", "Event", ctx.ns]], render);
  const [inf] = w.informers;

  function render() {
    s.showState(inf);
    const now = Date.now();
    const list = inf.items().filter(inNamespace(ctx.ns))
      .sort((a, b) => (lastSeen(a) < lastSeen(b) ? 1 : lastSeen(a) > lastSeen(b) ? -1 : 0)).slice(0, SHOWN);
    syncRows(t.tbody, list, (e) => e.metadata.namespace + "/" + e.metadata.name, (e) => [
      age(lastSeen(e), now), e.type || "", e.metadata.namespace, involved(e), e.reason || "",
      e.message || "", String(e.count || 1)]);
  }
  return () => w.dispose();
}
