// segflow graph canvas (Streamlit component protocol v1, no framework, no build).
// The Python side owns the graph: every render draws exactly what it sends, and each user
// action goes back as one event {seq, action, ...}; Python applies it and renders again.
"use strict";

const SF = {
  post(type, data) { window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type }, data), "*"); },
  ready() { SF.post("streamlit:componentReady", { apiVersion: 1 }); },
  height(h) { SF.post("streamlit:setFrameHeight", { height: h }); },
  send(action, data) {
    SF.post("streamlit:setComponentValue",
      { value: Object.assign({ seq: Date.now() + Math.random(), action }, data), dataType: "json" });
  },
};

const wrap = document.getElementById("wrap");
const layer = document.getElementById("layer");
const svg = document.getElementById("edges");
const msg = document.getElementById("msg");
const NS = "http://www.w3.org/2000/svg";

let graph = { nodes: [], edges: [], selected: null };
let view = { x: 0, y: 0, zoom: 1 };
let fittedFor = null;          // the node-id set the view was last fitted to
let selectedEdge = null;       // "src.port>dst.port"
let drag = null;               // {mode: "node"|"pan"|"wire", ...}
const nodeEls = new Map();

function say(text, info) {
  msg.textContent = text || "";
  msg.className = info ? "info" : "";
}

