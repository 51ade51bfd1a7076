// The API layer: every call the page makes goes to the apiserver that served it, with the
// user's bearer token (sessionStorage only). Errors carry the Status message the API sent,
// so a 403 shows RBAC's own words.

const TOKEN_KEY = "km.token";

export class ApiError extends Error {
  constructor(status, message, reason) {
    super(message);
    this.status = status;
    this.reason = reason || "";
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// Listeners told when the API answers 401 (the token expired or was revoked).
const unauthorized = new Set();
export function onUnauthorized(fn) {
  unauthorized.add(fn);
}

function headers(extra) {
  const h = { Accept: "application/json", ...extra };
  const token = getToken();
  if (token) h.Authorization = "Bearer " + token;
  return h;
}

// A failed response as an ApiError: the Status' message when the body is one.
export async function errorOf(resp) {
  let message = resp.status + " " + resp.statusText;
  let reason = "";
  try {
    const body = await resp.json();
    if (body && body.message) message = body.message;
    if (body && body.reason) reason = body.reason;
  } catch (_) {
    // not JSON: keep the status line
  }
  if (resp.status === 401) unauthorized.forEach((fn) => fn(message));
  return new ApiError(resp.status, message, reason);
}

export async function request(method, path, { body, contentType, signal } = {}) {
  const init = { method, headers: headers(contentType ? { "Content-Type": contentType } : {}), signal };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  const resp = await fetch(path, init);
  if (!resp.ok) throw await errorOf(resp);
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, opts) => request("GET", path, opts);
export const del = (path) => request("DELETE", path);

// kubectl's patch kinds: strategic merge for built-in objects, merge for /scale.
export const STRATEGIC = "application/strategic-merge-patch+json";
export const MERGE = "application/merge-patch+json";
export const patch = (path, body, contentType = STRATEGIC) =>
  request("PATCH", path, { body, contentType });

// Who the token belongs to (SelfSubjectReview, as `kubectl auth whoami`).
export async function whoami() {
  const review = await request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    contentType: "application/json",
  });
  return (review.status && review.status.userInfo) || {};
}

// Reads a streamed response line by line, calling onLine for each complete line, until the
// stream ends or signal aborts. Used for watches (JSON lines) and followed logs.
export async function streamLines(path, onLine, signal, accept = "application/json") {
  const resp = await fetch(path, { headers: headers({ Accept: accept }), signal });
  if (!resp.ok) throw await errorOf(resp);
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      onLine(line);
    }
  }
  buffered += decoder.decode();
  if (buffered) onLine(buffered);
}

// The collection path of a resource: ("apps/v1", "deployments", "ns") -> /apis/apps/v1/namespaces/ns/deployments
export function collectionPath(groupVersion, plural, namespace) {
  const root = groupVersion === "v1" ? "/api/v1" : "/apis/" + groupVersion;
  return root + (namespace ? "/namespaces/" + encodeURIComponent(namespace) : "") + "/" + plural;
}

export function objectPath(groupVersion, plural, namespace, name) {
  return collectionPath(groupVersion, plural, namespace) + "/" + encodeURIComponent(name);
}

// The API path of an object, from its apiVersion and kind (for the YAML view's links).
const PLURALS = {
  Pod: "pods", Node: "nodes", Service: "services", Endpoints: "endpoints", Event: "events",
  Namespace: "namespaces", ConfigMap: "configmaps", Deployment: "deployments",
  ReplicaSet: "replicasets", StatefulSet: "statefulsets", DaemonSet: "daemonsets",
  Job: "jobs", CronJob: "cronjobs", ReplicationController: "replicationcontrollers",
};
export function pathOf(obj, kind = obj.kind, apiVersion = obj.apiVersion) {
  const plural = PLURALS[kind] || kind.toLowerCase() + "s";
  return objectPath(apiVersion, plural, obj.metadata.namespace, obj.metadata.name);
}
