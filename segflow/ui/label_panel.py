"""The Label mode: open a frame, get masks from clicks and boxes, correct pre-labels, save a YOLO-seg dataset.

Layout and widget wiring only; the rules are in ``segflow.tools.labelling``
(dataset on disk, prompt -> mask, pre-labels, the frame's editable labels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from segflow.tools.labelling.assist import Assistant, find_checkpoint
from segflow.tools.labelling.frame import FrameLabels
from segflow.tools.labelling.prelabel import model_names, prelabel
from segflow.ui import fields, media
from segflow.ui.editor import Editor
from segflow.ui.workspace import WorkspaceError
from segflow.vision.yolo_dataset import YoloSegDataset, safe_key

FRONTEND = Path(__file__).with_name("label_frontend")
SOURCES = ("Workflow source", "Image folder", "Collected frames")
_component: Any = None


def label_canvas(args: dict[str, Any], key: str, on_change: Any = None) -> Any:
    global _component
    if _component is None:
        import streamlit.components.v1 as components

        _component = components.declare_component("segflow_label", path=str(FRONTEND))
    return _component(**args, key=key, default=None, on_change=on_change)


def _workflow_name(editor: Editor) -> str:
    graph = editor.validation().graph
    if graph is not None:
        return safe_key(graph.name)
    return safe_key(Path(editor.path).stem.replace("_", "-"))


def default_folder(editor: Editor) -> str:
    return f"datasets/{_workflow_name(editor)}"


def dataset_folder(editor: Editor) -> str:
    return fields.value("label_folder") or default_folder(editor)


def dataset_of(editor: Editor) -> YoloSegDataset | None:
    folder = dataset_folder(editor)
    try:
        return YoloSegDataset(editor.workspace.resolve(folder))
    except WorkspaceError as exc:
        st.error(f"dataset folder: {exc}")
        return None


def assistant_of(editor: Editor) -> Assistant:
    assistant = st.session_state.get("label_assistant")
    if assistant is None:
        graph = editor.validation().graph
        sam_params = [dict(n.params) for n in graph.nodes.values() if n.cls.type_name == "segment.sam2"] \
            if graph is not None else []
        checkpoint, extra = find_checkpoint(sam_params, editor.context())
        assistant = Assistant(editor.context(), checkpoint, extra)
        st.session_state["label_assistant"] = assistant
    return assistant


# -- picking a frame -------------------------------------------------------------------------------

def pick_frame(editor: Editor, dataset: YoloSegDataset) -> tuple[str, Any, str | None, int] | None:
    """(key, pixels, source id, index) of the frame to label, or None (with a message shown)."""
    source = st.radio("Frames from", SOURCES, horizontal=True, key="label_source")
    if source == "Workflow source":
        graph = editor.validation().graph
        if graph is None or not graph.source_ids:
            st.warning(editor.why_no_source() + " In Label mode you can also pick an image folder.")
            return None
        source_id = graph.source_ids[0]
        resolved = graph.nodes[source_id]
        cols = st.columns([1, 1, 4])
        cols[0].button("◀ Prev", key="label_prev", on_click=_step, args=(-1,))
        cols[1].button("Next ▶", key="label_next", on_click=_step, args=(1,))
        index = cols[2].number_input("Frame index", min_value=0, step=1, value=int(fields.kept("label_index", 0)),
                                     key=fields.key("label_index"))
        try:
            picked = _cached_frame(editor, ("source", source_id, int(index), str(resolved.params)),
                                   lambda: media.source_frame(resolved, editor.context(), int(index)))
        except media.MediaError as exc:
            st.error(str(exc))
            return None
        name = Path(str(getattr(resolved.params, "path", "") or source_id)).stem or source_id
        return f"{safe_key(name)}_{picked.index:06d}", picked.pixels, source_id, picked.index
    if source == "Image folder":
        folder = st.text_input("Folder (inside the workspace)", value="assets/samples", key="label_images")
        try:
            base = editor.workspace.resolve(folder)
        except WorkspaceError as exc:
            st.error(str(exc))
            return None
        files = sorted(p.name for p in base.iterdir() if p.suffix.lower() in media.IMAGE_SUFFIXES) \
            if base.is_dir() else []
        if not files:
            st.info(f"No images in {folder}.")
            return None
        name = st.selectbox("Image", files, key="label_image_pick")
        picked = _cached_frame(editor, ("file", str(base / name)), lambda: media.read_file(base / name))
        return safe_key(Path(name).stem), picked.pixels, None, 0
    keys = dataset.collected()
    if not keys:
        st.info(f"No collected frames in {dataset.root / 'collected'}: run a workflow with a sink.dataset node.")
        return None
    key = st.selectbox(f"Collected frame ({len(keys)} waiting for review)", keys, key="label_collected_pick")
    loaded = dataset.load_collected(key)
    if loaded is None:
        st.error(f"cannot read collected frame {key}")
        return None
    return key, loaded[0], None, 0


def _step(delta: int) -> None:
    """Move the frame index, drawn afresh (``fields.keep``).

    Written under the field's own key, a step followed at once by another click was undone by the page
    sending its old index back.
    """
    fields.keep("label_index", max(0, int(fields.value("label_index", 0)) + delta))


def _cached_frame(editor: Editor, key: tuple, read: Any) -> Any:
    cache = st.session_state.setdefault("label_frames", {})
    if key not in cache:
        if len(cache) > 32:
            cache.clear()
        cache[key] = read()
    return cache[key]


# -- callbacks ----------------------------------------------------------------------------------

def _frame() -> FrameLabels:
    return st.session_state["label_frame"]


def on_canvas() -> None:
    event = st.session_state.get("label_canvas")
    editor: Editor = st.session_state["editor"]
    _frame().apply(event, assistant_of(editor), current_class())


def current_class() -> str:
    return fields.value("label_class") or "object"


def on_accept() -> None:
    _frame().accept(current_class())


def on_discard() -> None:
    _frame().discard()


def on_delete() -> None:
    frame = _frame()
    if frame.selected:
        frame.delete(frame.selected)


def on_set_class() -> None:
    frame = _frame()
    if frame.selected:
        frame.set_class(frame.selected, current_class())


def on_add_class() -> None:
    name = (fields.value("label_new_class") or "").strip()
    if name:
        extra = st.session_state.setdefault("label_extra_classes", [])
        if name not in extra:
            extra.append(name)
        fields.keep("label_class", name)
        fields.keep("label_new_class", "")


def on_prelabel(source_id: str | None, index: int) -> None:
    editor: Editor = st.session_state["editor"]
    frame = _frame()
    graph = editor.validation().graph
    if graph is None:
        frame.message = "the workflow has errors: fix them in Build mode to pre-label"
        return
    editor.session.run_sinks = False
    try:
        found, _node = prelabel(editor.session, graph, frame.pixels, source_id, index)
    except RuntimeError as exc:
        frame.message = f"pre-label failed: {exc}"
        return
    st.session_state["label_model_names"] = model_names(editor.session, graph)
    frame.add_prelabels(found)


def on_save() -> None:
    editor: Editor = st.session_state["editor"]
    dataset = YoloSegDataset(editor.workspace.resolve(dataset_folder(editor)))
    _frame().save(dataset)


# -- the page ------------------------------------------------------------------------------------

def render(editor: Editor) -> None:
    if fields.kept("label_folder") is None:
        fields.keep("label_folder", default_folder(editor))
    left, right = st.columns([3, 1])
    with right:
        st.text_input("Dataset folder (inside the workspace)", value=fields.kept("label_folder"),
                      key=fields.key("label_folder"),
                      help="YOLO-segmentation layout: images/, labels/ (train/val), data.yaml")
        dataset = dataset_of(editor)
        if dataset is None:
            return
    with left:
        picked = pick_frame(editor, dataset)
    if picked is None:
        return
    key, pixels, source_id, index = picked
    frame = st.session_state.get("label_frame")
    if frame is None or frame.key != key or frame.pixels.shape != pixels.shape:
        # Frames left with unsaved edits are kept for this session: stepping away loses nothing.
        opened: dict[str, FrameLabels] = st.session_state.setdefault("label_opened", {})
        if frame is not None and frame.edited:
            opened[frame.key] = frame
        frame = opened.pop(key, None)
        if frame is None or frame.pixels.shape != pixels.shape:
            frame = FrameLabels.open(key, pixels, dataset)
        while len(opened) > 50:
            opened.pop(next(iter(opened)))
        st.session_state["label_frame"] = frame
    unsaved = [k for k, f in st.session_state.get("label_opened", {}).items() if f.edited]
    assistant = assistant_of(editor)
    with right:
        classes = list(dict.fromkeys(dataset.names() + st.session_state.get("label_model_names", [])
                                     + st.session_state.get("label_extra_classes", [])
                                     + [i.class_name for i in frame.items])) or ["object"]
        if fields.value("label_class") not in classes:
            fields.keep("label_class", classes[0])
        st.selectbox("Class", classes, index=fields.index("label_class", classes), key=fields.key("label_class"))
        cols = st.columns([3, 1])
        cols[0].text_input("New class", value=fields.kept("label_new_class", ""), key=fields.key("label_new_class"),
                           label_visibility="collapsed",
                           placeholder="new class name")
        cols[1].button("Add", key="label_add_class", on_click=on_add_class)
        st.caption(f"Masks from **{assistant.method}**"
                   + (f" (SAM 2 unavailable: {assistant.problem})" if assistant.problem else "")
                   + ". Drag a box or click points on the frame; Shift+click marks background.")
        st.button("Pre-label with the workflow", key="label_prelabel", on_click=on_prelabel,
                  args=(source_id, index), width="stretch",
                  help="run the workflow's detector/segmenter on this frame; then delete or fix what is wrong")
        cols = st.columns(2)
        cols[0].button("Accept mask", key="label_accept", type="primary", on_click=on_accept,
                       disabled=frame.candidate is None, width="stretch")
        cols[1].button("Discard", key="label_discard", on_click=on_discard, disabled=frame.candidate is None,
                       width="stretch")
        cols = st.columns(2)
        cols[0].button("Delete selected", key="label_delete", on_click=on_delete, disabled=frame.selected is None,
                       width="stretch")
        cols[1].button("Set class", key="label_set_class", on_click=on_set_class, disabled=frame.selected is None,
                       width="stretch", help="give the selected mask the class picked above")
        st.button("Save frame to dataset", key="label_save", type="primary", on_click=on_save, width="stretch")
        state = f"saved in {frame.saved_split}" if frame.saved_split else "not saved yet"
        st.markdown(f"**{len(frame.items)} masks** on `{key}` — {state}" + (" (unsaved changes)" if frame.edited
                                                                           else ""))
        if unsaved:
            st.caption(f":orange[Unsaved edits on {len(unsaved)} other frame(s): {', '.join(unsaved[:5])}]")
        counts = dataset.counts()
        st.caption(f"Dataset: {counts['train']} train, {counts['val']} val, {counts['collected']} collected; "
                   f"classes: {', '.join(dataset.names()) or 'none yet'}")
        for item in frame.items:
            mark = "▶ " if item.id == frame.selected else ""
            conf = f" {item.confidence:.2f}" if item.confidence is not None else ""
            st.caption(f"{mark}{item.class_name}{conf} — {item.source}")
    with left:
        url = _cached_url(key, pixels)
        label_canvas(frame.payload(url), key="label_canvas", on_change=on_canvas)
        if frame.message:
            st.caption(frame.message)


def _cached_url(key: str, pixels: Any) -> str:
    cached = st.session_state.get("label_url")
    if not cached or cached[0] != key:
        cached = (key, media.jpeg_data_url(pixels, 90))
        st.session_state["label_url"] = cached
    return cached[1]
