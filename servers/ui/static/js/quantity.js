// Kubernetes quantities ("100m", "128Mi", "1.5", "2e3") as numbers, and what a node has
// requested of it: the arithmetic behind the overview's bars.
// Format: k8s.io/apimachinery/pkg/api/resource/quantity.go (binary Ki..Ei, decimal n..E,
// exponent e/E); pod requests: k8s.io/component-helpers/resource/helpers.go (PodRequests:
// the larger of the containers' sum and each init container, plus overhead).

const SUFFIXES = {
  n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};
const PATTERN = /^([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/;

// The value of a quantity (cores for cpu, bytes for memory); NaN when it is not one.
export function parseQuantity(q) {
  if (typeof q === "number") return q;
  if (typeof q !== "string") return NaN;
  const m = PATTERN.exec(q.trim());
  if (!m || m[1] === "." || (m[1].match(/\./g) || []).length > 1) return NaN;
  const base = parseFloat(m[1]);
  if (m[2]) return base * 10 ** parseInt(m[2].slice(1), 10);
  return base * SUFFIXES[m[3] || ""];
}

const BINARY = [["Ei", 2 ** 60], ["Pi", 2 ** 50], ["Ti", 2 ** 40], ["Gi", 2 ** 30], ["Mi", 2 ** 20], ["Ki", 2 ** 10]];

// Bytes for people: "1.5Gi", "512Mi", "100".
export function formatBytes(n) {
  for (const [suffix, size] of BINARY) {
    if (Math.abs(n) >= size) return trim(n / size) + suffix;
  }
  return trim(n);
}

// Cores for people: "250m", "2", "1.5".
export function formatCPU(n) {
  if (n !== 0 && Math.abs(n) < 1) return Math.round(n * 1000) + "m";
  return trim(n);
}

function trim(x) {
  return String(Math.round(x * 100) / 100);
}

function add(total, resources) {
  for (const [name, q] of Object.entries(resources || {})) {
    const v = parseQuantity(q);
    if (!Number.isNaN(v)) total[name] = (total[name] || 0) + v;
  }
  return total;
}

// What one pod requests: {cpu: cores, memory: bytes, ...}.
export function podRequests(pod) {
  const spec = pod.spec || {};
  const sum = {};
  for (const c of spec.containers || []) add(sum, (c.resources || {}).requests);
  for (const c of spec.initContainers || []) {
    const r = add({}, (c.resources || {}).requests);
    const sidecar = c.restartPolicy === "Always";
    for (const [name, v] of Object.entries(r)) {
      if (sidecar) sum[name] = (sum[name] || 0) + v; // sidecars run alongside the others
      else sum[name] = Math.max(sum[name] || 0, v);
    }
  }
  return add(sum, spec.overhead);
}

// Pods that still hold a node's resources (the scheduler's view: not finished).
export function holdsResources(pod) {
  const phase = (pod.status || {}).phase;
  return Boolean(pod.spec && pod.spec.nodeName) && phase !== "Succeeded" && phase !== "Failed";
}

// Per node name: {cpu, memory, pods} requested by the pods bound to it.
export function requestedByNode(pods) {
  const out = new Map();
  for (const pod of pods) {
    if (!holdsResources(pod)) continue;
    const node = pod.spec.nodeName;
    const total = out.get(node) || { cpu: 0, memory: 0, pods: 0 };
    const r = podRequests(pod);
    total.cpu += r.cpu || 0;
    total.memory += r.memory || 0;
    total.pods += 1;
    out.set(node, total);
  }
  return out;
}

// A node's allocatable (falling back to capacity) as numbers.
export function allocatable(node) {
  const st = node.status || {};
  const a = st.allocatable || st.capacity || {};
  return { cpu: parseQuantity(a.cpu || "0"), memory: parseQuantity(a.memory || "0"), pods: parseQuantity(a.pods || "0") };
}

// The share of a bar, 0..1 (an over-committed node shows a full bar).
export function fraction(used, total) {
  if (!(total > 0)) return used > 0 ? 1 : 0;
  return Math.min(1, Math.max(0, used / total));
}
