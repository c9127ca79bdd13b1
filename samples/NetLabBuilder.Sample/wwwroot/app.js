// Plain script, no build step. Signs in, polls the lab's state (GET /api/lab/state) so nodes and terminals update without a
// reload, deploys, deletes and clears after asking, and shows each terminal (ttyd's own page, same origin, through the
// proxy) in a tab of this page.
"use strict";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
let me = null;          // { user_id, role }
let state = null;       // last /api/lab/state answer
let pollTimer = 0;
const tabs = new Map(); // container -> { tab, panel, node, url, loaded, ended }
let activeTab = null;

// Every request that changes something is JSON: the server refuses anything else, and another site cannot send JSON here.
async function call(method, url, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET") init.headers["Content-Type"] = "application/json";
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(url, init);
  let json = null;
  try { json = await response.json(); } catch { /* an empty 401/403 */ }
  if (response.status === 401 && url !== "/api/login") { showLogin(); throw new Error("Please sign in again."); }
  if (!response.ok || !json || json.status !== "success") {
    throw new Error((json && (json.message || json.detail)) || `The server answered ${response.status}.`);
  }
  return json;
}

let toastTimer = 0;
function say(text, isError) {
  const m = $("message");
  m.textContent = text;
  m.className = isError ? "toast error" : "toast";
  m.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { m.hidden = true; }, isError ? 8000 : 4000);
}

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "dataset") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e[k] = v;
  }
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

function ask(text, okLabel) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

// ---- sign in and out ----

function showLogin() {
  me = null;
  clearTimeout(pollTimer);
  for (const c of [...tabs.keys()]) closeTab(c);
  $("lab-view").hidden = true;
  $("who").hidden = true;
  $("login-view").hidden = false;
  $("login-user").focus();
}

function showLab(who) {
  me = who;
  $("login-view").hidden = true;
  $("lab-view").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = who.user_id;
  $("who-role").textContent = who.role;
  const instructor = who.role === "instructor";
  $("deploy").hidden = instructor;
  $("side-title").textContent = instructor ? "Students' topologies" : "My topologies";
  poll();
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").textContent = "";
  try {
    showLab(await call("POST", "/api/login", { user: $("login-user").value.trim(), password: $("login-password").value }));
    $("login-password").value = "";
  } catch (err) {
    $("login-error").textContent = err.message;
  }
});

$("logout").addEventListener("click", async () => {
  try { await call("POST", "/api/logout"); } catch { /* signed out anyway */ }
  showLogin();
});

// ---- live state ----

async function poll() {
  clearTimeout(pollTimer);
  if (!me) return;
  try {
    render(await call("GET", "/api/lab/state"));
  } catch (err) {
    if (me) say(err.message, true);
  }
  if (me) pollTimer = setTimeout(poll, POLL_MS);
}

const STATE_TEXT = { ready: "ready", starting: "starting…", stopped: "stopped", failed: "failed", removing: "deleting…" };

function render(next) {
  state = next;
  const instructor = me.role === "instructor";
  const list = $("topologies");
  list.replaceChildren();
  for (const topo of next.topologies) {
    const title = instructor ? `${topo.user_id} · ${topo.topology_id}` : topo.topology_id;
    const header = el("header", {},
      el("span", { className: "name", textContent: title, title }),
      el("button", { type: "button", className: "open-all", textContent: instructor ? "Watch all" : "Open all",
        onclick: () => openAll(topo) }),
      instructor ? null : el("button", { type: "button", className: "clear-topology danger", textContent: "Clear",
        onclick: () => clearTopology(topo) }));
    const nodes = el("ul");
    for (const node of topo.nodes) {
      const li = el("li", { dataset: { container: node.container } });
      li.append(el("div", { className: "node" },
        el("span", { className: "name", textContent: node.node }),
        el("span", { className: `state ${node.terminal}`, textContent: STATE_TEXT[node.terminal] || node.terminal }),
        el("button", { type: "button", className: "open", textContent: instructor ? "Watch" : "Open",
          disabled: !["ready", "starting"].includes(node.terminal), onclick: () => openTab(topo, node, true) }),
        instructor ? null : el("button", { type: "button", className: "delete-node icon danger", textContent: "✕",
          title: `Delete ${node.node}`, ariaLabel: `Delete ${node.node}`, onclick: () => deleteNode(topo, node) })));
      if (node.reason) li.append(el("div", { className: "reason", textContent: node.reason }));
      nodes.append(li);
    }
    list.append(el("section", { className: "topology", dataset: { topology: topo.topology_id, user: topo.user_id } }, header, nodes));
  }
  const empty = $("empty");
  empty.hidden = next.topologies.length > 0;
  empty.textContent = instructor ? "No student has a topology yet." : "No topology yet: deploy one.";
  const d = next.deploying;
  $("progress").textContent = d ? (d.total ? `Deploying: ${d.created} of ${d.total} nodes created…` : "Deploying…") : "";
  updateTabs();
}

// ---- terminals in tabs ----

function findNode(container) {
  for (const topo of state?.topologies || []) {
    const node = topo.nodes.find((n) => n.container === container);
    if (node) return { topo, node };
  }
  return null;
}

function terminalUrl(node) { return me.role === "instructor" ? node.watch_url : node.url; }

