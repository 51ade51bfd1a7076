// Workloads: deployments with rollout progress (updated, ready, available of desired),
// replica sets, stateful sets, daemon sets, jobs and cron jobs, with scale and restart.

import { bar, h, link, syncRows } from "../dom.js";
import { age, byName } from "../format.js";
import { objectPath } from "../api.js";
import { button, inNamespace, restart, scaleControl, section, table, watchAll, yamlLink } from "./common.js";

// [groupVersion, plural, kind, title, headings, cells]
const KINDS = [
  ["apps/v1", "deployments", "Deployment", "Deployments",
    ["Name", "Namespace", "Rollout (updated / ready / available of desired)", "Age", "Actions"], deploymentCells],
  ["apps/v1", "statefulsets", "StatefulSet", "Stateful sets",
    ["Name", "Namespace", "Ready", "Updated", "Age", "Actions"], statefulSetCells],
  ["apps/v1", "daemonsets", "DaemonSet", "Daemon sets",
    ["Name", "Namespace", "Desired", "Current", "Ready", "Up to date", "Available", "Age", "Actions"], daemonSetCells],
  ["apps/v1", "replicasets", "ReplicaSet", "Replica sets",
    ["Name", "Namespace", "Desired", "Current", "Ready", "Owner", "Age", ""], replicaSetCells],
  ["batch/v1", "jobs", "Job", "Jobs",
    ["Name", "Namespace", "Completions", "Status", "Age", ""], jobCells],
  ["batch/v1", "cronjobs", "CronJob", "Cron jobs",
    ["Name", "Namespace", "Schedule", "Suspend", "Active", "Last schedule", "Age", ""], cronJobCells],
];

// Shown in pairs: a browser keeps at most 6 HTTP/1.1 connections to one server, and every
// watch holds one open, so a view watches at most three kinds (plus the namespace list),
// leaving room for the requests that actions make.
const GROUPS = [
  ["deployments", "Deployments and replica sets", ["deployments", "replicasets"]],
  ["sets", "Stateful and daemon sets", ["statefulsets", "daemonsets"]],
  ["jobs", "Jobs and cron jobs", ["jobs", "cronjobs"]],
];

export function mount(main, ctx) {
  const group = GROUPS.find(([id]) => id === ctx.params[0]) || GROUPS[0];
  main.append(h("nav", { class: "subnav", "aria-label": "Workload kinds" }, GROUPS.map(([id, title]) =>
    h("a", { href: "#/workloads/" + id, "aria-current": id === group[0] ? "page" : null }, title))));
  const kinds = KINDS.filter((k) => group[2].includes(k[1]));
  const parts = kinds.map(([gv, plural, , title, headings]) => {
    const s = section(title, plural);
    const t = table(title, headings);
    s.body.append(t.el);
    main.append(s.el);
    return { s, t, gv, plural };
  });
  const w = watchAll(kinds.map(([gv, plural, kind]) => [gv, plural, kind, ctx.ns]), render);

  function render() {
    const now = Date.now();
    kinds.forEach((k, i) => {
      const inf = w.informers[i];
      const { s, t, gv, plural } = parts[i];
      s.showState(inf);
      const list = inf.items().filter(inNamespace(ctx.ns)).sort(byName);
      syncRows(t.tbody, list, (o) => o.metadata.namespace + "/" + o.metadata.name,
        (o) => k[5](o, { gv, plural, now, path: objectPath(gv, plural, o.metadata.namespace, o.metadata.name) }));
    });
  }
  return () => w.dispose();
}

function nameCell(o, c) {
  return link("#/yaml" + c.path, o.metadata.name);
}

// Rollout progress: three bars against spec.replicas, and kubectl rollout status' words.
export function rollout(d) {
  const desired = (d.spec && d.spec.replicas) ?? 1;
  const st = d.status || {};
  const updated = st.updatedReplicas || 0;
  const ready = st.readyReplicas || 0;
  const available = st.availableReplicas || 0;
  const total = st.replicas || 0;
  let state = "complete";
  if ((st.observedGeneration || 0) < (d.metadata.generation || 0)) state = "waiting for the controller";
  else if (updated < desired) state = `${updated} of ${desired} updated`;
  else if (total > updated) state = `${total - updated} old replicas pending termination`;
  else if (available < updated) state = `${available} of ${updated} updated available`;
  return { desired, updated, ready, available, state };
}

