// Plain script, no build step: lists the user's nodes (GET /api/ttyd/getOwnNodes), deploys a topology,
// deletes a node, clears a topology. Terminals open in ttyd's own page.
"use strict";

const userInput = document.getElementById("user");
const tbody = document.getElementById("nodes");
const message = document.getElementById("message");

userInput.value = new URLSearchParams(location.search).get("user_id") || "demo-user";

function say(text, isError) {
  message.textContent = text;
  message.className = isError ? "error" : "";
}

// Every call that changes something says Content-Type: application/json (the server refuses anything else), which a page
// of another site cannot send without a CORS preflight.
async function call(method, url, body) {
  const init = { method, headers: {} };
  if (method !== "GET") {
    init.headers["Content-Type"] = "application/json";
  }
  if (body !== undefined) {
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  let json;
  try { json = await response.json(); } catch { json = { status: "error", message: `HTTP ${response.status}` }; }
  if (!response.ok || json.status !== "success") {
    throw new Error(json.message || `HTTP ${response.status}`);
  }
  return json;
}

function cell(row, content) {
  const td = row.insertCell();
  if (content instanceof Node) td.append(content); else td.textContent = content ?? "";
  return td;
}

function button(text, className, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.className = className;
  b.addEventListener("click", onClick);
  return b;
}

function render(terminals) {
  tbody.replaceChildren();
  if (terminals.length === 0) {
    const row = tbody.insertRow();
    const td = cell(row, "No nodes yet.");
    td.colSpan = 5;
    td.className = "muted";
    return;
  }
  const seenTopologies = new Set();
  for (const t of terminals) {
    const row = tbody.insertRow();
    row.dataset.container = t.container_name;
    row.dataset.topology = t.topology_id;
    cell(row, t.container_name);
    const topo = cell(row, t.topology_id + " ");
    if (!seenTopologies.has(t.topology_id)) {
      seenTopologies.add(t.topology_id);
      const clear = button("Clear topology", "clear-topology", () => clearTopology(t.topology_id));
      clear.dataset.topology = t.topology_id;
      topo.append(clear);
    }
    cell(row, t.port);
    cell(row, t.status).className = "status";
    const actions = cell(row, "");
    if (t.url) {
      const a = document.createElement("a");
      a.href = t.url;
      a.target = "_blank";
      a.rel = "noopener";
      a.className = "open-terminal";
      a.textContent = "Open terminal";
      actions.append(a);
    }
    actions.append(button("Delete node", "delete-node", () => deleteNode(t.container_name)));
  }
}

async function load() {
  const user = userInput.value.trim();
  try {
    const json = await call("GET", `/api/ttyd/getOwnNodes?user_id=${encodeURIComponent(user)}`);
    render(json.terminals);
    say(`${json.terminals.length} node(s) of ${json.user_id}.`);
  } catch (e) {
    say(e.message, true);
  }
}

async function deploy() {
  say("Deploying…");
  try {
    const json = await call("POST", "/api/lab/deploy", { user_id: userInput.value.trim() });
    await load();
    say(`Topology ${json.topology_id} deployed: ${json.nodes.join(", ")}.`);
  } catch (e) {
    say(e.message, true);
  }
}

async function deleteNode(container) {
  try {
    const json = await call("DELETE", `/api/lab/nodes/${encodeURIComponent(container)}?user_id=${encodeURIComponent(userInput.value.trim())}`);
    await load();
    say(json.message);
  } catch (e) {
    say(e.message, true);
  }
}

async function clearTopology(topology) {
  try {
    const json = await call("DELETE", `/api/lab/topologies/${encodeURIComponent(topology)}?user_id=${encodeURIComponent(userInput.value.trim())}`);
    await load();
    say(json.message);
  } catch (e) {
    say(e.message, true);
  }
}

document.getElementById("user-form").addEventListener("submit", (e) => { e.preventDefault(); load(); });
document.getElementById("deploy").addEventListener("click", deploy);
load();
