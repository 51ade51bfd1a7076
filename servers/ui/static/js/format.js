// How objects read in the tables: ages, pod status as kubectl prints it, ready counts.

// Timestamps parsed once: a big table asks for every row's age on every frame.
const parsed = new Map();
function parseTime(timestamp) {
  let ms = parsed.get(timestamp);
  if (ms === undefined) {
    if (parsed.size > 20000) parsed.clear();
    ms = Date.parse(timestamp);
    parsed.set(timestamp, ms);
  }
  return ms;
}

// "5s", "3m", "2h", "4d" as kubectl's duration.HumanDuration (short form).
export function age(timestamp, now = Date.now()) {
  if (!timestamp) return "";
  const s = Math.max(0, Math.floor((now - parseTime(timestamp)) / 1000));
  if (s < 120) return s + "s";
  const m = Math.floor(s / 60);
  if (m < 120) return m + "m";
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return hrs + "h";
  return Math.floor(hrs / 24) + "d";
}

// The STATUS column of `kubectl get pods` (printPod in kubernetes' pkg/printers/internalversion
// printers.go): a waiting or terminated container's reason wins over the phase.
export function podStatus(pod) {
  const st = pod.status || {};
  if (pod.metadata.deletionTimestamp) return "Terminating";
  let reason = st.reason || st.phase || "Pending";
  for (const c of st.initContainerStatuses || []) {
    const s = c.state || {};
    if (s.terminated && s.terminated.exitCode !== 0) return "Init:" + (s.terminated.reason || "Error");
    if (s.waiting && s.waiting.reason && s.waiting.reason !== "PodInitializing") return "Init:" + s.waiting.reason;
  }
  for (const c of st.containerStatuses || []) {
    const s = c.state || {};
    if (s.waiting && s.waiting.reason) reason = s.waiting.reason;
    else if (s.terminated && s.terminated.reason) reason = s.terminated.reason;
  }
  return reason;
}

export function readyCount(pod) {
  const statuses = (pod.status || {}).containerStatuses || [];
  const total = ((pod.spec || {}).containers || []).length;
  return statuses.filter((c) => c.ready).length + "/" + total;
}

export function restarts(pod) {
  return ((pod.status || {}).containerStatuses || []).reduce((n, c) => n + (c.restartCount || 0), 0);
}

export function statusKind(status) {
  if (["Running", "Succeeded", "Completed", "True"].includes(status)) return "ok";
  if (["Pending", "ContainerCreating", "Terminating", "PodInitializing"].includes(status)) return "wait";
  return "bad";
}

export function nodeReady(node) {
  const c = ((node.status || {}).conditions || []).find((x) => x.type === "Ready");
  return c ? (c.status === "True" ? "Ready" : "NotReady") : "Unknown";
}

export function selectorText(selector) {
  if (!selector) return "";
  const parts = Object.entries(selector.matchLabels || selector).filter(([, v]) => typeof v === "string").map(([k, v]) => k + "=" + v);
  return parts.join(",");
}

export function byName(a, b) {
  const x = (a.metadata.namespace || "") + "/" + a.metadata.name;
  const y = (b.metadata.namespace || "") + "/" + b.metadata.name;
  return x < y ? -1 : x > y ? 1 : 0;
}

// Objects in namespace/name order, each key built once (not twice per comparison).
export function sortByName(items) {
  const keyed = items.map((o) => [(o.metadata.namespace || "") + "/" + o.metadata.name, o]);
  keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return keyed.map((k) => k[1]);
}
