// segflow graph canvas (Streamlit component protocol v1, no framework, no build).
// The Python side owns the graph: every render draws what it sends, and each user action goes
// back as one event {seq, action, ...}. Moves and selection are applied here at once (Python
// confirms them on the next render, which echoes the last event's seq); the view (zoom, pan)
// belongs to the browser and survives reruns.
"use strict";

const MIN_TEXT_PX = 12;        // the smallest node text on screen that "Fit" allows
const ZOOM_MIN = 0.2, ZOOM_MAX = 3;
// What a new node may cover (as ui/state.py), the room beside one; a free spot is kept free for the
// widest a node is drawn (canvas.css: max-width 250 + borders): a narrow canvas has little room to spare.
const NEW_NODE = { w: 230, h: 140, gap: 40, widest: 254 };
const PORT_Y = 36;             // from a node's top to its first port's handle (canvas.css: head + ports padding)
const BOTTOM_PX = 100;         // the strip under the drawing: problems and minimap (canvas.css #bottom + margin)

// An unconfirmed event is sent again when no render has come for a while: Streamlit drops a value
// posted while it re-creates the frame or before it has seen the frame ready, and nothing would
// send that one again. The wait doubles each time, so a slow machine is not flooded with reruns.
// After RESEND_TRIES (about two minutes) the toolbar says so instead: a server that never answers.
const RESEND_FIRST_MS = 2500, RESEND_MAX_MS = 20000, RESEND_TRIES = 8;
const UNANSWERED = "the editor's server has not confirmed the last edit for two minutes: reload the page to see what it kept";

let lastSeq = 0;
let outbox = [];  // events sent but not yet confirmed by a render (graph.seq): resent with each new one
let resendTimer = null, resendWait = RESEND_FIRST_MS, tries = 0;  // tries: resends of the outbox since the last send
const SF = {
  post(type, data) { window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type }, data), "*"); },
  ready() { SF.post("streamlit:componentReady", { apiVersion: 1 }); },
  height(h) { SF.post("streamlit:setFrameHeight", { height: h }); },
  send(action, data) {
    // Streamlit keeps only the latest value, so a click during a rerun would replace the one before:
    // each value carries every unconfirmed event, and Python skips those it has applied.
    lastSeq = Math.max(Date.now(), lastSeq + 1);
    outbox.push(Object.assign({ seq: lastSeq, action }, data));
    SF.postOutbox();
    resendWait = RESEND_FIRST_MS;
    tries = 0;
    SF.awaitConfirmation();
    return lastSeq;
  },
  postOutbox() {
    // ``resends`` makes a resent value differ from the one before: Streamlit reruns only on a change.
    SF.post("streamlit:setComponentValue",
      { value: { seq: lastSeq, action: "batch", events: outbox.slice(), resends: tries }, dataType: "json" });
  },
  awaitConfirmation() {  // (re)started by each send and each render
    clearTimeout(resendTimer);
    if (!outbox.length) {
      if (msg.textContent === UNANSWERED) say("");
      return;
    }
    resendTimer = setTimeout(() => {  // a render emptying the outbox clears it first
      if (tries >= RESEND_TRIES) { say(UNANSWERED); return; }
      tries += 1;
      SF.postOutbox();
      resendWait = Math.min(resendWait * 2, RESEND_MAX_MS);
      SF.awaitConfirmation();
    }, resendWait);
  },
};

const $ = id => document.getElementById(id);
const wrap = $("wrap"), layer = $("layer"), svg = $("edges"), msg = $("msg");
const minimap = $("minimap"), palette = $("palette"), paletteQ = $("palette-q"), paletteList = $("palette-list");
const paletteFor = $("palette-for"), problemsEl = $("problems"), marquee = $("marquee"), ghost = $("ghost");
const NS = "http://www.w3.org/2000/svg";

