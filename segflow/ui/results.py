"""What a run produced, shaped for display: tables of detections, the annotated image, timings.

Detections become one row per object with every ``.data`` field
(measurements, colours, class names) beside box, confidence and ids; images
are shown as images; anything else as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from segflow.engine.frame import Frame
from segflow.engine.graph import CompiledGraph
from segflow.engine.ports import Kind
from segflow.engine.session import SessionResult


@dataclass
class Shown:
    """One output port's value, ready for a widget: an image, a table, or JSON."""

    kind: str  # "image" | "table" | "json"
    value: Any
    caption: str = ""


def detections_rows(detections: Any) -> list[dict[str, Any]]:
    rows = []
    n = len(detections)
    for i in range(n):
        row: dict[str, Any] = {"#": i}
        box = detections.xyxy[i]
        row["x1"], row["y1"], row["x2"], row["y2"] = (round(float(v), 1) for v in box)
        if detections.class_id is not None:
            row["class_id"] = int(detections.class_id[i])
        if detections.confidence is not None:
            row["confidence"] = round(float(detections.confidence[i]), 3)
        if detections.tracker_id is not None:
            row["tracker_id"] = int(detections.tracker_id[i])
        if detections.mask is not None:
            row["mask_px"] = int(np.count_nonzero(detections.mask[i]))
        for name, values in (detections.data or {}).items():
            row[name] = _cell(values[i]) if len(values) == n else _cell(values)
        rows.append(row)
    return rows


def _cell(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return str(value)


def show(value: Any) -> Shown:
    if isinstance(value, Frame):
        h, w = value.pixels.shape[:2]
        return Shown("image", value.pixels, f"{w}x{h} frame {value.index} of '{value.source_id}'")
    if hasattr(value, "xyxy") and hasattr(value, "data"):
        return Shown("table", detections_rows(value), f"{len(value)} detections")
    return Shown("json", value)


def node_outputs(result: SessionResult, node_id: str) -> dict[str, Shown]:
    return {port: show(v) for port, v in result.outputs.get(node_id, {}).items()}


def annotated_image(graph: CompiledGraph, result: SessionResult) -> tuple[str, Frame] | None:
    """The picture to show first: the last image that is not a source frame, else the source frame."""
    fallback = None
    for node_id in reversed(graph.order):
        for port, value in result.outputs.get(node_id, {}).items():
            if isinstance(value, Frame):
                if graph.nodes[node_id].cls.is_source:
                    fallback = fallback or (f"{node_id}.{port}", value)
                else:
                    return f"{node_id}.{port}", value
    return fallback


def results_table(graph: CompiledGraph, result: SessionResult) -> tuple[str, list[dict[str, Any]]] | None:
    """The detections with the most fields: the last stage of measuring and describing them."""
    best = None
    for node_id in graph.order:
        cls = graph.nodes[node_id].cls
        for port, spec in cls.outputs.items():
            value = result.outputs.get(node_id, {}).get(port)
            if spec.kind == Kind.DETECTIONS and value is not None:
                width = len(getattr(value, "data", {}) or {})
                if best is None or width >= best[0]:
                    best = (width, f"{node_id}.{port}", value)
    return (best[1], detections_rows(best[2])) if best else None


def timings(result: SessionResult) -> list[dict[str, Any]]:
    return [
        {"node": r.node_id, "type": r.node_type, "status": r.status, "ms": round(r.seconds * 1000, 2),
         "setup_ms": round(r.setup_seconds * 1000, 1), "error": r.error}
        for r in result.runs.values()
    ]
