// The page: login, the header (views, namespace filter, who is logged in), hash routing, and
// keyboard shortcuts. Views live in views/; each mounts into <main> and returns its unmount.

import { ApiError, getToken, onUnauthorized, setToken, whoami } from "./api.js";
import { acquire, releaseAll } from "./informer.js";
import { h, schedule } from "./dom.js";
import * as overview from "./views/overview.js";
import * as workloads from "./views/workloads.js";
import * as pods from "./views/pods.js";
import * as pod from "./views/pod.js";
import * as services from "./views/services.js";
import * as events from "./views/events.js";
import * as yaml from "./views/yaml.js";

const ROUTES = { overview, workloads, pods, pod, services, events, yaml };
const NAV = [["overview", "Overview", "o"], ["workloads", "Workloads", "w"], ["pods", "Pods", "p"],
  ["services", "Services", "s"], ["events", "Events", "e"]];
const NS_KEY = "km.namespace";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const nsSelect = document.getElementById("namespace");
const userLine = document.getElementById("user");
const logoutButton = document.getElementById("logout");
let unmount = null;
let namespaces = null;
let loginMessage = "";
let loggingIn = false; // a refused login token is the form's message, not a logout

function namespace() {
  return sessionStorage.getItem(NS_KEY) || "";
}

// "#/pods?phase=Running" -> ["pods", [], URLSearchParams]; "#/pod/ns/name" -> ["pod", ["ns","name"]]
export function parseHash(hash) {
  const [path, query] = hash.replace(/^#\/?/, "").split("?");
  const [view, ...params] = path.split("/").filter(Boolean);
  return { view: view || "overview", params: params.map(decodeURIComponent), query: new URLSearchParams(query || "") };
}

function route() {
  if (unmount) unmount();
  unmount = null;
  main.replaceChildren();
  flashClear();
  if (!getToken()) {
    showLogin();
    return;
  }
  document.body.classList.remove("logged-out");
  const { view, params, query } = parseHash(location.hash);
  const module = ROUTES[view] || overview;
  for (const a of nav.querySelectorAll("a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `km · ${view}`;
  unmount = module.mount(main, { ns: namespace(), params, query });
  main.focus({ preventScroll: true });
}

function flashClear() {
  const el = document.getElementById("flash");
  el.textContent = "";
  el.className = "flash";
}

function showLogin() {
  document.body.classList.add("logged-out");
  userLine.textContent = "";
  const input = h("textarea", { id: "token", rows: "4", autocomplete: "off", spellcheck: "false", required: true,
    "aria-describedby": "token-help" });
  const message = h("p", { id: "login-error", class: loginMessage ? "alert" : "", role: "alert" }, loginMessage);
  const form = h("form", { class: "login", "aria-labelledby": "login-h" },
    h("h2", { id: "login-h" }, "Log in"),
    h("label", { for: "token" }, "Bearer token"), input,
    h("p", { id: "token-help", class: "help" }, "Paste a token, for example from ",
      h("code", {}, "kubectl create token NAME"), ". It is kept in this tab's session storage only."),
    message, h("button", { type: "submit", id: "login-button" }, "Log in"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const token = input.value.trim();
    setToken(token);
    loggingIn = true;
    try {
      const user = await whoami();
      loginMessage = "";
      loggedIn(user);
      route();
    } catch (err) {
      setToken("");
      loginMessage = err instanceof ApiError && err.status === 401
        ? "The API refused this token (401 Unauthorized): it is wrong or has expired. Make a new one with kubectl create token."
        : "Could not log in: " + err.message;
      message.textContent = loginMessage;
      message.className = "alert";
      input.focus();
    } finally {
      loggingIn = false;
    }
  });
  main.append(form);
  input.focus();
}

function loggedIn(user) {
  userLine.textContent = user.username ? "Logged in as " + user.username : "";
  watchNamespaces();
}

function logout(message = "") {
  setToken("");
  loginMessage = message;
  releaseAll();
  namespaces = null;
  route();
}

function watchNamespaces() {
  if (namespaces) return;
  namespaces = acquire("/api/v1/namespaces", "Namespace");
  namespaces.subscribe(() => schedule(renderNamespaces));
}

function renderNamespaces() {
  const names = namespaces ? [...namespaces.store.values()].map((n) => n.metadata.name).sort() : [];
  const current = namespace();
  if (current && !names.includes(current)) names.unshift(current);
  const wanted = ["", ...names].join("\n");
  if (nsSelect.dataset.names === wanted) return;
  nsSelect.dataset.names = wanted;
  nsSelect.replaceChildren(h("option", { value: "" }, "All namespaces"),
    ...names.map((n) => h("option", { value: n }, n)));
  nsSelect.value = current;
}

function buildNav() {
  nav.replaceChildren(...NAV.map(([view, title, key]) =>
    h("a", { href: "#/" + view, "data-view": view, "aria-keyshortcuts": "g " + key, title: `${title} (g ${key})` }, title)));
}

// Keyboard: "g o/w/p/s/e" switch views, "/" focuses the first search or the namespace filter,
// "j"/"k" move between the rows' first links.
let pendingG = false;
function onKey(e) {
  const target = e.target;
  if (e.ctrlKey || e.metaKey || e.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
  if (pendingG) {
    pendingG = false;
    const item = NAV.find(([, , key]) => key === e.key);
    if (item) { location.hash = "#/" + item[0]; e.preventDefault(); }
    return;
  }
  if (e.key === "g") { pendingG = true; return; }
  if (e.key === "/") {
    e.preventDefault();
    (main.querySelector("input[type=search]") || nsSelect).focus();
  } else if (e.key === "j" || e.key === "k") {
    const links = [...main.querySelectorAll("tbody tr td:first-child a")];
    if (!links.length) return;
    const i = links.indexOf(document.activeElement);
    const next = e.key === "j" ? Math.min(links.length - 1, i + 1) : Math.max(0, i - 1);
    links[next].focus();
    e.preventDefault();
  }
}

function start() {
  buildNav();
  nsSelect.addEventListener("change", () => {
    sessionStorage.setItem(NS_KEY, nsSelect.value);
    route();
  });
  logoutButton.addEventListener("click", () => logout());
  onUnauthorized(() => {
    if (getToken() && !loggingIn) logout("The API no longer accepts this token (401 Unauthorized): log in again.");
  });
  window.addEventListener("hashchange", () => {
    if (location.hash.startsWith("#/") || location.hash === "") route();
  });
  document.addEventListener("keydown", onKey);
  if (getToken()) {
    whoami().then(loggedIn, () => watchNamespaces());
  }
  renderNamespaces();
  route();
}

start();