function openTab(topo, node, focus) {
  let t = tabs.get(node.container);
  if (!t) {
    const label = me.role === "instructor" ? `${node.node} (${topo.user_id}, read-only)` : node.node;
    const tab = el("div", { className: "tab", dataset: { container: node.container } });
    const title = el("button", { type: "button", className: "title", role: "tab", textContent: label,
      title: `${label} · ${topo.topology_id}`, onclick: () => activate(node.container, true) });
    const close = el("button", { type: "button", className: "close", textContent: "×", ariaLabel: `Close ${label}`,
      onclick: () => closeTab(node.container) });
    tab.append(title, close);
    const panel = el("div", { className: "panel", role: "tabpanel", dataset: { container: node.container } });
    $("tabs").append(tab);
    $("panels").append(panel);
    t = { tab, title, panel, label, url: null, kind: null };
    tabs.set(node.container, t);
  }
  updateTab(node.container, t);
  activate(node.container, focus);
}

// Puts the terminal in its panel once it is ready; says so in the tab when its node is gone or its session ended.
function updateTab(container, t) {
  const found = findNode(container);
  const terminal = found ? found.node.terminal : "deleted";
  const url = terminal === "ready" ? terminalUrl(found.node) : null;
  const kind = url ? `ready ${url}`
    : terminal === "deleted" || terminal === "removing" ? "deleted"
    : terminal === "starting" ? (t.url ? t.kind : "starting")
    : "ended";
  if (kind === t.kind) return;
  t.kind = kind;
  t.url = url;
  t.tab.classList.toggle("ended", kind === "deleted" || kind === "ended");
  t.title.textContent = kind === "deleted" ? `${t.label} (deleted)` : kind === "ended" ? `${t.label} (ended)` : t.label;
  if (url) {
    const frame = el("iframe", { src: url, title: `Terminal of ${t.label}` });
    frame.addEventListener("load", () => { if (activeTab === container) focusTerminal(frame); });
    t.panel.replaceChildren(frame);
  } else if (kind === "starting") {
    t.panel.replaceChildren(el("p", { className: "notice", textContent: `Starting the terminal of ${t.label}…` }));
  } else {
    const why = kind === "deleted" ? `Node ${t.label} was deleted; its terminal is closed.`
      : `The terminal session of ${t.label} ended${found.node.reason ? `: ${found.node.reason}` : "."}`;
    t.panel.replaceChildren(el("p", { className: "notice ended", role: "status", textContent: why }));
  }
}

function updateTabs() { for (const [c, t] of tabs) updateTab(c, t); }

function activate(container, focus) {
  activeTab = container;
  for (const [c, t] of tabs) {
    const on = c === container;
    t.title.setAttribute("aria-selected", String(on));
    t.tab.setAttribute("aria-selected", String(on));
    t.panel.hidden = !on;
  }
  $("no-tab").hidden = tabs.size > 0;
  const frame = tabs.get(container)?.panel.querySelector("iframe");
  if (focus && frame) focusTerminal(frame);
}

// Keyboard focus goes into the terminal (xterm's input) as soon as ttyd's page has built it.
function focusTerminal(frame, tries = 50) {
  frame.focus();
  let input = null;
  try { input = frame.contentDocument?.querySelector(".xterm-helper-textarea"); } catch { /* not loaded yet */ }
  if (input) input.focus();
  else if (tries > 0) setTimeout(() => focusTerminal(frame, tries - 1), 100);
}

function closeTab(container) {
  const t = tabs.get(container);
  if (!t) return;
  t.tab.remove();
  t.panel.remove();
  tabs.delete(container);
  if (activeTab === container) {
    const last = [...tabs.keys()].pop();
    if (last) activate(last, true); else { activeTab = null; $("no-tab").hidden = false; }
  }
}

function openAll(topo) {
  topo.nodes.forEach((node) => openTab(topo, node, false));
  if (topo.nodes.length) activate(topo.nodes[0].container, true);
}

// ---- actions ----

$("deploy").addEventListener("click", async () => {
  const button = $("deploy");
  if (button.disabled) return;
  button.disabled = true; // at once: a double click deploys one topology (the server refuses a second one too)
  button.textContent = "Deploying…";
  $("progress").textContent = "Deploying…";
  try {
    const json = await call("POST", "/api/lab/deploy", {});
    say(`Topology ${json.topology_id} deployed with ${json.nodes.length} nodes.`);
  } catch (err) {
    say(err.message, true);
  } finally {
    button.disabled = false;
    button.textContent = "Deploy topology";
    poll();
  }
});

async function deleteNode(topo, node) {
  if (!(await ask(`Delete node ${node.node} of ${topo.topology_id}? Its container and terminal are removed.`, "Delete node"))) return;
  try {
    const json = await call("DELETE", `/api/lab/nodes/${encodeURIComponent(node.container)}`);
    say(json.message);
  } catch (err) {
    say(err.message, true);
  }
  poll();
}

async function clearTopology(topo) {
  if (!(await ask(`Clear topology ${topo.topology_id}? All its ${topo.nodes.length} nodes and terminals are removed.`, "Clear topology"))) return;
  try {
    const json = await call("DELETE", `/api/lab/topologies/${encodeURIComponent(topo.topology_id)}`);
    say(json.message);
  } catch (err) {
    say(err.message, true);
  }
  poll();
}

// ---- start ----

fetch("/api/me", { credentials: "same-origin" })
  .then(async (r) => (r.ok ? showLab(await r.json()) : showLogin()))
  .catch(() => showLogin());
