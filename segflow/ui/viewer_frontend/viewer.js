// segflow frame view (Streamlit component protocol v1, no framework, no build).
// Every click on a step button is counted here; the counted steps go to the frame server
// (segflow/ui/viewer_server.py) one request at a time: clicks made while a frame is running are
// summed and sent as one "move by n" when it answers, so ten clicks move ten frames however slow
// the machine. The server owns the index; the counter shows the frame whose picture is painted.
// The servers listen on the editor's address: the page asks them at the host it was loaded from
// (a remote browser too), or at 127.0.0.1 when they are on loopback; each request carries the tab's key.
// During Play, which reruns nothing, each status it gets carries the canvas footers of the frame Play
// shows: they go on to the canvas on the tab's BroadcastChannel (args.channel; both frames are the page's origin).
"use strict";

const $ = id => document.getElementById(id);
const picture = $("picture"), counter = $("counter"), slider = $("slider"), playBtn = $("play");
const SF = {
  post(type, data) { window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type }, data), "*"); },
  height(h) { SF.post("streamlit:setFrameHeight", { height: h }); },
};

let args = {};             // the last render's: host, port, tab_key, channel, revision, input {key, name, count, video}
let steps = 0;             // clicks counted and not sent yet (+ forward, - back)
let request = null;        // a run, jump or stop waiting to be sent (it goes before the steps)
let busy = false;          // a request is in flight
let shown = { index: null, count: null, seq: 0 };
let told = 0;              // the last run seq Streamlit was told about
let playing = false, poller = null;
let objectUrl = null;
let channel = null;        // to the canvas: Play's footers
window.sfPaints = [];      // {index, t}: when each new picture was painted (performance.now), for the bench

function url(path, params, port) {
  const host = args.host || window.location.hostname;  // a v6 address comes bracketed
  const q = new URLSearchParams(Object.assign({ t: args.tab_key || "" }, params || {}));
  return `http://${host}:${port || args.port}/${path}?${q}`;
}

function streamUrl(port) { return url("stream.mjpg", {}, port); }

function showCounter() {
  const total = shown.count ? ` / ${shown.count - 1}` : "";
  const target = steps && shown.index !== null ? ` (→ ${shown.index + steps})` : "";
  counter.textContent = shown.index === null ? "frame –" : `frame ${shown.index}${total}${target}`;
}

function setButtons() {
  const input = args.input, video = !!(input && input.video);
  $("run").disabled = !input || playing;
  $("prev").disabled = $("next").disabled = slider.disabled = !video || playing;
  playBtn.disabled = !video;
  playBtn.textContent = playing ? "\u25a0 Stop" : "\u25b6 Play";
  playBtn.classList.toggle("playing", playing);
}

function fail(text) { $("error").textContent = text || ""; resize(); }

// -- the queue ------------------------------------------------------------------------------------

function pump() {
  if (busy || !args.port) return;
  let path, params = {};
  if (request) { ({ path, params } = request); request = null; }
  else if (steps) { path = "step"; params = { by: steps }; steps = 0; }
  else { document.body.dataset.idle = "1"; tellStreamlit(); return; }
  busy = true;
  document.body.dataset.idle = "0";  // "1" once every counted click is served (the bench waits for it)
  showCounter();
  sendFrame(path, params).catch(err => fail(`the frame server did not answer: ${err}`))
    .finally(() => { busy = false; pump(); });
}

async function sendFrame(path, params) {
  const response = await fetch(url(path, params), { method: "POST" });
  if (!response.ok) { fail(`${response.status} ${response.statusText}`); return; }
  const header = name => decodeURIComponent(response.headers.get(name) || "");
  const body = await response.blob();
  const index = parseInt(header("X-Index"), 10), count = parseInt(header("X-Count"), 10);
  if (body.size && (response.headers.get("Content-Type") || "").startsWith("image/")) {
    const next = URL.createObjectURL(body);
    const img = new Image();
    img.src = next;
    await img.decode();  // decoded before it is shown: the swap below paints at once
    picture.src = next;
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = next;
    $("empty").hidden = true;
    requestAnimationFrame(() => window.sfPaints.push({ index, t: performance.now() }));
  }
  shown = { index, count: Number.isFinite(count) ? count : null, seq: parseInt(header("X-Seq"), 10) || shown.seq };
  slider.max = Math.max(0, (shown.count || index + 1) - 1);
  slider.value = index;
  $("caption").textContent = header("X-Caption");
  fail(header("X-Error"));
  showCounter();
}

