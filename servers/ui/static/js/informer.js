// List + watch, as client-go's reflector and informer do: list for the current state and its
// resourceVersion, then watch from there; a watch that ends is resumed from the last
// resourceVersion seen; a 410 Gone (too old) makes it re-list. Listeners hear every change;
// views coalesce them into one render per animation frame (dom.js).

import { ApiError, get, streamLines } from "./api.js";

export function keyOf(obj) {
  const m = obj.metadata || {};
  return m.namespace ? m.namespace + "/" + m.name : m.name;
}

// Applies one watch event to a store (Map key -> object); true when the store changed.
export function applyEvent(store, event) {
  const obj = event.object;
  if (!obj || !obj.metadata) return false;
  const key = keyOf(obj);
  switch (event.type) {
    case "ADDED":
    case "MODIFIED": {
      const old = store.get(key);
      if (old && olderThan(obj, old)) return false; // a replay of something already seen
      store.set(key, obj);
      return true;
    }
    case "DELETED":
      return store.delete(key);
    default:
      return false;
  }
}

// resourceVersions are opaque to clients in general, but km's (like etcd's) are revisions:
// compare as numbers when both are, else treat the newcomer as newer.
function olderThan(a, b) {
  const x = Number(a.metadata.resourceVersion);
  const y = Number(b.metadata.resourceVersion);
  return Number.isFinite(x) && Number.isFinite(y) && x < y;
}

// Replaces a store's content with a fresh list; returns how many keys changed.
export function replaceAll(store, items) {
  const seen = new Set();
  let changed = 0;
  for (const obj of items) {
    const key = keyOf(obj);
    seen.add(key);
    const old = store.get(key);
    if (!old || old.metadata.resourceVersion !== obj.metadata.resourceVersion) changed++;
    store.set(key, obj);
  }
  for (const key of [...store.keys()]) {
    if (!seen.has(key)) {
      store.delete(key);
      changed++;
    }
  }
  return changed;
}

// Back-off between failed attempts: 0.5 s doubling to 10 s, reset by a good list.
const BACKOFF_MIN = 500;
const BACKOFF_MAX = 10000;

export class Informer {
  constructor(path, kind, params = {}) {
    this.path = path;
    this.kind = kind; // the items' kind (lists do not name it on each item)
    this.params = params; // labelSelector, fieldSelector
    this.store = new Map();
    this.listeners = new Set();
    this.resourceVersion = "";
    this.synced = false;
    this.error = null;
    this.lastEventAt = 0;
    this.relists = 0;
    this.controller = null;
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  items() {
    return [...this.store.values()];
  }

  start() {
    if (this.controller) return;
    this.controller = new AbortController();
    this.run(this.controller.signal);
  }

  stop() {
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  notify(event) {
    this.lastEventAt = performance.now();
    if (window.__kmTrace) window.__kmTrace.push(["event", this.lastEventAt]); // bench/ui.py
    for (const fn of this.listeners) fn(this, event);
  }

  query(extra) {
    const q = new URLSearchParams({ ...this.params, ...extra });
    return this.path + "?" + q.toString();
  }

  async list(signal) {
    const list = await get(this.query({}), { signal });
    for (const item of list.items) {
      item.kind = item.kind || this.kind || (list.kind || "").replace(/List$/, "");
      item.apiVersion = item.apiVersion || list.apiVersion;
    }
    this.apiVersion = list.apiVersion;
    replaceAll(this.store, list.items);
    this.resourceVersion = list.metadata.resourceVersion;
    this.synced = true;
    this.error = null;
    this.relists++;
    this.notify({ type: "SYNC" });
  }

  // One watch from this.resourceVersion until the stream ends; throws ApiError(410) on Gone.
  async watch(signal) {
    const url = this.query({
      watch: "1",
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: "true",
      timeoutSeconds: String(240 + Math.floor(Math.random() * 120)),
    });
    await streamLines(url, (line) => {
      if (!line.trim()) return;
      const event = JSON.parse(line);
      if (event.type === "ERROR") {
        const s = event.object || {};
        throw new ApiError(s.code || 500, s.message || "watch failed", s.reason);
      }
      const rv = event.object && event.object.metadata && event.object.metadata.resourceVersion;
      if (rv) this.resourceVersion = rv;
      if (event.type === "BOOKMARK") return;
      event.object.kind = event.object.kind || this.kind;
      event.object.apiVersion = event.object.apiVersion || this.apiVersion;
      if (applyEvent(this.store, event)) this.notify(event);
    }, signal);
  }

  async run(signal) {
    let backoff = BACKOFF_MIN;
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.list(signal);
          needList = false;
          backoff = BACKOFF_MIN;
        }
        const began = performance.now();
        await this.watch(signal);
        // Ended cleanly (timeoutSeconds): resume from the last resourceVersion; at once
        // unless it ended at once (a server going away), which backs off like an error.
        if (performance.now() - began > 1000) {
          backoff = BACKOFF_MIN;
          continue;
        }
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ApiError && err.status === 410) {
          needList = true; // too old: list again, as the reflector does
          continue;
        }
        if (err instanceof ApiError) {
          this.error = err;
          needList = true;
          this.notify({ type: "ERROR", error: err });
          if (err.status === 401) return; // logged out: the login page takes over
        }
      }
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, BACKOFF_MAX);
    }
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

// Shared informers, one per (path, params), counted by the views that use them.
const shared = new Map();

export function acquire(path, kind, params = {}) {
  const id = path + "?" + new URLSearchParams(params).toString();
  let entry = shared.get(id);
  if (!entry) {
    entry = { informer: new Informer(path, kind, params), users: 0 };
    shared.set(id, entry);
    entry.informer.start();
  }
  entry.users++;
  return entry.informer;
}

export function release(informer) {
  for (const [id, entry] of shared) {
    if (entry.informer === informer && --entry.users <= 0) {
      informer.stop();
      shared.delete(id);
    }
  }
}

export function releaseAll() {
  for (const entry of shared.values()) entry.informer.stop();
  shared.clear();
}
