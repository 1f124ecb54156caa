// Line numbers beside the YAML text area, the problem's line marked, and "go to line".
// The text area stays Streamlit's own widget (its value, its on_change); this only decorates it.
"use strict";

const LABEL = "Workflow YAML (edits update the canvas)";
let args = { line: null, goto: null };
let done = null;  // the last goto handled

function area() {
  try { return window.parent.document.querySelector(`textarea[aria-label="${LABEL}"]`); } catch (e) { return null; }
}

function decorate(ta) {
  if (ta._sfGutter) return ta._sfGutter;
  const doc = ta.ownerDocument, style = getComputedStyle(ta);
  const gutter = doc.createElement("pre");
  gutter.className = "sf-yaml-gutter";
  gutter.setAttribute("aria-hidden", "true");
  Object.assign(gutter.style, {
    position: "absolute", left: "0", top: "0", bottom: "0", width: "3.4em", margin: "0", overflow: "hidden",
    textAlign: "right", color: "#98a2b3", background: "#f2f4f7", font: "12.5px/1.5 monospace",
    paddingTop: style.paddingTop, paddingRight: "0.4em", boxSizing: "border-box", pointerEvents: "none",
    zIndex: "1", whiteSpace: "pre",
  });
  Object.assign(ta.style, { font: "12.5px/1.5 monospace", paddingLeft: "4em", whiteSpace: "pre", overflowX: "auto" });
  ta.setAttribute("wrap", "off");  // one text line per numbered line
  const box = ta.parentElement;
  box.style.position = "relative";
  box.insertBefore(gutter, ta);
  const sync = () => draw(ta, gutter);
  ta.addEventListener("input", sync);
  ta.addEventListener("scroll", () => { gutter.scrollTop = ta.scrollTop; });
  ta._sfGutter = gutter;
  sync();
  return gutter;
}

function draw(ta, gutter) {
  const doc = ta.ownerDocument, count = ta.value.split("\n").length;
  gutter.textContent = "";
  for (let i = 1; i <= count; i++) {
    const span = doc.createElement("span");
    span.textContent = `${i}\n`;
    span.dataset.line = String(i);
    if (i === args.line) Object.assign(span.style, { background: "#fee4e2", color: "#b42318", fontWeight: "700" });
    if (i === args.line) span.className = "sf-problem";
    gutter.appendChild(span);
  }
  gutter.appendChild(doc.createTextNode("\n\n"));  // room for the horizontal scrollbar
  gutter.scrollTop = ta.scrollTop;
}

function goTo(ta, line) {
  const lines = ta.value.split("\n");
  const n = Math.max(1, Math.min(lines.length, line));
  const start = lines.slice(0, n - 1).reduce((sum, text) => sum + text.length + 1, 0);
  ta.focus({ preventScroll: true });
  ta.setSelectionRange(start, start + lines[n - 1].length);
  const lineHeight = parseFloat(getComputedStyle(ta).lineHeight) || 19;
  ta.scrollTop = Math.max(0, (n - 1) * lineHeight - ta.clientHeight / 3);
  ta.scrollIntoView({ block: "nearest" });
}

function tick() {
  const ta = area();
  if (!ta) return;
  const gutter = decorate(ta);
  if (gutter.dataset.drawnFor !== `${args.line}:${ta.value.length}`) {
    gutter.dataset.drawnFor = `${args.line}:${ta.value.length}`;
    draw(ta, gutter);
  }
  if (args.goto && args.goto.seq !== done && ta.offsetParent !== null) {  // shown (its tab open): go there
    done = args.goto.seq;
    goTo(ta, args.goto.line);
  }
}

window.addEventListener("message", ev => {
  if (ev.data && ev.data.type === "streamlit:render") { args = ev.data.args || {}; tick(); }
});
setInterval(tick, 400);  // a rerun may draw the text area anew
window.parent.postMessage({ isStreamlitMessage: true, type: "streamlit:componentReady", apiVersion: 1 }, "*");
window.parent.postMessage({ isStreamlitMessage: true, type: "streamlit:setFrameHeight", height: 0 }, "*");
