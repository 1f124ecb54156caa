"""The Run tab: pick a frame (the workflow's source, a sample, an upload), step, run, play, show results.

The tab is a Streamlit fragment: Previous / Next / the slider rerun only it, not
the canvas and forms above, and with *Auto-run* a step runs the graph on the new
frame at once. Videos are read through a :class:`FrameReader` kept open between
steps, the picture is sent as JPEG, and a step after a step continues the kept
trackers instead of replaying a warm-up (``segflow.ui.stepping``). *Play* hands
the input to a background :class:`~segflow.ui.play.Player` whose frames the page
shows as an MJPEG stream (``segflow.ui.mjpeg``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import streamlit as st

from segflow.engine.workflow.spec import parse_ref
from segflow.ui import inputs_form, media, results, stepping, widgets
from segflow.ui.editor import Editor
from segflow.ui.frame_reader import FrameReader, Opener
from segflow.ui.media import MediaError
from segflow.ui.mjpeg import FrameServer
from segflow.ui.play import Player
from segflow.ui.state import EditError

MODES = ("Workflow source", "Sample", "Upload")


@dataclass
class Input:
    """What the Run tab runs on: a video (read through ``reader``) or one still image."""

    key: str  # which input this is; a new key is a new reader and a fresh tracker history
    name: str
    source_id: str | None = None
    reader: FrameReader | None = None
    opener: Opener | None = None  # how Play opens the same video
    still: np.ndarray | None = None

    @property
    def count(self) -> int | None:
        return self.reader.count if self.reader is not None else 1


def render(editor: Editor) -> None:
    _run_tab(editor)


@st.fragment
def _run_tab(editor: Editor) -> None:
    graph = editor.validation().graph
    mode = st.radio("Input", MODES, horizontal=True, key="run_mode")
    try:
        chosen = _pick(editor, graph, mode)
    except MediaError as exc:
        st.error(str(exc))
        chosen = None
    player: Player | None = st.session_state.get("player")
    if player is not None:
        _keep_playing(editor, player, chosen)
        player = st.session_state.get("player")
    if st.session_state.pop("play_stopped", False):
        # The whole page: a rerun of this fragment alone left the playing layout's elements behind
        # (a ghost "■ Stop", a second "Also run sinks") until the next step.
        st.rerun(scope="app")
    ended = st.session_state.pop("play_ended", None)
    if ended:
        (st.error if ended.startswith("Play: failed") else st.caption)(ended)
    is_video = chosen is not None and chosen.reader is not None and chosen.count != 1
    if is_video and player is None:
        _frame_stepper(chosen)  # type: ignore[arg-type]
        if graph is not None and stepping.has_stateful(graph):
            st.number_input("Warm-up frames", 0, 300, 10, key="run_warmup",
                            help="After a jump, trackers and line counters are fed the frames before this one "
                                 "first; a step to the next frame simply continues them.")
    if graph is not None and graph.inputs:
        inputs_form.render(editor, graph.inputs)
    cols = st.columns([1, 1, 2, 2])
    clicked = cols[0].button("Run", type="primary", key="run_btn",
                             disabled=chosen is None or graph is None or player is not None,
                             help=None if graph is not None else "fix the workflow's errors first")
    play_label = "■ Stop" if player is not None else "▶ Play"
    cols[1].button(play_label, key="play_btn", disabled=not is_video or (graph is None and player is None),
                   on_click=_toggle_play, args=(editor, chosen),
                   help="run the workflow on the video or camera as fast as the machine allows, shown live")
    auto = cols[2].toggle("Auto-run on step and edit", value=True, key="run_auto",
                          help="a frame step or a param change runs the graph at once")
    cols[3].checkbox("Also run sinks (they write files)", key="run_sinks")
    if player is not None:
        _play_view(player)
        return
    if chosen is not None and graph is not None:
        index = int(st.session_state.get("frame_index", 0)) if is_video else 0
        moved = st.session_state.pop("frame_moved", False)
        shown: stepping.Shown | None = st.session_state.get("run_shown")
        stale = editor.last_run is not None and (
            editor.last_run.revision != editor.revision or shown is None
            or (shown.input_key, shown.index) != (chosen.key, index))
        if clicked or (auto and (moved or stale)):
            if _run(editor, graph, chosen, index) and clicked:
                st.rerun(scope="app")  # the canvas shows each status; a failure keeps its message
    _show(editor)


def _pick(editor: Editor, graph: Any, mode: str) -> Input | None:
    """The input chosen in the tab: its readers are kept in the session, one per input."""
    root = editor.workspace.root
    if mode == "Workflow source":
        if graph is None or not graph.source_ids:
            st.info(editor.why_no_source())
            return None
        sources = [s for s in graph.source_ids if s not in graph.inputs]  # an image input: a sample or upload
        if not sources:
            st.info("The workflow takes its image as an input: run it on a sample or an upload.")
            return None
        if len(sources) > 1:  # the selectbox keeps run_source itself; writing it as well is an error
            source_id = st.selectbox("Source", sources, key="run_source")
        else:
            source_id = st.session_state["run_source"] = sources[0]
        resolved = graph.nodes[source_id]
        key = f"source:{source_id}:{resolved.cls.type_name}:{resolved.params.model_dump_json()}"
        opener = media.source_opener(resolved, editor.context())
        return Input(key, source_id, source_id, _reader(key, opener), opener)
    if mode == "Sample":
        names = media.samples(root)
        if not names:
            st.info("No samples in assets/samples of the workspace.")
            return None
        name = st.selectbox("Sample", names, key="run_sample")
        path = root / name
        if media.is_video(name):
            opener = media.file_opener(path)
            return Input(f"sample:{name}", name, reader=_reader(f"sample:{name}", opener), opener=opener)
        return Input(f"sample:{name}", name, still=media.read_file(path).pixels)
    upload = st.file_uploader("Image or video", key="run_upload",
                              type=[s.lstrip(".") for s in media.IMAGE_SUFFIXES + media.VIDEO_SUFFIXES])
    if upload is None:
        return None
    data = upload.getvalue()
    key = f"upload:{upload.name}:{upload.size}:{getattr(upload, 'file_id', '')}"
    if media.is_video(upload.name):
        folder = Path(st.session_state.setdefault("upload_dir", tempfile.mkdtemp(prefix="segflow-editor-")))
        video = folder / Path(upload.name).name
        if not video.exists() or video.stat().st_size != len(data):
            video.write_bytes(data)
        opener = media.file_opener(video)
        return Input(key, upload.name, reader=_reader(key, opener), opener=opener)
    return Input(key, upload.name, still=media.decode_image(data, upload.name))


def _reader(key: str, opener: Opener) -> FrameReader:
    """The open reader of this input; readers of other inputs are closed (one video open at a time)."""
    readers: dict[str, FrameReader] = st.session_state.setdefault("frame_readers", {})
    if key not in readers:
        for old in readers.values():
            old.close()
        readers.clear()
        readers[key] = FrameReader(opener)
    return readers[key]


def _frame_stepper(chosen: Input) -> None:
    """Previous / slider / Next over one index that no widget owns, so every click counts.

    A click carries the browser's copy of every widget it holds, stale ones included. Were the
    index the slider's own state, a stale copy would overwrite it before the button's callback
    adds one, and quick clicks would be lost. So ``frame_index`` belongs to no widget, and each
    slider is keyed by the index it was drawn at: a change reported by a slider drawn at an
    index that is no longer current is such a stale copy, and is ignored.
    """
    count = chosen.count
    index = int(st.session_state.get("frame_index", 0))
    last = (count or index + 2) - 1
    index = st.session_state["frame_index"] = max(0, min(last, index))

    def step(delta: int) -> None:
        st.session_state["frame_index"] = max(0, min(last, int(st.session_state.get("frame_index", 0)) + delta))
        st.session_state["frame_moved"] = True

    def slid(key: str, drawn_at: int) -> None:
        if int(st.session_state.get("frame_index", 0)) == drawn_at:  # else: a stale slider's copy
            st.session_state["frame_index"] = int(st.session_state[key])
            st.session_state["frame_moved"] = True

    cols = st.columns([1, 6, 1])
    cols[0].button("◀ Previous", key="frame_prev", on_click=step, args=(-1,))
    key = f"frame_slider:{index}"
    cols[1].slider("Frame", 0, max(last, 1), value=index, key=key, on_change=slid, args=(key, index))
    cols[2].button("Next ▶", key="frame_next", on_click=step, args=(1,))


def _run(editor: Editor, graph: Any, chosen: Input, index: int) -> bool:
    """Run the graph on the chosen frame; replay a warm-up only when the trackers need one. False: it failed."""
    started = perf_counter()
    try:
        if chosen.reader is None:
            pixels, history = chosen.still, None
        else:
            pixels = chosen.reader.frame(index)
            if pixels is None:
                raise MediaError(f"{chosen.name} has no frame {index}")
            history = None
            if stepping.needs_warmup(graph, st.session_state.get("run_shown"), chosen.key, index):
                warmup = int(st.session_state.get("run_warmup", 10))
                history = chosen.reader.frames(max(0, index - warmup), index)
        name = f"{chosen.name} frame {index}" if chosen.reader is not None else chosen.name
        editor.run(pixels, chosen.source_id, index, bool(st.session_state.get("run_sinks")), name, history)
    except (EditError, MediaError) as exc:
        st.error(str(exc))
        return False
    st.session_state["run_shown"] = stepping.Shown(chosen.key, index, stepping.stateful_signature(graph))
    st.session_state["run_seconds"] = perf_counter() - started
    return True


def _show(editor: Editor) -> None:
    run = editor.last_run
    if run is None:
        return
    if run.revision != editor.revision:
        st.caption("The graph changed since this run: press Run to update (only changed nodes run again).")
    ran, cached = run.result.ran, run.result.cached
    graph_ms = sum(r.seconds for r in run.result.runs.values()) * 1000
    model_ms = sum(r.seconds for n, r in run.result.runs.items()
                   if n in run.graph.nodes and run.graph.nodes[n].cls.batchable) * 1000
    step_ms = float(st.session_state.get("run_seconds", 0.0)) * 1000
    st.caption(f"Input: {run.input_name} — {len(ran)} node(s) ran, {len(cached)} reused from cache — "
               f"nodes {graph_ms:.0f} ms (models {model_ms:.0f} ms), read and run {step_ms:.0f} ms")
    for node_id, error in run.result.errors.items():
        st.error(f"node '{node_id}': {error}")
    picture = results.annotated_image(run.graph, run.result)
    table = results.results_table(run.graph, run.result)
    left, right = st.columns([3, 2])
    with left:
        if picture is not None:
            ref, frame = picture
            st.image(media.jpeg_data_url(frame.pixels), caption=f"{ref} — {run.input_name}", width="stretch")
    with right:
        if table is not None:
            ref, rows = table
            st.markdown(f"**Results** — {len(rows)} detections from `{ref}`")
            reason = None if rows else results.empty_reason(run.graph, run.result, (parse_ref(ref) or (ref, ""))[0])
            if reason:
                st.caption(f"Why none: {reason}")
            columns_picker(ref, rows)
        st.markdown("**Per-node timings**")
        st.dataframe(results.timings(run.result), hide_index=True)
    nodes = list(run.graph.order)
    default = results.default_output(run.graph, run.result, editor.selected)
    index = nodes.index(default) if default in nodes else len(nodes) - 1
    node_id = st.selectbox("Show the output of", nodes, index=index, key=f"output_pick:{editor.selected}")
    widgets.outputs(editor, node_id)


def columns_picker(ref: str, rows: list[dict[str, Any]]) -> None:
    """The table with the columns the user picked for this output (remembered per node)."""
    columns = results.ordered_columns(rows)
    remembered: dict[str, list[str]] = st.session_state.setdefault("result_columns", {})
    node_id = (parse_ref(ref) or (ref, ""))[0]
    shown = results.pick_columns(columns, remembered.get(node_id))
    key = f"columns:{node_id}"

    def picked() -> None:
        remembered[node_id] = list(st.session_state.get(key) or [])

    if st.session_state.get(key) != shown:
        st.session_state[key] = shown
    with st.popover(f"Columns ({len(shown)} of {len(columns)})"):
        st.multiselect("Columns to show", columns, key=key, on_change=picked)
    st.dataframe(results.select(rows, shown), hide_index=True)


# -- play ------------------------------------------------------------------------------------------


def _toggle_play(editor: Editor, chosen: Input | None) -> None:
    player: Player | None = st.session_state.get("player")
    if player is not None:
        _stop(player)
        return
    graph = editor.validation().graph
    if chosen is None or chosen.opener is None or graph is None:
        return
    start = int(st.session_state.get("frame_index", 0))
    count = chosen.count
    if count is not None and start >= count - 1:
        start = 0  # at the end: play from the start
    _start(editor, graph, chosen, start)


def _start(editor: Editor, graph: Any, chosen: Input, start: int) -> None:
    assert chosen.opener is not None
    player = Player(graph, editor.context(), chosen.opener, chosen.source_id, start,
                    run_sinks=bool(st.session_state.get("run_sinks")))
    server = FrameServer(player).start()
    player.start()
    st.session_state["player"] = player
    st.session_state["play_server"] = server
    st.session_state["play_of"] = (editor.revision, chosen.key)


def _stop(player: Player) -> None:
    player.stop()
    server: FrameServer | None = st.session_state.pop("play_server", None)
    if server is not None:
        server.close()
    st.session_state.pop("player", None)
    st.session_state["play_stopped"] = True
    frame = player.status().frame
    if frame is not None:  # stay on the frame play stopped at; it is run (after a warm-up) at once
        st.session_state["frame_index"] = frame
        st.session_state["frame_moved"] = True


def _keep_playing(editor: Editor, player: Player, chosen: Input | None) -> None:
    """A graph edit restarts play on the new graph (from where it was); another input stops it."""
    revision, key = st.session_state.get("play_of", (None, None))
    if chosen is None or chosen.key != key:
        _stop(player)
    elif revision != editor.revision:
        start = (player.status().frame or 0) + 1
        _stop(player)
        graph = editor.validation().graph
        if graph is not None:
            _start(editor, graph, chosen, start)


def _play_view(player: Player) -> None:
    server: FrameServer | None = st.session_state.get("play_server")
    if server is None:
        return
    st.html(f'<img id="sf-play" src="{server.url}/stream.mjpg" alt="live annotated stream" '
            f'style="width:100%;max-width:960px" data-status="{server.url}/status.json">')
    _play_status(player)


@st.fragment(run_every=1.0)
def _play_status(player: Player) -> None:
    player.touch()
    status = player.status()
    where = f"frame {status.frame}" if status.frame is not None else "starting"
    line = (f"Play: {status.state}, {where}, {status.fps:.1f} frames/s, {status.frames_played} played"
            + (f" — {status.error}" if status.error else ""))
    if status.state not in ("starting", "playing") and st.session_state.get("player") is player:
        st.session_state["play_ended"] = line  # it ended by itself: Play comes back, the line stays
        _stop(player)
        st.session_state.pop("play_stopped", None)  # the whole page reruns right here, once
        st.rerun(scope="app")
    st.caption(line)
    if status.nodes:
        st.dataframe([{"node": n, "status": t.status, "ms": t.ms, "mean_ms": t.mean_ms}
                      for n, t in status.nodes.items()], hide_index=True)