let graph = { nodes: [], edges: [], selected: null, types: [] };
let view = { x: 0, y: 0, zoom: 1 };
let selection = new Set();     // selected node ids (shift-click adds); graph.selected is the primary one
let selectedEdge = null;       // "src.port>dst.port"
let drag = null;               // {mode: "node"|"pan"|"box"|"wire"|"type"|"minimap", ...}
let knownIds = null;           // node ids of the last render (null before the first)
let pending = new Map();       // node id -> {x, y, seq}: local moves Python has not confirmed yet
let noteSeq = null;            // the last Python note shown
let shownNote = null;          // its text (a message the page itself said since is left alone)
let paletteAt = null;          // where the palette's node goes (layer coordinates), null: the view's centre
let paletteWire = null;        // {node, port, side, kind}: the port a wire was dropped from, wired to the new node
let spaceDown = false;         // Space held: a left drag on the canvas pans instead of selecting
let paletteItems = [], paletteActive = 0;
let localPrimary = null;       // the node clicked last, here
let readable = 1;              // the zoom at which the smallest node text is MIN_TEXT_PX
const nodeEls = new Map();

function say(text, info) {
  msg.textContent = text || "";
  msg.title = text || "";
  msg.className = info ? "info" : "";
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// -- view ---------------------------------------------------------------------------------------

function applyView() {
  layer.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.zoom})`;
  $("zoom-label").textContent = Math.round(view.zoom * 100) + "%";
  drawMinimap();
  try { sessionStorage.setItem("sf-view", JSON.stringify(Object.assign({ ids: idKey() }, view))); } catch (e) { /* */ }
}

function idKey() { return graph.nodes.map(n => n.id).sort().join(","); }

function zoomAt(z, sx, sy) {   // keep the layer point under screen point (sx, sy) where it is
  z = Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, z));
  view.x = sx - (sx - view.x) * z / view.zoom;
  view.y = sy - (sy - view.y) * z / view.zoom;
  view.zoom = z;
  applyView();
  renderEdges();
}

function viewCentre() { return { x: wrap.clientWidth / 2, y: wrap.clientHeight / 2 }; }

function toLayerXY(sx, sy) { return { x: (sx - view.x) / view.zoom, y: (sy - view.y) / view.zoom }; }

function toLayer(ev) {
  const r = wrap.getBoundingClientRect();
  return toLayerXY(ev.clientX - r.left, ev.clientY - r.top);
}

function nodeSize(n) {
  const box = nodeEls.get(n.id);
  return { w: box ? box.offsetWidth : 200, h: box ? box.offsetHeight : 90 };
}

function bounds(nodes) {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (const n of nodes) {
    const s = nodeSize(n);
    x1 = Math.min(x1, n.x); y1 = Math.min(y1, n.y);
    x2 = Math.max(x2, n.x + s.w); y2 = Math.max(y2, n.y + s.h);
  }
  return { x1, y1, x2, y2 };
}

// The zoom at which the smallest text on any node is MIN_TEXT_PX on screen.
function measureReadable() {
  let smallest = Infinity;
  for (const e of layer.querySelectorAll(".sf-node, .sf-node *")) {
    if (!e.childNodes.length || ![...e.childNodes].some(c => c.nodeType === 3 && c.textContent.trim())) continue;
    smallest = Math.min(smallest, parseFloat(getComputedStyle(e).fontSize));
  }
  readable = Number.isFinite(smallest) ? Math.max(ZOOM_MIN, MIN_TEXT_PX / smallest) : 1;
}

// Fit the graph, but never below the readable zoom: a graph too big for that shows its start
// (its top-left, where the sources are) and the minimap shows the rest.
function fit() {
  if (!graph.nodes.length) { view = { x: 0, y: 0, zoom: 1 }; applyView(); return; }
  const b = bounds(graph.nodes);
  const w = wrap.clientWidth, h = wrap.clientHeight, pad = 24;
  const fits = Math.min((w - 2 * pad) / (b.x2 - b.x1), (h - 2 * pad) / (b.y2 - b.y1));
  const zoom = Math.min(1.25, Math.max(readable, fits));
  view = { zoom, x: pad - b.x1 * zoom, y: pad - b.y1 * zoom };
  view.x += Math.max(0, (w - 2 * pad - (b.x2 - b.x1) * zoom) / 2);
  view.y += Math.max(0, (h - 2 * pad - (b.y2 - b.y1) * zoom) / 2);
  applyView();
}

// Pan (never zoom) so that each of these nodes is inside the view.
function ensureVisible(ids) {
  const w = wrap.clientWidth, h = wrap.clientHeight, pad = 30;
  for (const id of ids) {
    const n = graph.nodes.find(m => m.id === id);
    if (!n) continue;
    const s = nodeSize(n);
    const left = view.x + n.x * view.zoom, top = view.y + n.y * view.zoom;
    const right = left + s.w * view.zoom, bottom = top + s.h * view.zoom;
    if (left < pad) view.x += pad - left;
    else if (right > w - pad) view.x -= Math.min(right - (w - pad), left - pad);
    if (top < pad) view.y += pad - top;
    else if (bottom > h - pad) view.y -= Math.min(bottom - (h - pad), top - pad);
  }
  applyView();
}

// -- nodes and edges ----------------------------------------------------------------------------

function renderNodes() {
  for (const e of nodeEls.values()) e.remove();
  nodeEls.clear();
  for (const n of graph.nodes) {
    const box = el("div", "sf-node");
    box.dataset.nodeId = n.id;
    box.dataset.type = n.type;
    if (n.is_source) box.classList.add("source");
    if (n.is_sink) box.classList.add("sink");
    if (selection.has(n.id)) box.classList.add("selected");
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
    close.title = `Delete node '${n.id}' (Ctrl+Z undoes it)`;
    close.addEventListener("mousedown", ev => ev.stopPropagation());
    close.addEventListener("click", ev => { ev.stopPropagation(); deleteNodes([n.id]); });
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
    drawFoot(box, n);
    box.addEventListener("mousedown", ev => startNodeDrag(ev, n, box));
    box.addEventListener("dblclick", ev => ev.stopPropagation());
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
  handle.addEventListener("mousedown", ev => startWire(ev, node, p, side));
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
  // forward: a smooth S; backward (to the next band of a wrapped layout): a short bend at each end
  const dx = b.x >= a.x ? Math.max(40, (b.x - a.x) / 2) : 70;
  return `M ${a.x} ${a.y} C ${a.x + dx} ${a.y}, ${b.x - dx} ${b.y}, ${b.x} ${b.y}`;
}

function edgeKey(e) { return `${e.src}.${e.src_port}>${e.dst}.${e.dst_port}`; }
function edgeData(e) { return { src: e.src, src_port: e.src_port, dst: e.dst, dst_port: e.dst_port }; }

function renderEdges() {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  for (const e of graph.edges) {
    const a = handleCenter(e.src, e.src_port, "out");
    const b = handleCenter(e.dst, e.dst_port, "in");
    if (!a || !b) continue;
    const id = edgeKey(e);
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
    for (const p of [hit, path]) {
      p.addEventListener("dblclick", ev => { ev.stopPropagation(); SF.send("disconnect", edgeData(e)); });
    }
    svg.appendChild(hit);
    svg.appendChild(path);
  }
}

function markSelection() {
  for (const [id, box] of nodeEls) box.classList.toggle("selected", selection.has(id));
  drawMinimap();
}

function startNodeDrag(ev, n, box) {
  if (ev.button !== 0 || ev.target.classList.contains("sf-handle")) return;
  ev.stopPropagation();
  closePalette();
  wrap.focus();
  if (ev.shiftKey) {
    if (selection.has(n.id) && selection.size > 1) selection.delete(n.id); else selection.add(n.id);
  } else if (!selection.has(n.id)) {
    selection = new Set([n.id]);
  }
  graph.selected = localPrimary = selection.has(n.id) ? n.id : [...selection][0] || null;
  markSelection();                      // at once: Python hears of it on mouseup
  const group = graph.nodes.filter(m => selection.has(m.id) && m.id !== n.id);
  drag = { mode: "node", node: n, sx: ev.clientX, sy: ev.clientY, moved: false,
           items: [n, ...group].map(m => ({ node: m, x0: m.x, y0: m.y, box: nodeEls.get(m.id) })),
           shift: ev.shiftKey };
}

// A wire starts at either end: from an output it goes to an input, from an input to an output.
function startWire(ev, n, p, side) {
  if (ev.button !== 0) return;
  ev.stopPropagation();
  ev.preventDefault();
  closePalette();
  const temp = document.createElementNS(NS, "path");
  temp.setAttribute("class", "sf-temp");
  svg.appendChild(temp);
  drag = { mode: "wire", node: n, port: p, side, from: handleCenter(n.id, p.name, side), temp };
  for (const h of layer.querySelectorAll(`.sf-handle[data-side="${side === "out" ? "in" : "out"}"]`)) {
    h.classList.add(h.dataset.kind === p.kind && h.dataset.node !== n.id ? "ok" : "bad");
  }
}

// The left button on the empty canvas draws a selection box (as Node-RED); the middle or right
// button, or Space + left, pans (as ComfyUI's drag) — so does the minimap.
wrap.addEventListener("mousedown", ev => {
  if (palette.contains(ev.target)) return;
  closePalette();
  selectedEdge = null;
  renderEdges();
  if (ev.button === 1 || ev.button === 2 || (ev.button === 0 && spaceDown)) {
    ev.preventDefault();
    wrap.focus();
    wrap.classList.add("panning");
    drag = { mode: "pan", sx: ev.clientX, sy: ev.clientY, x0: view.x, y0: view.y };
    return;
  }
  if (ev.button !== 0) return;
  const r = wrap.getBoundingClientRect();
  drag = { mode: "box", sx: ev.clientX - r.left, sy: ev.clientY - r.top, moved: false,
           base: ev.shiftKey || ev.ctrlKey || ev.metaKey ? new Set(selection) : new Set() };
});
wrap.addEventListener("contextmenu", ev => ev.preventDefault());

// Select every node the box touches (added to the selection with Shift or Ctrl held).
function boxSelect(ev) {
  const r = wrap.getBoundingClientRect();
  const x = ev.clientX - r.left, y = ev.clientY - r.top;
  if (Math.abs(x - drag.sx) + Math.abs(y - drag.sy) > 4) drag.moved = true;
  if (!drag.moved) return;
  const sx1 = Math.min(x, drag.sx), sy1 = Math.min(y, drag.sy), sx2 = Math.max(x, drag.sx), sy2 = Math.max(y, drag.sy);
  Object.assign(marquee.style, { left: sx1 + "px", top: sy1 + "px", width: (sx2 - sx1) + "px", height: (sy2 - sy1) + "px" });
  marquee.hidden = false;
  const a = toLayerXY(sx1, sy1), b = toLayerXY(sx2, sy2);
  selection = new Set(drag.base);
  for (const n of graph.nodes) {
    const s = nodeSize(n);
    if (n.x < b.x && n.x + s.w > a.x && n.y < b.y && n.y + s.h > a.y) selection.add(n.id);
  }
  markSelection();
}

window.addEventListener("mousemove", ev => {
  if (!drag) return;
  if (drag.mode === "pan") {
    view.x = drag.x0 + ev.clientX - drag.sx;
    view.y = drag.y0 + ev.clientY - drag.sy;
    applyView();
  } else if (drag.mode === "minimap") {
    minimapLook(ev);
  } else if (drag.mode === "box") {
    boxSelect(ev);
  } else if (drag.mode === "type") {
    dragType(ev);
  } else if (drag.mode === "node") {
    const dx = (ev.clientX - drag.sx) / view.zoom, dy = (ev.clientY - drag.sy) / view.zoom;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (!drag.moved) return;
    for (const it of drag.items) {
      it.node.x = it.x0 + dx;
      it.node.y = it.y0 + dy;
      if (it.box) { it.box.style.left = it.node.x + "px"; it.box.style.top = it.node.y + "px"; }
    }
    renderEdges();
    drawMinimap();
  } else if (drag.mode === "wire") {
    const at = toLayer(ev);
    drag.temp.setAttribute("d", drag.side === "out" ? curve(drag.from, at) : curve(at, drag.from));
  }
});

window.addEventListener("mouseup", ev => {
  if (!drag) return;
  const d = drag;
  drag = null;
  if (deferred) { const args = deferred; deferred = null; setTimeout(() => render(args), 0); }
  wrap.classList.remove("panning");
  if (d.mode === "type") {
    dropType(d, ev);
  } else if (d.mode === "box") {
    marquee.hidden = true;
    if (!d.moved || !selection.size) return;
    graph.selected = localPrimary = selection.has(localPrimary) ? localPrimary : [...selection][0];
    markSelection();
    SF.send("select", { node: graph.selected, nodes: [...selection] });
  } else if (d.mode === "node") {
    if (d.moved) {
      const moves = d.items.map(it => ({ node: it.node.id, x: Math.round(it.node.x), y: Math.round(it.node.y) }));
      const seq = SF.send("move", { node: d.node.id, nodes: [...selection], moves });
      for (const m of moves) pending.set(m.node, { x: m.x, y: m.y, seq });
    } else {
      SF.send("select", { node: graph.selected, nodes: [...selection] });
    }
  } else if (d.mode === "wire") {
    d.temp.remove();
    for (const h of layer.querySelectorAll(".sf-handle")) h.classList.remove("ok", "bad");
    dropWire(d, ev);
  }
});

// Where a wire lands: on a port of the other side, that port; on a node's body, its port of the
// same kind (the same name first); on the empty canvas, the palette of the types that fit.
function dropWire(d, ev) {
  const other = d.side === "out" ? "in" : "out";
  const target = document.elementFromPoint(ev.clientX, ev.clientY);
  if (!target || !wrap.contains(target)) return;
  const handle = target.closest(`.sf-handle[data-side="${other}"], .sf-port.${other}`);
  let h = handle && (handle.classList.contains("sf-handle") ? handle : handle.querySelector(".sf-handle"));
  const box = !h && target.closest(".sf-node");
  if (box) {
    const fits = [...box.querySelectorAll(`.sf-handle[data-side="${other}"]`)].filter(x => x.dataset.kind === d.port.kind);
    h = fits.find(x => x.dataset.port === d.port.name) || fits[0];
    if (!h) { say(`'${box.dataset.nodeId}' has no ${d.port.kind} ${other === "in" ? "input" : "output"}`); return; }
  }
  if (h) {
    if (d.side === "out") tryConnect(d.node.id, d.port.name, d.port.kind, h.dataset.node, h.dataset.port, h.dataset.kind);
    else tryConnect(h.dataset.node, h.dataset.port, h.dataset.kind, d.node.id, d.port.name, d.port.kind);
    return;
  }
  const r = wrap.getBoundingClientRect();
  openPalette({ sx: ev.clientX - r.left, sy: ev.clientY - r.top },
              { node: d.node.id, port: d.port.name, side: d.side, kind: d.port.kind });
}

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

function deleteNodes(ids) {
  if (!ids.length) return;
  const gone = new Set(ids);   // gone from the drawing at once; Python deletes, Ctrl+Z restores
  graph.nodes = graph.nodes.filter(n => !gone.has(n.id));
  graph.edges = graph.edges.filter(e => !gone.has(e.src) && !gone.has(e.dst));
  for (const id of ids) { const box = nodeEls.get(id); if (box) box.remove(); nodeEls.delete(id); selection.delete(id); }
  renderEdges();
  drawMinimap();
  SF.send("delete", { node: ids[0], nodes: ids });
}

// The wheel scrolls the page, as everywhere else on it: only Ctrl+wheel (a touchpad pinch) zooms here,
// so a page scrolled with the pointer over the canvas is never caught by it.
wrap.addEventListener("wheel", ev => {
  if (!ev.ctrlKey && !ev.metaKey) return;
  ev.preventDefault();
  const r = wrap.getBoundingClientRect();
  zoomAt(view.zoom * (ev.deltaY < 0 ? 1.1 : 1 / 1.1), ev.clientX - r.left, ev.clientY - r.top);
}, { passive: false });

wrap.addEventListener("dblclick", ev => {
  if (palette.contains(ev.target) || ev.target.closest(".sf-node")) return;
  const r = wrap.getBoundingClientRect();
  openPalette({ sx: ev.clientX - r.left, sy: ev.clientY - r.top });
});

document.addEventListener("keydown", ev => {
  if (ev.target === paletteQ) return;   // the palette's own keys
  const mod = ev.ctrlKey || ev.metaKey;
  const key = ev.key.toLowerCase();
  if (mod && key === "z") { ev.preventDefault(); SF.send(ev.shiftKey ? "redo" : "undo", {}); return; }
  if (mod && key === "y") { ev.preventDefault(); SF.send("redo", {}); return; }
  if (mod && key === "c" && selection.size) {
    ev.preventDefault();
    SF.send("copy", { nodes: [...selection] });
    say(`copied ${selection.size} node(s): Ctrl+V pastes`, true);
    return;
  }
  if (mod && key === "v") { ev.preventDefault(); SF.send("paste", {}); return; }
  if (mod && key === "d" && selection.size) { ev.preventDefault(); SF.send("duplicate", { nodes: [...selection] }); return; }
  if (ev.key === "Escape") { closePalette(); return; }
  if (mod && key === "a") {
    ev.preventDefault();
    selection = new Set(graph.nodes.map(n => n.id));
    if (selection.size) SF.send("select", { node: graph.selected || [...selection][0], nodes: [...selection] });
    markSelection();
    return;
  }
  if (ev.key === " ") { ev.preventDefault(); spaceDown = true; return; }
  if (ev.key !== "Delete" && ev.key !== "Backspace") return;
  if (selectedEdge) {
    const e = graph.edges.find(x => edgeKey(x) === selectedEdge);
    selectedEdge = null;
    if (e) SF.send("disconnect", edgeData(e));
  } else if (selection.size) {
    deleteNodes([...selection]);
  }
});

document.addEventListener("keyup", ev => { if (ev.key === " ") spaceDown = false; });
window.addEventListener("blur", () => { spaceDown = false; });

// Undo/redo from anywhere on the page, not only with the canvas focused: after a form's Apply the
// focus is on the form. The component is served from the page's own origin, so it may listen on the
// parent document. A text field keeps its own Ctrl+Z (the browser's undo of typing).
function pageKeys(ev) {
  if (!window.frameElement || !window.frameElement.isConnected) {  // this frame was replaced: the new one listens
    ev.currentTarget.removeEventListener("keydown", pageKeys);
    return;
  }
  const mod = ev.ctrlKey || ev.metaKey;
  const key = (ev.key || "").toLowerCase();
  if (!mod || (key !== "z" && key !== "y")) return;
  const t = ev.target;
  if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
  ev.preventDefault();
  SF.send(key === "y" || ev.shiftKey ? "redo" : "undo", {});
}
try {
  window.parent.document.addEventListener("keydown", pageKeys);
  window.addEventListener("pagehide", () => {
    try { window.parent.document.removeEventListener("keydown", pageKeys); } catch (e) { /* page gone */ }
  });
} catch (e) { /* another origin: the canvas's own keys still work */ }

// -- toolbar ------------------------------------------------------------------------------------

$("add").addEventListener("click", () => (palette.hidden ? openPalette(null) : closePalette()));
$("undo").addEventListener("click", () => SF.send("undo", {}));
$("redo").addEventListener("click", () => SF.send("redo", {}));
$("zoom-in").addEventListener("click", () => { const c = viewCentre(); zoomAt(view.zoom * 1.25, c.x, c.y); });
$("zoom-out").addEventListener("click", () => { const c = viewCentre(); zoomAt(view.zoom / 1.25, c.x, c.y); });
$("zoom-reset").addEventListener("click", () => { const c = viewCentre(); zoomAt(1, c.x, c.y); });
$("fit").addEventListener("click", () => { fit(); renderEdges(); });

// -- render -------------------------------------------------------------------------------------

let deferred = null;  // a render that came during a drag: drawn when the drag ends

let renders = [];  // the last renders' seq and node count, for a test that fails to say what the canvas was given
function render(args) {
  renders = [...renders.slice(-19), [(args.graph || {}).seq, ((args.graph || {}).nodes || []).length, drag ? drag.mode : null]];
  if (drag && drag.mode !== "pan" && drag.mode !== "minimap") { deferred = args; return; }
  graph = args.graph || { nodes: [], edges: [], selected: null, types: [] };
  const confirmed = graph.seq || 0;
  outbox = outbox.filter(e => e.seq > confirmed);
  SF.awaitConfirmation();  // a render shows Streamlit at work: wait again before sending anything twice
  for (const n of graph.nodes) {   // a move Python has not applied yet keeps its local place
    const p = pending.get(n.id);
    if (p && p.seq > confirmed) { n.x = p.x; n.y = p.y; } else pending.delete(n.id);
  }
  const ids = new Set(graph.nodes.map(n => n.id));
  selection = new Set([...selection].filter(id => ids.has(id)));
  const choosing = outbox.some(e => e.action === "select" || e.action === "move");
  if (choosing && selection.size) {  // a click Python has not seen yet: keep it
    graph.selected = selection.has(localPrimary) ? localPrimary : [...selection][0];
  }
  else if (!graph.selected || !selection.has(graph.selected)) selection = new Set(graph.selected ? [graph.selected] : []);
  followPlay(graph.live);
  const height = args.height || 480;
  wrap.style.height = (height - BOTTOM_PX) + "px";   // the frame keeps its height: the strip is inside it
  renderNodes();
  renderProblems();
  measureReadable();
  if (knownIds === null) {
    let saved = null;
    try { saved = JSON.parse(sessionStorage.getItem("sf-view") || "null"); } catch (e) { /* */ }
    if (saved && saved.ids === idKey()) { view = { x: saved.x, y: saved.y, zoom: saved.zoom }; applyView(); }
    else fit();
  } else {
    const added = [...ids].filter(id => !knownIds.has(id));
    // another file (not the first nodes of an empty one: building from nothing keeps the zoom the user has)
    if (added.length > 2 && added.length >= ids.size / 2) fit();
    else if (added.length) ensureVisible(added);  // a new node is never off screen
  }
  knownIds = ids;
  applyView();
  renderEdges();
  $("undo").disabled = !graph.can_undo;
  $("redo").disabled = !graph.can_redo;
  const note = graph.note;
  if (note && note.seq !== noteSeq) { noteSeq = note.seq; say(note.text, !note.error); }
  // Python dropped its note (an undo, another edit or file ended what it said): so does the toolbar
  else if (!note && noteSeq !== null && msg.textContent === shownNote) say("");
  shownNote = note ? note.text : shownNote;
  SF.height(height + 36);
}

window.addEventListener("message", ev => {
  if (ev.data && ev.data.type === "streamlit:render") render(ev.data.args || {});
});
window.addEventListener("resize", () => { drawMinimap(); });
// Ready once palette.js and overview.js are loaded too: a render needs them.
window.addEventListener("load", () => SF.ready());