function deploymentCells(d, c) {
  const r = rollout(d);
  const name = d.metadata.name;
  const progress = h("div", { class: "rollout", "data-v": JSON.stringify(r) },
    bar(`Updated replicas of ${name}`, r.updated, r.desired, `updated ${r.updated}/${r.desired}`, "progress"),
    bar(`Ready replicas of ${name}`, r.ready, r.desired, `ready ${r.ready}/${r.desired}`, "progress"),
    bar(`Available replicas of ${name}`, r.available, r.desired, `available ${r.available}/${r.desired}`, "progress"),
    h("span", { class: "rollout-state" }, r.state));
  return [nameCell(d, c), d.metadata.namespace, progress, age(d.metadata.creationTimestamp, c.now),
    actions(d, c, true)];
}

function actions(o, c, scalable) {
  const name = o.metadata.name;
  return h("div", { class: "actions", "data-v": c.path + ((o.spec && o.spec.replicas) ?? "") },
    scalable ? scaleControl(c.gv, c.plural, o) : null,
    button("Restart", `Restart rollout of ${name}`, () => restart(c.gv, c.plural, o)),
    " ", yamlLink(c.path, name));
}

function statefulSetCells(s, c) {
  const st = s.status || {};
  const desired = (s.spec && s.spec.replicas) ?? 1;
  return [nameCell(s, c), s.metadata.namespace,
    bar(`Ready replicas of ${s.metadata.name}`, st.readyReplicas || 0, desired, `${st.readyReplicas || 0}/${desired}`, "progress"),
    String(st.updatedReplicas || 0), age(s.metadata.creationTimestamp, c.now), actions(s, c, true)];
}

function daemonSetCells(d, c) {
  const st = d.status || {};
  return [nameCell(d, c), d.metadata.namespace, String(st.desiredNumberScheduled || 0),
    String(st.currentNumberScheduled || 0), String(st.numberReady || 0),
    String(st.updatedNumberScheduled || 0), String(st.numberAvailable || 0),
    age(d.metadata.creationTimestamp, c.now), actions(d, c, false)];
}

function replicaSetCells(r, c) {
  const st = r.status || {};
  const owner = ((r.metadata.ownerReferences || [])[0]) || null;
  return [nameCell(r, c), r.metadata.namespace, String((r.spec && r.spec.replicas) ?? 1),
    String(st.replicas || 0), String(st.readyReplicas || 0),
    owner ? owner.kind.toLowerCase() + "/" + owner.name : "", age(r.metadata.creationTimestamp, c.now),
    yamlLink(c.path, r.metadata.name)];
}

function jobCells(j, c) {
  const st = j.status || {};
  const want = (j.spec && j.spec.completions) ?? 1;
  const conds = (st.conditions || []).filter((x) => x.status === "True").map((x) => x.type);
  const status = conds.includes("Complete") ? "Complete" : conds.includes("Failed") ? "Failed"
    : (st.active ? "Running" : "Pending");
  return [nameCell(j, c), j.metadata.namespace, `${st.succeeded || 0}/${want}`, status,
    age(j.metadata.creationTimestamp, c.now), yamlLink(c.path, j.metadata.name)];
}

function cronJobCells(cj, c) {
  const spec = cj.spec || {};
  const st = cj.status || {};
  return [nameCell(cj, c), cj.metadata.namespace, spec.schedule || "", String(Boolean(spec.suspend)),
    String((st.active || []).length), st.lastScheduleTime ? age(st.lastScheduleTime, c.now) + " ago" : "",
    age(cj.metadata.creationTimestamp, c.now), yamlLink(c.path, cj.metadata.name)];
}