function applyView() {
  layer.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.zoom})`;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderNodes() {
  for (const e of nodeEls.values()) e.remove();
  nodeEls.clear();
  for (const n of graph.nodes) {
    const box = el("div", "sf-node");
    box.dataset.nodeId = n.id;
    box.dataset.type = n.type;
    if (n.is_source) box.classList.add("source");
    if (n.is_sink) box.classList.add("sink");
    if (n.id === graph.selected) box.classList.add("selected");
    if (n.issues.length) box.classList.add("has-issues");
    box.style.left = n.x + "px";
    box.style.top = n.y + "px";
    box.title = n.summary || "";

    const head = el("div", "sf-head");
    head.appendChild(el("span", "sf-title", n.label || n.id));
    head.appendChild(el("span", "sf-type", n.type));
    if (n.issues.length) {
      const badge = el("span", "sf-badge", String(n.issues.length));
      badge.title = n.issues.join("\n");
      head.appendChild(badge);
    }
    const close = el("button", "sf-close", "\u2715");
    close.title = `Delete node '${n.id}'`;
    close.addEventListener("mousedown", ev => ev.stopPropagation());
    close.addEventListener("click", ev => { ev.stopPropagation(); SF.send("delete", { node: n.id }); });
    head.appendChild(close);
    box.appendChild(head);

    if (n.issues.length) {
      const issue = el("div", "sf-issue", n.issues[0]);
      issue.title = n.issues.join("\n");
      box.appendChild(issue);
    }
    const ports = el("div", "sf-ports");
    const ins = el("div", "sf-col in");
    const outs = el("div", "sf-col out");
    for (const p of n.inputs) ins.appendChild(port(n, p, "in"));
    for (const p of n.outputs) outs.appendChild(port(n, p, "out"));
    ports.appendChild(ins);
    ports.appendChild(outs);
    box.appendChild(ports);
    if (n.status) {
      const foot = el("div", "sf-foot " + n.status, n.status_text || n.status);
      box.appendChild(foot);
    }
    head.addEventListener("mousedown", ev => startNodeDrag(ev, n, box));
    box.addEventListener("mousedown", ev => { if (!drag) startNodeDrag(ev, n, box); });
    layer.appendChild(box);
    nodeEls.set(n.id, box);
  }
}

function port(node, p, side) {
  const row = el("div", `sf-port ${side}` + (p.required === false ? " optional" : ""), p.name);
  row.title = `${p.name}: ${p.kind}` + (p.description ? ` \u2014 ${p.description}` : "");
  const handle = el("span", `sf-handle ${p.kind}`);
  handle.dataset.node = node.id;
  handle.dataset.port = p.name;
  handle.dataset.kind = p.kind;
  handle.dataset.side = side;
  if (side === "out") handle.addEventListener("mousedown", ev => startWire(ev, node, p, handle));
  row.appendChild(handle);
  return row;
}

function handleCenter(nodeId, portName, side) {
  const box = nodeEls.get(nodeId);
  if (!box) return null;
  const h = box.querySelector(`.sf-handle[data-side="${side}"][data-port="${CSS.escape(portName)}"]`);
  if (!h) return null;
  const lr = layer.getBoundingClientRect();
  const r = h.getBoundingClientRect();
  return { x: (r.left + r.width / 2 - lr.left) / view.zoom, y: (r.top + r.height / 2 - lr.top) / view.zoom };
}

function curve(a, b) {
  const dx = Math.max(40, Math.abs(b.x - a.x) / 2);
  return `M ${a.x} ${a.y} C ${a.x + dx} ${a.y}, ${b.x - dx} ${b.y}, ${b.x} ${b.y}`;
}

function renderEdges() {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  for (const e of graph.edges) {
    const a = handleCenter(e.src, e.src_port, "out");
    const b = handleCenter(e.dst, e.dst_port, "in");
    if (!a || !b) continue;
    const id = `${e.src}.${e.src_port}>${e.dst}.${e.dst_port}`;
    const hit = document.createElementNS(NS, "path");
    hit.setAttribute("d", curve(a, b));
    hit.setAttribute("class", "sf-edge-hit");
    const path = document.createElementNS(NS, "path");
    path.setAttribute("d", curve(a, b));
    path.setAttribute("class", `sf-edge ${e.kind || ""}` + (id === selectedEdge ? " selected" : ""));
    path.dataset.from = `${e.src}.${e.src_port}`;
    path.dataset.to = `${e.dst}.${e.dst_port}`;
    const pick = ev => {
      ev.stopPropagation();
      selectedEdge = id;
      say(`edge ${e.src}.${e.src_port} \u2192 ${e.dst}.${e.dst_port} selected: press Delete to remove it`, true);
      renderEdges();
      wrap.focus();
    };
    hit.addEventListener("mousedown", pick);
    path.addEventListener("mousedown", pick);
    hit.addEventListener("dblclick", () => SF.send("disconnect", edgeData(e)));
    svg.appendChild(hit);
    svg.appendChild(path);
  }
}

function edgeData(e) {
  return { src: e.src, src_port: e.src_port, dst: e.dst, dst_port: e.dst_port };
}

function startNodeDrag(ev, n, box) {
  if (ev.button !== 0 || ev.target.classList.contains("sf-handle")) return;
  ev.stopPropagation();
  drag = { mode: "node", node: n, box, sx: ev.clientX, sy: ev.clientY, x0: n.x, y0: n.y, moved: false };
}

function startWire(ev, n, p, handle) {
  ev.stopPropagation();
  ev.preventDefault();
  const temp = document.createElementNS(NS, "path");
  temp.setAttribute("class", "sf-temp");
  svg.appendChild(temp);
  drag = { mode: "wire", node: n, port: p, from: handleCenter(n.id, p.name, "out"), temp };
  for (const h of layer.querySelectorAll('.sf-handle[data-side="in"]')) {
    h.classList.add(h.dataset.kind === p.kind && h.dataset.node !== n.id ? "ok" : "bad");
  }
}

function toLayer(ev) {
  const lr = layer.getBoundingClientRect();
  return { x: (ev.clientX - lr.left) / view.zoom, y: (ev.clientY - lr.top) / view.zoom };
}

wrap.addEventListener("mousedown", ev => {
  if (ev.button !== 0) return;
  selectedEdge = null;
  renderEdges();
  drag = { mode: "pan", sx: ev.clientX, sy: ev.clientY, x0: view.x, y0: view.y };
});

window.addEventListener("mousemove", ev => {
  if (!drag) return;
  if (drag.mode === "pan") {
    view.x = drag.x0 + ev.clientX - drag.sx;
    view.y = drag.y0 + ev.clientY - drag.sy;
    applyView();
  } else if (drag.mode === "node") {
    const dx = (ev.clientX - drag.sx) / view.zoom, dy = (ev.clientY - drag.sy) / view.zoom;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    drag.node.x = drag.x0 + dx;
    drag.node.y = drag.y0 + dy;
    drag.box.style.left = drag.node.x + "px";
    drag.box.style.top = drag.node.y + "px";
    renderEdges();
  } else if (drag.mode === "wire") {
    drag.temp.setAttribute("d", curve(drag.from, toLayer(ev)));
  }
});

window.addEventListener("mouseup", ev => {
  if (!drag) return;
  const d = drag;
  drag = null;
  if (d.mode === "node") {
    if (d.moved) SF.send("move", { node: d.node.id, x: Math.round(d.node.x), y: Math.round(d.node.y) });
    else SF.send("select", { node: d.node.id });
  } else if (d.mode === "wire") {
    d.temp.remove();
    for (const h of layer.querySelectorAll(".sf-handle")) h.classList.remove("ok", "bad");
    const target = document.elementFromPoint(ev.clientX, ev.clientY);
    const handle = target && target.closest('.sf-handle[data-side="in"], .sf-port.in');
    const h = handle && (handle.classList.contains("sf-handle") ? handle : handle.querySelector(".sf-handle"));
    if (!h) return;
    tryConnect(d.node.id, d.port.name, d.port.kind, h.dataset.node, h.dataset.port, h.dataset.kind);
  }
});

// Exposed for keyboard users and tests: the same check a drag runs.
function tryConnect(src, srcPort, srcKind, dst, dstPort, dstKind) {
  if (src === dst) { say(`cannot connect '${src}' to itself`); return false; }
  if (srcKind !== dstKind) {
    say(`cannot connect ${srcKind} output '${src}.${srcPort}' to ${dstKind} input '${dst}.${dstPort}': ` +
        `${srcKind} is not ${dstKind}`);
    return false;
  }
  say("");
  SF.send("connect", { src, src_port: srcPort, dst, dst_port: dstPort });
  return true;
}
window.sfTryConnect = tryConnect;

wrap.addEventListener("wheel", ev => {
  ev.preventDefault();
  const r = wrap.getBoundingClientRect();
  const mx = ev.clientX - r.left, my = ev.clientY - r.top;
  const z = Math.min(2.5, Math.max(0.25, view.zoom * (ev.deltaY < 0 ? 1.1 : 1 / 1.1)));
  view.x = mx - (mx - view.x) * z / view.zoom;
  view.y = my - (my - view.y) * z / view.zoom;
  view.zoom = z;
  applyView();
  renderEdges();
}, { passive: false });

wrap.addEventListener("keydown", ev => {
  if (ev.key !== "Delete" && ev.key !== "Backspace") return;
  if (selectedEdge) {
    const e = graph.edges.find(x => `${x.src}.${x.src_port}>${x.dst}.${x.dst_port}` === selectedEdge);
    selectedEdge = null;
    if (e) SF.send("disconnect", edgeData(e));
  } else if (graph.selected) {
    SF.send("delete", { node: graph.selected });
  }
});

function fit() {
  if (!graph.nodes.length) { view = { x: 0, y: 0, zoom: 1 }; applyView(); return; }
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (const n of graph.nodes) {
    const box = nodeEls.get(n.id);
    x1 = Math.min(x1, n.x); y1 = Math.min(y1, n.y);
    x2 = Math.max(x2, n.x + (box ? box.offsetWidth : 180));
    y2 = Math.max(y2, n.y + (box ? box.offsetHeight : 80));
  }
  const w = wrap.clientWidth, h = wrap.clientHeight, pad = 24;
  const zoom = Math.min(1.2, Math.max(0.25, Math.min((w - 2 * pad) / (x2 - x1), (h - 2 * pad) / (y2 - y1))));
  view = { zoom, x: pad - x1 * zoom + Math.max(0, (w - 2 * pad - (x2 - x1) * zoom) / 2), y: pad - y1 * zoom };
  applyView();
}
document.getElementById("fit").addEventListener("click", () => { fit(); renderEdges(); });

function render(args) {
  graph = args.graph || { nodes: [], edges: [], selected: null };
  const height = args.height || 480;
  wrap.style.height = height + "px";
  renderNodes();
  const ids = graph.nodes.map(n => n.id).sort().join(",");
  if (ids !== fittedFor && !graph.nodes.some(n => fittedFor && fittedFor.split(",").includes(n.id))) {
    fit();
  }
  if (fittedFor === null) fit();
  fittedFor = ids;
  applyView();
  renderEdges();
  if (args.message) say(args.message);
  SF.height(height + 30);
}

window.addEventListener("message", ev => {
  if (ev.data && ev.data.type === "streamlit:render") render(ev.data.args || {});
});
SF.ready();
