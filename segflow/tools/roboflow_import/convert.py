"""The conversion: steps in order through the block table, then the definition's outputs as sinks.

Roboflow returns a workflow's ``outputs`` to its caller; a headless segflow
run writes its results through sinks. So each output becomes a sink that
keeps it: detections and values as JSON lines, images as files (or a video
when the source is one), a csv_formatter's table as a CSV file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from segflow.tools.roboflow_import.blocks_sinks import table_sink
from segflow.tools.roboflow_import.context import Conversion, Node, Skip
from segflow.tools.roboflow_import.definition import Definition, Step
from segflow.tools.roboflow_import.selectors import Ref, input_selector, step_selector
from segflow.tools.roboflow_import.table import block_name, lookup

VIDEO = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
SINK_BLOCKS = ("email_notification", "webhook_sink", "local_file_sink")


def convert(definition: Definition, models: dict[str, str], name: str, out_dir: str,
            source: str | None = None) -> Conversion:
    conv = Conversion(definition, models, name, out_dir, source)
    if source is not None:
        _add_source(conv, source)
    for step_name in definition.order:
        step = definition.step(step_name)
        if step is not None:
            _map_step(conv, step)
    for entry in definition.outputs:
        _output(conv, entry)
    for spec in conv.unused_inputs():
        kind = spec.get("type")
        if kind == "WorkflowVideoMetadata":
            conv.note(None, None, f"input '{spec.get('name')}' (video metadata): segflow frames carry their "
                      "own frame index, time and source")
        elif spec.get("name") not in conv.inputs:
            conv.leave(None, None, f"input '{spec.get('name')}' ({kind}) is read by no step segflow maps")
    return conv


def override(conv: Conversion, text: str) -> str | None:
    """``--set node.param=value`` on a converted node (YAML value; ``null`` removes it); a problem, or None."""
    target, sep, raw = text.partition("=")
    node_id, dot, param = target.partition(".")
    if not sep or not dot or not param:
        return f"--set {text}: expected NODE.PARAM=VALUE, e.g. --set model.classes=null"
    if node_id not in conv.nodes:
        return f"--set {text}: no node '{node_id}' in the converted workflow (nodes: {', '.join(conv.nodes)})"
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        return f"--set {text}: the value is not YAML: {exc}"
    if value is None:
        conv.nodes[node_id].params.pop(param, None)
    else:
        conv.nodes[node_id].params[param] = value
    return None


def _map_step(conv: Conversion, step: Step) -> None:
    mapper, reason = lookup(step.type)
    if mapper is None:
        conv.skipped[step.name] = reason
        conv.leave(step, None, reason)
        conv.gates.pop(step.name, None)
        return
    nodes, inputs, stitched = set(conv.nodes), set(conv.inputs), dict(conv.stitched)
    conv.begin(step)
    try:
        mapper(conv, step)
    except Skip as exc:
        for node in set(conv.nodes) - nodes:  # what the step made before it found it cannot be mapped
            del conv.nodes[node]
        for name in set(conv.inputs) - inputs:
            del conv.inputs[name]
        conv.stitched = stitched
        conv.provided.pop(step.name, None)
        conv.skipped[step.name] = exc.reason
        conv.leave(step, exc.key, f"the step is left out: {exc.reason}", exc.hint)
        conv.gates.pop(step.name, None)
        return
    gate = conv.gates.pop(step.name, None)
    if gate is not None:
        conv.leave(conv.definition.step(gate.steps[-1]), "next_steps", f"step '{step.name}' is not a sink: segflow "
                   "runs it on every frame (the condition gates sinks, as only_when)")


def _add_source(conv: Conversion, source: str) -> None:
    name = conv.first_image_input()
    if name is None:
        conv.errors.append(conv.definition.at(None, None, "--source: the definition has no image input "
                                              "(WorkflowImage) to feed"))
        return
    if re.match(r"^(rtsp|rtsps|http|https)://", source) or source.isdigit():
        type_, params = "source.camera", {"source": source}
    elif Path(source).suffix.lower() in VIDEO:
        type_, params = "source.video", {"path": source}
    else:
        type_, params = "source.image", {"path": source}
    conv.nodes[name] = Node(name, type_, params, {}, f"input '{name}' (WorkflowImage), given with --source")


def _output(conv: Conversion, entry: dict[str, Any]) -> None:
    """One ``JsonField`` output as the sink that keeps it."""
    name = str(entry.get("name", "output"))
    offset = conv.definition.text.find(f'"{name}"', conv.definition.text.rfind('"outputs"'))
    line = conv.definition.text.count("\n", 0, max(offset, 0)) + 1
    step = Step(f"out_{name}", "JsonField", entry, line, 1, max(offset, 0))
    selector = entry.get("selector")
    sel = step_selector(selector)
    if input_selector(selector) is not None:
        conv.leave(step, "selector", "the workflow's own input image: it is the source, not a result")
        return
    if sel is None:
        conv.leave(step, "selector", f"not a step selector: {str(selector)[:60]}")
        return
    producer = conv.definition.step(sel[0])
    if producer is not None and block_name(producer.type) in SINK_BLOCKS and sel[0] not in conv.skipped:
        conv.leave(step, "selector", f"step '{sel[0]}' is a sink; its status ({sel[1]}) is in segflow's run "
                   "summary (written, kept, lost), not a value")
        return
    if sel[1] == "*":
        refs = list(conv.provided.get(sel[0], {}).items())
        if not refs:
            conv.leave(step, "selector", f"step '{sel[0]}' has no mapped outputs"
                       + (f" (it was left out: {conv.skipped[sel[0]]})" if sel[0] in conv.skipped else ""))
        if len({r.ref for _, r in refs}) == 1 and refs[0][1].kind == "value":  # one value node: keep it whole
            refs = [(name, Ref(refs[0][1].ref, "value"))]
    else:
        try:
            refs = [(name, conv.frame_detections(step, conv.resolve(selector, "selector")))]
        except Skip as exc:
            conv.leave(step, "selector", exc.reason)
            return
    for label, ref in refs:
        _keep(conv, step, label if label == name else f"{name}_{label}", ref)


def _keep(conv: Conversion, step: Step, name: str, ref: Ref) -> None:
    origin = f"output '{step.body.get('name')}' ({step.body.get('selector')})"
    folder = conv.out_dir.rstrip("/")
    video = conv.source is not None and Path(conv.source).suffix.lower() in VIDEO
    if ref.kind == "image" and video:
        conv.node(step, "sink.video", {"path": f"{folder}/{name}.mp4", "annotate": False}, {"image": ref},
                  origin=origin)
    elif ref.kind == "image":
        conv.node(step, "sink.images", {"folder": f"{folder}/{name}"}, {"image": ref},
                  origin=origin)
    elif ref.kind == "detections":
        conv.node(step, "sink.jsonl", {"path": f"{folder}/{name}.jsonl", "per": "frame"},
                  {"detections": ref}, origin=origin)
    elif ref.kind == "value":
        params: dict[str, Any] = {"path": f"{folder}/{name}.jsonl", "per": "frame"}
        if ref.path:
            params["fields"] = ["source", "frame", "timestamp", {name: ref.record_field}]
        conv.node(step, "sink.jsonl", params, {"value": Ref(ref.ref, "value")}, origin=origin)
    elif ref.kind == "table":
        table_sink(conv, step, ref, f"{folder}/{name}.csv", {}, origin)
    else:
        conv.leave(step, "selector", f"{ref.kind} as a result: segflow sinks keep detections, values and images "
                   "(sink.images save: crops cuts crops from detections)")
        return
    conv.mapped.append(step.name)
