"""The Run panel: pick a frame (the workflow's source, a sample, an upload), run, show results."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from segflow.ui import media, results, widgets
from segflow.ui.editor import Editor
from segflow.ui.media import MediaError, Picked
from segflow.ui.state import EditError

MODES = ("Workflow source", "Sample", "Upload")


def render(editor: Editor) -> None:
    graph = editor.validation().graph
    mode = st.radio("Input", MODES, horizontal=True, key="run_mode")
    index = int(st.session_state.get("frame_index", 0))
    try:
        picked, name, fetch = _pick(editor, graph, mode, index)
    except MediaError as exc:
        st.error(str(exc))
        picked, name, fetch = None, "", None
    warmup = 0
    if picked is not None and (picked.count is None or picked.count > 1):
        _frame_stepper(picked)
        if fetch is not None and editor.has_stateful_nodes():
            warmup = int(st.number_input(
                "Warm-up frames", 0, 300, 10, key="run_warmup",
                help="Trackers and line counters need the frames before this one: they are replayed first."))
    cols = st.columns([1, 2])
    run_sinks = cols[1].checkbox("Also run sinks (they write files)", key="run_sinks")
    clicked = cols[0].button("Run", type="primary", key="run_btn", disabled=picked is None or graph is None,
                             help=None if graph is not None else "fix the workflow's errors first")
    if clicked and picked is not None:
        source_id = st.session_state.get("run_source") if mode == "Workflow source" else None
        try:
            with st.spinner("running…"):
                history = None
                if fetch is not None and editor.has_stateful_nodes():
                    history = [(p.pixels, p.index) for p in fetch(max(0, picked.index - warmup), picked.index)]
                editor.run(picked.pixels, source_id, picked.index, run_sinks, name, history)
        except (EditError, MediaError) as exc:
            st.error(str(exc))
        else:
            st.rerun()  # the canvas, drawn above, shows each node's status and timing
    _show(editor)


Fetch = Callable[[int, int], list[Picked]]


def _pick(editor: Editor, graph: Any, mode: str, index: int) -> tuple[Picked | None, str, Fetch | None]:
    """The frame to run, its name, and how to read earlier frames of the same input (videos)."""
    root = editor.workspace.root
    if mode == "Workflow source":
        if graph is None or not graph.source_ids:
            st.info("The workflow has no valid source yet: use a sample or an upload.")
            return None, "", None
        sources = graph.source_ids
        if len(sources) > 1:  # the selectbox keeps run_source itself; writing it as well is an error
            source_id = st.selectbox("Source", sources, key="run_source")
        else:
            source_id = st.session_state["run_source"] = sources[0]
        resolved = graph.nodes[source_id]
        cache_key = ("frame", source_id, resolved.params.model_dump_json(), index)
        cache = st.session_state.setdefault("frame_cache", {})
        if cache_key not in cache:
            cache.clear()
            cache[cache_key] = media.source_frame(resolved, editor.context(), index)
        context = editor.context()
        return (cache[cache_key], f"{source_id} frame {index}",
                lambda start, stop: media.source_frames(resolved, context, start, stop))
    if mode == "Sample":
        names = media.samples(root)
        if not names:
            st.info("No samples in assets/samples of the workspace.")
            return None, "", None
        name = st.selectbox("Sample", names, key="run_sample")
        path = root / name
        fetch = (lambda start, stop: media.video_frames(path, start, stop)) if media.is_video(name) else None
        return media.read_file(path, index), name, fetch
    upload = st.file_uploader("Image or video", key="run_upload",
                              type=[s.lstrip(".") for s in media.IMAGE_SUFFIXES + media.VIDEO_SUFFIXES])
    if upload is None:
        return None, "", None
    data = upload.getvalue()
    if media.is_video(upload.name):
        folder = Path(st.session_state.setdefault("upload_dir", tempfile.mkdtemp(prefix="segflow-editor-")))
        video = folder / Path(upload.name).name
        if not video.exists() or video.stat().st_size != len(data):
            video.write_bytes(data)
        return (media.video_frame(video, index), upload.name,
                lambda start, stop: media.video_frames(video, start, stop))
    return Picked(media.decode_image(data, upload.name), 0, 1), upload.name, None


def _frame_stepper(picked: Picked) -> None:
    """Previous / slider / Next over one index that no widget owns, so every click counts.

    A click carries the browser's copy of every widget it holds, stale ones included. Were the
    index the slider's own state, a stale copy would overwrite it before the button's callback
    adds one, and quick clicks would be lost. So ``frame_index`` belongs to no widget, and each
    slider is keyed by the index it was drawn at: a change reported by a slider drawn at an
    index that is no longer current is such a stale copy, and is ignored.
    """
    last = (picked.count or picked.index + 2) - 1
    index = max(0, min(last, int(st.session_state.get("frame_index", 0))))

    def step(delta: int) -> None:
        st.session_state["frame_index"] = max(0, min(last, int(st.session_state.get("frame_index", 0)) + delta))

    def slid(key: str, drawn_at: int) -> None:
        if int(st.session_state.get("frame_index", 0)) == drawn_at:  # else: a stale slider's copy
            st.session_state["frame_index"] = int(st.session_state[key])

    cols = st.columns([1, 6, 1])
    cols[0].button("◀ Previous", key="frame_prev", on_click=step, args=(-1,))
    key = f"frame_slider:{index}"
    cols[1].slider("Frame", 0, max(last, 1), value=index, key=key, on_change=slid, args=(key, index))
    cols[2].button("Next ▶", key="frame_next", on_click=step, args=(1,))


def _show(editor: Editor) -> None:
    run = editor.last_run
    if run is None:
        return
    if run.revision != editor.revision:
        st.caption("The graph changed since this run: press Run to update (only changed nodes run again).")
    ran, cached = run.result.ran, run.result.cached
    st.caption(f"Input: {run.input_name} — {len(ran)} node(s) ran, {len(cached)} reused from cache")
    for node_id, error in run.result.errors.items():
        st.error(f"node '{node_id}': {error}")
    picture = results.annotated_image(run.graph, run.result)
    table = results.results_table(run.graph, run.result)
    left, right = st.columns([3, 2])
    with left:
        if picture is not None:
            ref, frame = picture
            st.image(media.to_rgb(frame.pixels), caption=f"{ref}", width="stretch")
    with right:
        if table is not None:
            ref, rows = table
            st.markdown(f"**Results** — {len(rows)} detections from `{ref}`")
            st.dataframe(rows, hide_index=True)
        st.markdown("**Per-node timings**")
        st.dataframe(results.timings(run.result), hide_index=True)
    nodes = list(run.graph.order)
    default = nodes.index(editor.selected) if editor.selected in nodes else len(nodes) - 1
    node_id = st.selectbox("Show the output of", nodes, index=default, key=f"output_pick:{editor.selected}")
    widgets.outputs(editor, node_id)
