// segflow canvas: the add-node palette (loaded after canvas.js, whose state and helpers it uses).
// A search box over the registry's types; opened by "+ Add node", a double-click on the empty
// canvas, or a wire dropped there (then it lists only the types that take that wire's kind).
"use strict";

// -- the add-node palette -----------------------------------------------------------------------

function openPalette(at, wire) {
  // at: the screen point (in the canvas) that was double-clicked or where a wire was dropped;
  // null: the centre of the view. wire: that wire's port, whose kind the listed types must take.
  paletteAt = at ? toLayerXY(at.sx, at.sy) : null;
  paletteWire = wire || null;
  if (paletteWire) {  // the new node's port of that kind lands about where the wire was dropped
    paletteAt.y -= PORT_Y;
    if (paletteWire.side === "in") paletteAt.x -= NEW_NODE.w;
  }
  paletteFor.hidden = !paletteWire;
  paletteFor.textContent = !paletteWire ? "" : paletteWire.side === "out"
    ? `A node taking ${paletteWire.kind} from '${paletteWire.node}.${paletteWire.port}':`
    : `A node giving ${paletteWire.kind} to '${paletteWire.node}.${paletteWire.port}':`;
  palette.hidden = false;
  const pw = 380, ph = 310, w = wrap.clientWidth, h = wrap.clientHeight;
  const sx = at ? at.sx : (w - pw) / 2, sy = at ? at.sy : 12;
  palette.style.left = Math.max(4, Math.min(sx, w - pw - 4)) + "px";
  palette.style.top = Math.max(4, Math.min(sy, h - ph - 4)) + "px";
  paletteQ.value = "";
  filterPalette();
  paletteQ.focus();
}

function closePalette() { palette.hidden = true; paletteWire = null; paletteFor.hidden = true; }

function filterPalette() {
  const terms = paletteQ.value.toLowerCase().split(/\s+/).filter(Boolean);
  const scored = [];
  const wire = paletteWire;
  for (const t of graph.types || []) {
    if (wire && !(wire.side === "out" ? t.inputs : t.outputs).includes(wire.kind)) continue;
    const hay = `${t.type} ${t.family} ${t.summary}`.toLowerCase();
    if (!terms.every(term => hay.includes(term))) continue;
    const name = t.type.toLowerCase();
    const score = terms.reduce((s, term) => s + (name.startsWith(term) ? 0 : name.includes(term) ? 1 : 2), 0);
    scored.push([score, t]);
  }
  scored.sort((a, b) => a[0] - b[0] || a[1].type.localeCompare(b[1].type));
  paletteItems = scored.map(s => s[1]);
  paletteActive = 0;
  drawPalette();
}

function drawPalette() {
  paletteList.textContent = "";
  if (!paletteItems.length) { paletteList.appendChild(el("li", "empty", "no node type matches")); return; }
  paletteItems.forEach((t, i) => {
    const li = el("li", i === paletteActive ? "active" : "");
    li.dataset.type = t.type;
    li.setAttribute("role", "option");
    const line = el("div");
    line.appendChild(el("span", "pt", t.type));
    line.appendChild(el("span", "pf", t.family));
    li.appendChild(line);
    if (t.summary) li.appendChild(el("div", "ps", t.summary));
    li.title = t.summary || "";
    li.addEventListener("mousedown", ev => {
      ev.stopPropagation();
      if (ev.button === 0) drag = { mode: "type", type: t.type, sx: ev.clientX, sy: ev.clientY, moved: false };
    });
    li.addEventListener("click", () => addNode(t.type));  // a click (no drag): the palette's own place
    li.addEventListener("mousemove", () => { if (paletteActive !== i) { paletteActive = i; markActive(); } });
    paletteList.appendChild(li);
  });
}

function markActive() {
  [...paletteList.children].forEach((li, i) => li.classList.toggle("active", i === paletteActive));
  const li = paletteList.children[paletteActive];
  if (li && li.scrollIntoView) li.scrollIntoView({ block: "nearest" });
}

