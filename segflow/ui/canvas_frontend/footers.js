// segflow canvas: each node's footer (loaded after canvas.js, whose renderNodes and render call it).
// A footer says how the node's last run went, its output in brief (a small picture, a count) and the
// frame it ran on (segflow/ui/footers.py builds them). A render brings the editor's last run; during
// Play, which reruns nothing, the frame view relays the footers of the frame Play shows.
"use strict";

// Node n's footer in its box: Play's while it stands (live), else the render's (n.foot).
function drawFoot(box, n) {
  const old = box.querySelector(":scope > .sf-foot");
  if (old) old.remove();
  const f = live ? live.nodes[n.id] : n.foot;
  if (!f) return;
  const foot = el("div", "sf-foot " + f.status + (live ? " live" : ""));
  foot.title = live ? "what Play shows now" : "the last run";
  if (f.thumb && f.thumb.image) {
    const img = el("img", "sf-thumb");
    img.src = f.thumb.image;
    img.alt = `last output of ${n.id}`;
    img.draggable = false;
    foot.appendChild(img);
  }
  const text = el("div", "sf-foot-text");
  if (f.frame !== null && f.frame !== undefined) text.appendChild(el("div", "sf-frame", `frame ${f.frame}`));
  if (f.thumb && f.thumb.text) text.appendChild(el("div", "sf-thumb-text", f.thumb.text));
  text.appendChild(el("div", "sf-status", f.text));
  foot.appendChild(text);
  box.appendChild(foot);
}

function drawFeet() {
  for (const n of graph.nodes) {
    const box = nodeEls.get(n.id);
    if (box) drawFoot(box, n);
  }
  drawMinimap();
}

// Play's footers: the frame view posts {seq, frame, nodes} on the tab's channel with each status it gets.
// They stand until a render carries a later run (graph.live.seq above theirs: Stop's run of the frame reached).
let live = null, liveChannel = null, renderedSeq = -1;

function followPlay(liveArgs) {
  if (!liveArgs) return;
  renderedSeq = liveArgs.seq;
  if (live && liveArgs.seq > live.seq) live = null;
  if (liveChannel && liveChannel.name === liveArgs.channel) return;
  if (liveChannel) liveChannel.close();  // another frame view (another editor in this tab): its own runs
  live = null;
  liveChannel = new BroadcastChannel(liveArgs.channel);
  liveChannel.onmessage = ev => {
    if (!ev.data || ev.data.seq < renderedSeq) return;  // sent before a run this canvas has drawn already
    live = ev.data;
    drawFeet();
  };
}
