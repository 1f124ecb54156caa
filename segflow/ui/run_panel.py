"""The frame view (toolbar and picture, a component of our own) and the Run tab under it.

The frame view (``viewer_frontend/``) counts clicks in the page and asks the
tab's :class:`~segflow.ui.viewer.Viewer` for each step over HTTP
(``segflow.ui.viewer_server``), so every click moves a frame and a step costs no
page rerun; it tells Streamlit once the clicks are served, and the results,
canvas footers and timings are drawn then. During Play, which reruns nothing,
it relays the player's footers to the canvas on a BroadcastChannel (``live``).
The Run tab picks what the view runs on (the workflow's source, a sample, an
upload), the warm-up, the workflow's inputs and whether sinks run, and shows the
last run's results. Videos are read through a :class:`FrameReader` kept open
between steps.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from segflow.engine.workflow.spec import parse_ref
from segflow.ui import inputs_form, listen, media, results, stepping, widgets
from segflow.ui.command import ENV_TOKEN
from segflow.ui.editor import Editor
from segflow.ui.frame_reader import FrameReader, Opener
from segflow.ui.media import MediaError
from segflow.ui.viewer import Input, Viewer
from segflow.ui.viewer_server import ViewerServer

MODES = ("Workflow source", "Sample", "Upload")
FRONTEND = Path(__file__).with_name("viewer_frontend")


def viewer(editor: Editor) -> Viewer:
    """The viewer of this browser tab, served on its own port from the first render on.

    On the editor's address when it has a token, so a remote browser gets its frames too.
    """
    server: ViewerServer | None = st.session_state.get("viewer_server")
    if server is None or server.viewer.editor is not editor:
        if server is not None:
            server.close()  # another editor in this tab: the old one's port and player go
        host = listen.bind_address(st.get_option("server.address"), bool(os.environ.get(ENV_TOKEN)))
        server = st.session_state["viewer_server"] = ViewerServer(Viewer(editor, host)).start()
    return server.viewer


def live(editor: Editor) -> dict[str, Any]:
    """What the canvas needs to follow Play: the frame view's channel, and the run count of the footers it is sent.

    A run after play started (Stop's run of the frame play reached) has a higher
    count: its footers then replace those the frame view relayed during play.
    """
    viewer(editor)
    server: ViewerServer = st.session_state["viewer_server"]
    return {"channel": server.channel, "seq": server.viewer.seq}


_component: Any = None


def frame_view(editor: Editor, height: int = 250) -> None:
    """The toolbar (Run, steps, Play/Stop, slider) and the picture; ``render_tab`` must have run first."""
    global _component
    if _component is None:
        import streamlit.components.v1 as components

        _component = components.declare_component("segflow_viewer", path=str(FRONTEND))
    server: ViewerServer = st.session_state["viewer_server"]
    chosen = server.viewer.input
    described = None if chosen is None else {
        "key": chosen.key, "name": chosen.name, "count": chosen.count, "video": chosen.is_video}
    # What the frame shown depends on: a new revision or new input values re-run it (with Auto on).
    revision = f"{editor.revision}:{sorted((k, repr(v)) for k, v in editor.input_values.items())}"
    _component(host=listen.page_host(server.viewer.host), port=server.port, tab_key=server.viewer.key,
               channel=server.channel, revision=revision, input=described, height=height, key="frame_view",
               default=None)


def render_tab(editor: Editor) -> None:
    """What the view runs on and how, and the last run's results."""
    view = viewer(editor)
    graph = editor.validation().graph
    mode = st.radio("Input", MODES, horizontal=True, key="run_mode")
    with st.container():  # what comes and goes with the input's choice: the results below keep their place
        try:
            chosen = _pick(editor, graph, mode)
        except MediaError as exc:
            st.error(str(exc))
            chosen = None
        view.set_input(chosen)
        view.follow_edits()
        if chosen is not None and chosen.is_video and graph is not None and stepping.has_stateful(graph):
            view.warmup = int(st.number_input(
                "Warm-up frames", 0, 300, 10, key="run_warmup",
                help="After a jump, trackers and line counters are fed the frames before this one first; "
                     "a step to the next frame simply continues them."))
        if graph is not None and graph.inputs:
            inputs_form.render(editor, graph.inputs)
    view.run_sinks = st.checkbox("Also run sinks (they write files)", key="run_sinks")
    _show(editor, view)


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


def _show(editor: Editor, view: Viewer) -> None:
    """The last run: its notes, its results table, its timings, and any node's output.

    Notes that come and go from frame to frame (errors, "why none") sit in containers that are there
    either way: Streamlit's page redraws afresh whatever changes place, and an open expander or popover
    below them would close at the next step.
    """
    run = editor.last_run
    if run is None:
        return
    with st.container():
        if run.revision != editor.revision:
            st.caption("The graph changed since this run: press Run above to update "
                       "(only changed nodes run again).")
        ran, cached = run.result.ran, run.result.cached
        graph_ms = sum(r.seconds for r in run.result.runs.values()) * 1000
        model_ms = sum(r.seconds for n, r in run.result.runs.items()
                       if n in run.graph.nodes and run.graph.nodes[n].cls.batchable) * 1000
        step_ms = view.step_seconds * 1000
        st.caption(f"Input: {run.input_name} — {len(ran)} node(s) ran, {len(cached)} reused from cache — "
                   f"nodes {graph_ms:.0f} ms (models {model_ms:.0f} ms), read and run {step_ms:.0f} ms")
        for node_id, error in run.result.errors.items():
            st.error(f"node '{node_id}': {error}")
    table = results.results_table(run.graph, run.result)  # the picture is in the frame view above
    with st.container():
        if table is not None:
            ref, rows = table
            with st.container():
                st.markdown(f"**Results** — {len(rows)} detections from `{ref}`")
                reason = None if rows else results.empty_reason(run.graph, run.result,
                                                                (parse_ref(ref) or (ref, ""))[0])
                if reason:
                    st.caption(f"Why none: {reason}")
            columns_picker(ref, rows)
    with st.expander("Per-node timings"):
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
