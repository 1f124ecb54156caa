"""The Train mode: ``segflow train`` on the Label mode's dataset, watched, stoppable, compared, swapped in.

The run is a subprocess (``segflow.tools.labelling.training.TrainJob``); this
page only polls it (a fragment that re-runs every second while it trains), so
the rest of the editor stays usable. "Use this model" changes the detector
node's params through ``editor.state.set_params`` + ``editor.changed()``, like
any other edit (so it can be undone).
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from segflow.tools.labelling.prelabel import detector_nodes
from segflow.tools.labelling.training import TrainJob, TrainSettings, few_val_frames, old_model_summary
from segflow.ui import fields, secrets_view
from segflow.ui.editor import Editor
from segflow.ui.workspace import WorkspaceError
from segflow.vision.model_files import file_sha256
from segflow.vision.yolo_dataset import YoloSegDataset, safe_key


def _job() -> TrainJob | None:
    return st.session_state.get("train_job")


def current_model(editor: Editor, node_id: str | None) -> str | None:
    if node_id is None:
        return None
    value = editor.state.node(node_id).params.get("model")
    return str(value) if value else None


def on_start(editor: Editor, node_id: str | None) -> None:
    try:
        data = editor.workspace.resolve(Path(fields.value("train_folder") or "") / "data.yaml")
    except WorkspaceError as exc:
        st.session_state["train_error"] = str(exc)
        return
    old = current_model(editor, node_id)
    old_path = editor.context().resolve(old) if old and old.endswith(".pt") else None
    base = st.session_state.get("train_base") or "yolov8n-seg.yaml"
    if base.endswith(".pt"):
        base = str(editor.context().resolve(base))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    settings = TrainSettings(data=str(data), model=base, epochs=int(st.session_state["train_epochs"]),
                             imgsz=int(st.session_state["train_imgsz"]), batch=int(st.session_state["train_batch"]),
                             out=f"runs/label/{safe_key(data.parent.name)}-{stamp}")
    job = TrainJob(settings, editor.workspace.root, old_path)
    job.start()
    st.session_state["train_job"] = job
    st.session_state.pop("train_error", None)
    st.session_state.pop("train_used", None)


def on_stop() -> None:
    job = _job()
    if job is not None:
        job.stop()


def on_use(editor: Editor, node_id: str) -> None:
    job = _job()
    weights = job.weights() if job else None
    if weights is None:
        return
    try:
        value = editor.workspace.relative(weights)
    except WorkspaceError:
        value = str(weights)
    changes: dict = {"model": value}
    cls = editor.registry.get(editor.state.node(node_id).type)
    if cls is not None and "imgsz" in cls.Params.model_fields:
        changes["imgsz"] = job.settings.imgsz  # predict at the size it was trained at
    if cls is not None and "sha256" in cls.Params.model_fields:
        # The old pin names the old weights and would refuse these: pin the file this job just wrote.
        changes["sha256"] = file_sha256(Path(weights))
    editor.state.set_params(node_id, changes)
    editor.changed()
    fields.keep("yaml_text", secrets_view.mask_text(editor.state.to_yaml()))
    st.session_state["train_used"] = f"node '{node_id}' now uses {value}"


def render(editor: Editor) -> None:
    graph = editor.validation().graph
    detectors = detector_nodes(graph) if graph is not None else []
    if fields.kept("train_folder") is None:
        fields.keep("train_folder", fields.value("label_folder")
                    or f"datasets/{safe_key(graph.name if graph else Path(editor.path).stem)}")
    left, right = st.columns([2, 3])
    with left:
        st.text_input("Dataset folder", value=fields.kept("train_folder"), key=fields.key("train_folder"))
        try:
            dataset = YoloSegDataset(editor.workspace.resolve(fields.value("train_folder") or ""))
        except WorkspaceError as exc:
            st.error(str(exc))
            return
        counts = dataset.counts()
        st.caption(f"{counts['train']} train and {counts['val']} val frames, classes: "
                   f"{', '.join(dataset.names()) or 'none'}")
        node_id = st.selectbox("Detector node", detectors, key="train_node") if detectors else None
        old = current_model(editor, node_id)
        st.session_state.setdefault("train_base", old if old and old.endswith(".pt") else "yolov8n-seg.yaml")
        st.text_input("Start from", key="train_base",
                      help="a .pt fine-tunes (fast, a few epochs do); a .yaml config trains from scratch")
        cols = st.columns(3)
        cols[0].number_input("Epochs", 1, 1000, 2, key="train_epochs")
        cols[1].number_input("Image size", 64, 1280, 320, step=32, key="train_imgsz")
        cols[2].number_input("Batch", 1, 256, 4, key="train_batch")
        job = _job()
        ready = counts["train"] > 0 and counts["val"] > 0
        if not ready:
            st.info("Save at least two frames in Label mode (one lands in val) before training.")
        elif few_val_frames(counts["val"]):
            st.warning(few_val_frames(counts["val"]))
        cols = st.columns(2)
        busy = bool(job and job.running)
        cols[0].button("Start training", key="train_start", type="primary", disabled=not ready or busy,
                       on_click=on_start, args=(editor, node_id), width="stretch")
        cols[1].button("Stop", key="train_stop", disabled=not (job and job.running), on_click=on_stop,
                       width="stretch")
        if st.session_state.get("train_error"):
            st.error(st.session_state["train_error"])
    with right:
        progress_view(editor, node_id)


def use_button(editor: Editor, node_id: str | None, job: TrainJob) -> None:
    if node_id is not None and job.weights() is not None:
        st.button("Use this model in the workflow", key="train_use", type="primary",
                  on_click=on_use, args=(editor, node_id))
    if st.session_state.get("train_used"):
        st.success(st.session_state["train_used"] + " (undo with Ctrl+Z; save in the sidebar)")


@st.fragment(run_every=1.0)
def progress_view(editor: Editor, node_id: str | None) -> None:
    job = _job()
    if job is None:
        st.caption("No training run yet in this session.")
        return
    was_running = job.running
    phase = job.poll()
    p = job.progress()
    elapsed = job.elapsed
    st.progress(p.fraction, text=f"epoch {p.epoch}/{p.epochs}" + (
        f" — mask mAP50 {p.mask_map50:.3f}" if p.mask_map50 is not None else ""))
    st.caption(f"Run folder `{job.out}` — {phase} — {elapsed:.0f} s")
    if phase == "failed":
        st.error(job.message)
    elif phase == "stopped":
        weights = job.weights()
        st.warning(f"Training stopped after {elapsed:.0f} s (epoch {p.epoch} of {p.epochs} finished)."
                   + (f" The best of the finished epochs is `{weights.name}`: it can be used, but it was not "
                      "compared with the old model." if weights is not None else ""))
        use_button(editor, node_id, job)
    elif phase == "done":
        summary = job.summary() or {}
        new = (summary.get("val") or {}).get("mask_map50")
        old_val = job.old_validation()
        old_card = old_model_summary(job.old_model) if job.old_model else None
        train_s = summary.get("train_time_s")
        st.success(f"Training finished in {elapsed:.0f} s" + (
            f" ({train_s:.0f} s of it training; the rest starting up and validating)" if train_s else ""))
        cols = st.columns(3)
        cols[0].metric("New model mask mAP50", f"{new:.3f}" if new is not None else "—")
        old = (old_val or {}).get("mask_map50")
        delta = f"{new - old:+.3f} new vs old" if new is not None and old is not None else None
        cols[1].metric("Old model, same val split", f"{old:.3f}" if old is not None else "—", delta=delta,
                       delta_color="off")
        card = ((old_card or {}).get("val") or {}).get("mask_map50")
        cols[2].metric("Old model, its own val set", f"{card:.3f}" if card is not None else "—",
                       help="from the model's summary JSON (a different val set)")
        val_images = (summary.get("val") or {}).get("images")
        few = few_val_frames(int(val_images)) if val_images is not None else None
        if few:
            st.warning(f"Compare with care: {few}.")
        if job.message:
            st.warning(job.message)
        use_button(editor, node_id, job)
    if was_running and not job.running:
        st.rerun()  # the whole page: the Start button comes back