let telling = null;
const TELL_AFTER_MS = 350;  // a pause in the clicking: a rerun then does not compete with the next step

function tellStreamlit() {
  // Results, canvas footers and timings are drawn by Streamlit: one rerun once the clicks are served
  // and the user pauses (a rerun costs CPU that the next step would wait for).
  clearTimeout(telling);
  telling = setTimeout(() => {
    if (shown.seq > told && !playing && !busy && !steps && !request) {
      told = shown.seq;
      SF.post("streamlit:setComponentValue", { value: { seq: shown.seq, index: shown.index }, dataType: "json" });
    }
  }, TELL_AFTER_MS);
}

function ask(path, params) { request = { path, params: params || {} }; steps = 0; pump(); }

function click(by) { played(""); steps += by; document.body.dataset.idle = "0"; showCounter(); pump(); }

// How the last play ended by itself ("Play: finished, ..."): it stays until the next step, run or play.
function played(line, failed) { $("played").textContent = line; $("played").classList.toggle("failed", !!failed); resize(); }

$("next").addEventListener("click", () => click(1));
$("prev").addEventListener("click", () => click(-1));
$("run").addEventListener("click", () => { played(""); ask("run"); });
slider.addEventListener("change", () => { played(""); ask("goto", { index: slider.value }); });

// -- play -----------------------------------------------------------------------------------------

playBtn.addEventListener("click", async () => {
  if (playing) { stopPlay(); return; }
  const response = await fetch(url("play"), { method: "POST" });
  const answer = await response.json();
  if (answer.error) { fail(answer.error); return; }
  fail("");
  played("");
  playing = true;
  picture.src = streamUrl(answer.stream);
  $("empty").hidden = true;
  setButtons();
  poller = setInterval(pollPlay, 500);
});

async function pollPlay() {
  let answer;
  try { answer = await (await fetch(url("status"), { method: "POST" })).json(); } catch (err) { return; }
  const play = answer.play;
  if (!playing) return;
  if (!play) { stopPlay(); return; }
  const stream = answer.stream && streamUrl(answer.stream);
  if (stream && picture.src !== stream) picture.src = stream;  // an edit restarted play (a new port)
  if (play.frame !== null) { shown.index = play.frame; slider.value = play.frame; showCounter(); }
  if (answer.footers && channel) channel.postMessage(Object.assign({ seq: answer.seq }, answer.footers));
  const line = `Play: ${play.state}, ${play.fps.toFixed(1)} frames/s, ${play.frames_played} played`;
  $("caption").textContent = line;
  fail(play.error);
  if (["finished", "failed", "stopped"].includes(play.state)) {
    played(line + (play.error ? ` \u2014 ${play.error}` : ""), play.state === "failed");
    stopPlay();
  }
}

function stopPlay() {
  clearInterval(poller);
  playing = false;
  setButtons();
  ask("stop");
}

// -- render ---------------------------------------------------------------------------------------

function resize() { SF.height(document.body.scrollHeight); }

function render(next) {
  const before = args;
  args = next;
  if (args.channel && (!channel || channel.name !== args.channel)) {
    if (channel) channel.close();
    channel = new BroadcastChannel(args.channel);
  }
  $("stage").style.height = `${args.height || 300}px`;
  const key = args.input ? args.input.key : null, oldKey = before.input ? before.input.key : null;
  if (before.port && key !== oldKey) {  // another input: its own frame 0, nothing shown yet
    steps = 0; request = null; shown = { index: null, count: null, seq: shown.seq };
    picture.removeAttribute("src"); $("empty").hidden = false; $("caption").textContent = "";
    if (key && $("auto").checked && told) ask("run");
  } else if (before.port && args.revision !== before.revision && $("auto").checked && key && shown.index !== null
             && !playing) {
    ask("run");  // the graph changed: show what the new one makes of this frame
  }
  if (args.input && args.input.count) slider.max = Math.max(0, args.input.count - 1);
  setButtons();
  showCounter();
  resize();
}

window.addEventListener("message", ev => {
  if (ev.data && ev.data.type === "streamlit:render") render(ev.data.args || {});
});
window.addEventListener("resize", resize);
SF.post("streamlit:componentReady", { apiVersion: 1 });
