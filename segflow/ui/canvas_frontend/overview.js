// segflow canvas: the strip under the drawing (loaded after canvas.js, whose state it reads):
// the problems panel and the minimap, of fixed height, so neither covers a node nor moves the canvas.
"use strict";

// -- the problems panel -------------------------------------------------------------------------

// Every validation problem in one list of fixed height under the drawing; a click on one selects
// its node and brings it into view.
function renderProblems() {
  const scroll = problemsEl.scrollTop;
  problemsEl.textContent = "";
  const list = graph.problems || [];
  if (!list.length) {
    problemsEl.appendChild(el("div", "none", "\u2713 No problems: the workflow is valid"));
    return;
  }
  const errors = list.filter(p => p.error).length;
  problemsEl.appendChild(el("div", "head", `Problems: ${errors} error(s), ${list.length - errors} warning(s)` +
                                         (list.some(p => p.node) ? " \u2014 click one to find its node" : "")));
  for (const p of list) {
    const row = el("div", "sf-problem" + (p.error ? "" : " warning") + (p.node ? "" : " workflow"), p.text);
    row.setAttribute("role", "listitem");
    if (p.node) {
      row.dataset.node = p.node;
      row.title = `select '${p.node}'`;
      row.addEventListener("click", () => focusNode(p.node));
    }
    problemsEl.appendChild(row);
  }
  problemsEl.scrollTop = scroll;
}

function focusNode(id) {
  if (!graph.nodes.some(n => n.id === id)) return;
  selection = new Set([id]);
  graph.selected = localPrimary = id;
  markSelection();
  ensureVisible([id]);
  renderEdges();
  SF.send("select", { node: id, nodes: [id] });
}


// -- minimap ------------------------------------------------------------------------------------

let miniMap = null;  // {scale, ox, oy}: layer -> minimap coordinates of the last drawing

function drawMinimap() {
  if (!graph.nodes.length) { minimap.hidden = true; return; }
  const b = bounds(graph.nodes);
  const w = wrap.clientWidth, h = wrap.clientHeight;
  const v = { x1: -view.x / view.zoom, y1: -view.y / view.zoom,
              x2: (w - view.x) / view.zoom, y2: (h - view.y) / view.zoom };
  const inside = b.x1 >= v.x1 && b.y1 >= v.y1 && b.x2 <= v.x2 && b.y2 <= v.y2;
  minimap.hidden = inside;
  if (inside) return;
  const all = { x1: Math.min(b.x1, v.x1), y1: Math.min(b.y1, v.y1), x2: Math.max(b.x2, v.x2), y2: Math.max(b.y2, v.y2) };
  const W = minimap.width, H = minimap.height, pad = 6;
  const scale = Math.min((W - 2 * pad) / (all.x2 - all.x1), (H - 2 * pad) / (all.y2 - all.y1));
  const ox = pad - all.x1 * scale + ((W - 2 * pad) - (all.x2 - all.x1) * scale) / 2;
  const oy = pad - all.y1 * scale + ((H - 2 * pad) - (all.y2 - all.y1) * scale) / 2;
  miniMap = { scale, ox, oy };
  const c = minimap.getContext("2d");
  c.clearRect(0, 0, W, H);
  c.strokeStyle = "#98a2b3"; c.lineWidth = 1;
  for (const e of graph.edges) {
    const a = graph.nodes.find(n => n.id === e.src), d = graph.nodes.find(n => n.id === e.dst);
    if (!a || !d) continue;
    c.beginPath();
    c.moveTo(ox + (a.x + nodeSize(a).w) * scale, oy + (a.y + 14) * scale);
    c.lineTo(ox + d.x * scale, oy + (d.y + 14) * scale);
    c.stroke();
  }
  for (const n of graph.nodes) {
    const s = nodeSize(n);
    c.fillStyle = selection.has(n.id) ? "#1570ef" : n.issues.length ? "#f04438" : "#667085";
    c.fillRect(ox + n.x * scale, oy + n.y * scale, Math.max(2, s.w * scale), Math.max(2, s.h * scale));
  }
  c.strokeStyle = "#1570ef"; c.lineWidth = 2;
  c.strokeRect(ox + v.x1 * scale, oy + v.y1 * scale, (v.x2 - v.x1) * scale, (v.y2 - v.y1) * scale);
}

function minimapLook(ev) {   // centre the view on the layer point under the pointer
  if (!miniMap) return;
  const r = minimap.getBoundingClientRect();
  const mx = (ev.clientX - r.left) * minimap.width / r.width, my = (ev.clientY - r.top) * minimap.height / r.height;
  const lx = (mx - miniMap.ox) / miniMap.scale, ly = (my - miniMap.oy) / miniMap.scale;
  view.x = wrap.clientWidth / 2 - lx * view.zoom;
  view.y = wrap.clientHeight / 2 - ly * view.zoom;
  applyView();
  renderEdges();
}

minimap.addEventListener("mousedown", ev => {
  ev.stopPropagation();
  ev.preventDefault();
  drag = { mode: "minimap" };
  minimapLook(ev);
});
minimap.addEventListener("dblclick", ev => ev.stopPropagation());
