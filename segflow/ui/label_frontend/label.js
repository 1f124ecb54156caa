// segflow labelling canvas (Streamlit component protocol v1, no framework, no build).
// Python owns the masks; this file owns the prompt being drawn (box + points) until Python
// says it was used (a new prompt_rev). Events: {seq, frame, action: "prompt"|"select"|"delete", ...}.
//
// Streamlit drops a component value now and then (one sent while it re-creates the frame, or
// before it has seen the frame ready), and a dropped last event is never followed by a rerun:
// the prompt would say "asking for a mask…" for ever, a delete would not happen. So the last
// event stays pending until a render echoes its seq (Python applied it: args.seq) or shows
// another frame; without a render it is posted again after 2.5 s, 5 s, 10 s, then every 20 s,
// with a counter (Streamlit reruns only for a changed value; Python skips a seq it applied).
// Each event carries the whole of what it means (a prompt is the whole box and points), so only
// the last one needs to arrive. After RESEND_TRIES the message asks for a reload.
"use strict";

const RESEND_FIRST_MS = 2500;
const RESEND_MAX_MS = 20000;
const RESEND_TRIES = 8;  // about two minutes
const UNANSWERED = "the server has not answered the last action: reload the page if this stays";

const SF = {
  post(type, data) { window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type }, data), "*"); },
  ready() { SF.post("streamlit:componentReady", { apiVersion: 1 }); },
  height(h) { SF.post("streamlit:setFrameHeight", { height: h }); },
  send(action, data) {
    pending = Object.assign({ seq: Date.now() + Math.random(), frame: args.frame, action }, data);
    tries = 0;
    SF.postPending();
    SF.awaitConfirmation();
  },
  postPending() {
    SF.post("streamlit:setComponentValue", { value: Object.assign({ resends: tries }, pending), dataType: "json" });
  },
  // (Re)start the wait for a render; any render restarts it, since a render means Streamlit is at work.
  awaitConfirmation() {
    clearTimeout(resendTimer);
    if (!pending) return;
    if (tries >= RESEND_TRIES) { say(UNANSWERED); return; }
    resendTimer = setTimeout(() => {
      tries += 1;
      SF.postPending();
      SF.awaitConfirmation();
    }, Math.min(RESEND_FIRST_MS * 2 ** tries, RESEND_MAX_MS));
  },
};
let pending = null;  // the last event sent that no render has confirmed
let tries = 0;  // times it was posted again
let resendTimer = null;
const NS = "http://www.w3.org/2000/svg";
const stage = document.getElementById("stage");
const frameEl = document.getElementById("frame");
const masksEl = document.getElementById("masks");
const promptEl = document.getElementById("prompt");
const msg = document.getElementById("msg");
const wrap = document.getElementById("wrap");
const delBtn = document.getElementById("delete");

let args = { image: "", frame: null, seq: null, width: 1, height: 1, masks: [], prompt_rev: 0, selected: null };
let tool = "draw";
let prompt = { box: null, points: [] };
let promptRev = null;
let drag = null;  // {x0, y0, moved, negative, pointer}: the press being dragged
let imageSrc = "";