// Where "+ Add node" puts a node: right of the selected node (the usual next step of a
// pipeline), else centred in the view.
function addTarget() {
  const sel = graph.nodes.find(n => n.id === (localPrimary && selection.has(localPrimary) ? localPrimary : graph.selected));
  if (sel) return { x: sel.x + nodeSize(sel).w + NEW_NODE.gap, y: sel.y };
  const c = viewCentre();
  const p = toLayerXY(c.x, c.y);
  return { x: p.x - NEW_NODE.w / 2, y: p.y - NEW_NODE.h / 2 };
}

// ``at`` itself, or the nearest spot below it (then further right) where a new node covers no
// node: neither a drawn one nor one added a moment ago that Python has not drawn yet (quick adds).
function freeSpot(at) {
  const taken = graph.nodes.map(n => ({ x: n.x, y: n.y, ...nodeSize(n) }));
  for (const e of outbox) if (e.action === "add") taken.push({ x: e.x, y: e.y, w: NEW_NODE.widest, h: NEW_NODE.h });
  const clear = p => !taken.some(b => p.x < b.x + b.w && p.x + NEW_NODE.widest > b.x &&
                                      p.y < b.y + b.h && p.y + NEW_NODE.h > b.y);
  for (let step = 0; step < 200; step++) {
    const p = { x: at.x + Math.floor(step / 20) * (NEW_NODE.w + NEW_NODE.gap), y: at.y + (step % 20) * 40 };
    if (clear(p)) return p;
  }
  return at;
}

// A type dragged out of the list goes where it is dropped (as from Node-RED's palette); the
// palette hides meanwhile so the whole canvas is a target. A wire's palette keeps its wire.
function dragType(ev) {
  if (!drag.moved && Math.abs(ev.clientX - drag.sx) + Math.abs(ev.clientY - drag.sy) < 6) return;
  drag.moved = true;
  palette.hidden = true;
  const r = wrap.getBoundingClientRect();
  ghost.textContent = drag.type;
  ghost.hidden = false;
  ghost.style.left = (ev.clientX - r.left + 10) + "px";
  ghost.style.top = (ev.clientY - r.top + 10) + "px";
}

function dropType(d, ev) {
  ghost.hidden = true;
  if (!d.moved) return;  // a click: the list item's own handler adds it
  const target = document.elementFromPoint(ev.clientX, ev.clientY);
  if (!target || !wrap.contains(target)) { closePalette(); return; }
  paletteAt = toLayer(ev);
  if (paletteWire) {
    paletteAt.y -= PORT_Y;
    if (paletteWire.side === "in") paletteAt.x -= NEW_NODE.w;
  }
  addNode(d.type);
}

function addNode(type) {
  // The node's top-left goes at the double-clicked point, or next to the selected node; moved down
  // (then right) as far as needed to cover no other node.
  const at = freeSpot(paletteAt || addTarget());
  const wire = paletteWire && { node: paletteWire.node, port: paletteWire.port, side: paletteWire.side };
  closePalette();
  wrap.focus();
  SF.send("add", Object.assign({ type, x: Math.round(at.x), y: Math.round(at.y) }, wire ? { wire } : {}));
}

paletteQ.addEventListener("input", filterPalette);
paletteQ.addEventListener("keydown", ev => {
  if (ev.key === "ArrowDown") { ev.preventDefault(); paletteActive = Math.min(paletteItems.length - 1, paletteActive + 1); markActive(); }
  else if (ev.key === "ArrowUp") { ev.preventDefault(); paletteActive = Math.max(0, paletteActive - 1); markActive(); }
  else if (ev.key === "Enter") { ev.preventDefault(); if (paletteItems[paletteActive]) addNode(paletteItems[paletteActive].type); }
  else if (ev.key === "Escape") { ev.preventDefault(); closePalette(); wrap.focus(); }
});
palette.addEventListener("mousedown", ev => ev.stopPropagation());
palette.addEventListener("wheel", ev => ev.stopPropagation());