function svg(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function toImage(ev) {  // mouse event -> image pixel coordinates
  const pt = stage.createSVGPoint();
  pt.x = ev.clientX; pt.y = ev.clientY;
  const p = pt.matrixTransform(stage.getScreenCTM().inverse());
  return [Math.max(0, Math.min(args.width, p.x)), Math.max(0, Math.min(args.height, p.y))];
}

function drawPrompt() {
  promptEl.replaceChildren();
  const b = prompt.box;
  if (b) svg("rect", { class: "pbox", x: Math.min(b[0], b[2]), y: Math.min(b[1], b[3]),
                       width: Math.abs(b[2] - b[0]), height: Math.abs(b[3] - b[1]) }, promptEl);
  const r = Math.max(3, args.width / 160);
  for (const [x, y, v] of prompt.points) svg("circle", { class: v ? "ppos" : "pneg", cx: x, cy: y, r }, promptEl);
}

function drawMasks() {
  masksEl.replaceChildren();
  for (const m of args.masks) {
    const g = svg("g", { "data-mask-id": m.id }, masksEl);
    for (const poly of m.polygons) {
      const el = svg("polygon", { class: "mask " + (m.kind || ""), points: poly.map(p => p.join(",")).join(" "),
                                  fill: m.colour, stroke: m.colour, "data-mask-id": m.id }, g);
      if (m.id === args.selected) el.classList.add("selected");
      el.addEventListener("pointerdown", ev => {
        if (tool !== "select") return;
        ev.preventDefault();
        ev.stopPropagation();
        wrap.focus({ preventScroll: true });
        SF.send("select", { id: m.id });
      });
    }
    if (m.label && m.polygons.length && m.polygons[0].length) {
      const [x, y] = m.polygons[0].reduce((a, p) => [Math.min(a[0], p[0]), Math.min(a[1], p[1])], [1e9, 1e9]);
      const t = svg("text", { class: "mask-label", x, y: Math.max(12, y - 3) }, g);
      t.textContent = m.label;
    }
  }
  delBtn.disabled = !args.selected;
}

function setTool(name) {
  tool = name;
  for (const b of document.querySelectorAll(".tool")) b.classList.toggle("active", b.dataset.tool === name);
  stage.classList.toggle("select", name === "select");
}

function sendPrompt() {
  drawPrompt();
  SF.send("prompt", { box: prompt.box, points: prompt.points });
}

stage.addEventListener("contextmenu", ev => ev.preventDefault());
// Pointer events, captured by the stage: a press must never move the page. Focusing the frame
// (for Esc/Delete) used to scroll a frame taller than the window into view between the press
// and its coordinates, and the first box grew by the scroll (~52 px). So the press is read
// first, its default (focus, text selection, scrolling) prevented, the focus taken without
// scrolling, and every coordinate is the image's at that event's own time.
stage.addEventListener("pointerdown", ev => {
  ev.preventDefault();
  const [x, y] = toImage(ev);
  wrap.focus({ preventScroll: true });
  if (tool !== "draw") {
    if (tool === "select") SF.send("select", { id: null });
    return;
  }
  stage.setPointerCapture(ev.pointerId);
  drag = { x0: x, y0: y, moved: false, negative: ev.shiftKey || ev.button === 2, pointer: ev.pointerId };
});
stage.addEventListener("pointermove", ev => {
  if (!drag || ev.pointerId !== drag.pointer) return;
  const [x, y] = toImage(ev);
  if (Math.abs(x - drag.x0) + Math.abs(y - drag.y0) > 4) drag.moved = true;
  if (drag.moved) {
    prompt.box = [drag.x0, drag.y0, x, y];
    drawPrompt();
  }
});
function endDrag(ev) {
  if (!drag || ev.pointerId !== drag.pointer) return;
  const d = drag;
  drag = null;
  if (stage.hasPointerCapture(ev.pointerId)) stage.releasePointerCapture(ev.pointerId);
  if (ev.type === "pointercancel") { drawPrompt(); return; }
  if (d.moved) {
    const [x, y] = toImage(ev);
    prompt.box = [Math.min(d.x0, x), Math.min(d.y0, y), Math.max(d.x0, x), Math.max(d.y0, y)];
  } else {
    prompt.points.push([d.x0, d.y0, d.negative ? 0 : 1]);
  }
  say(prompt.box ? "box drawn: asking for a mask…" : "point added: asking for a mask…");
  sendPrompt();
}
stage.addEventListener("pointerup", endDrag);
stage.addEventListener("pointercancel", endDrag);
wrap.addEventListener("keydown", ev => {
  if (ev.key === "Escape") { prompt = { box: null, points: [] }; sendPrompt(); }
  if ((ev.key === "Delete" || ev.key === "Backspace") && args.selected) SF.send("delete", { id: args.selected });
});
document.getElementById("clear").addEventListener("click", () => { prompt = { box: null, points: [] }; sendPrompt(); });
delBtn.addEventListener("click", () => { if (args.selected) SF.send("delete", { id: args.selected }); });
for (const b of document.querySelectorAll(".tool")) b.addEventListener("click", () => setTool(b.dataset.tool));

function say(text) { msg.textContent = text || ""; }

function render(a) {
  args = Object.assign(args, a);
  if (args.image !== imageSrc) {
    imageSrc = args.image;
    frameEl.setAttribute("href", args.image);
  }
  frameEl.setAttribute("width", args.width);
  frameEl.setAttribute("height", args.height);
  stage.setAttribute("viewBox", `0 0 ${args.width} ${args.height}`);
  if (promptRev !== args.prompt_rev) {  // Python used (or dropped) the prompt: start a new one
    promptRev = args.prompt_rev;
    prompt = { box: null, points: [] };
  }
  drawPrompt();
  drawMasks();
  say(args.message || "");
  if (pending && (args.seq === pending.seq || args.frame !== pending.frame)) pending = null;  // applied, or moot
  SF.awaitConfirmation();
  const width = wrap.clientWidth || document.body.clientWidth || 800;
  SF.height(Math.ceil(40 + width * args.height / args.width));
}

window.addEventListener("message", ev => {
  if (ev.data && ev.data.type === "streamlit:render") render(ev.data.args || {});
});
window.addEventListener("resize", () => render({}));
SF.ready();
