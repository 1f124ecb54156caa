"""What a run produced, shaped for display: tables of detections, the annotated image, timings.

Detections become one row per object with every ``.data`` field
(measurements, colours, class names) beside box, confidence and ids; images
are shown as images; anything else as JSON. Columns are ordered for a person
reading them: what was measured (in real units) and the colour first, boxes
and ids last, and ``pick_columns`` chooses which to show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from segflow.engine.crops import Classification, Crops
from segflow.engine.execution.session import SessionResult
from segflow.engine.frame import Frame
from segflow.engine.ports import Kind
from segflow.engine.workflow.graph import CompiledGraph
from segflow.engine.workflow.spec import parse_ref


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


REAL_UNIT = re.compile(r"_(mm|mm2|mm3|cm|cm2|m|m2|um|in)(_u)?$")  # `_u`: that value's uncertainty
COLOUR_HEADLINE = ("colour_name", "colour_hex", "colour_name_delta_e", "dominant_hex", "dominant_share",
                   "dominant_colours")
BOX_AND_IDS = ("x1", "y1", "x2", "y2", "class_id", "tracker_id", "mask_px", "mm_per_px", "mm_per_px_u")


def column_rank(name: str) -> int:
    """0 row number, 1 class, 2 measured in real units, 3 colour, 4 confidence, 5 the rest, 6 boxes and ids."""
    if name == "#":
        return 0
    if name in ("class_name", "label"):
        return 1
    if name in BOX_AND_IDS:
        return 6
    if REAL_UNIT.search(name):
        return 2
    if name in COLOUR_HEADLINE:
        return 3
    return 4 if name == "confidence" else 5


def ordered_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every column of ``rows`` (first seen first), sorted by :func:`column_rank`, stable within a rank."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return sorted(seen, key=column_rank)


def default_columns(columns: list[str]) -> list[str]:
    """The headline columns (no uncertainties, no pixel twins, boxes) plus the track id; all when few."""
    picked = [c for c in columns if column_rank(c) <= 4 and not c.endswith("_u")]
    if "tracker_id" in columns:
        picked.append("tracker_id")
    return picked if len(picked) > 3 else columns


def pick_columns(columns: list[str], remembered: list[str] | None) -> list[str]:
    """The columns to show: the user's earlier pick (those still there, in table order), else the default."""
    if remembered:
        kept = [c for c in columns if c in set(remembered)]
        if kept:
            return kept
    return default_columns(columns)


def select(rows: list[dict[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
    return [{c: row.get(c) for c in columns} for row in rows]


def crops_picture(crops: Crops) -> np.ndarray:
    """The frame with each crop's region drawn (tiles thin, crops around detections with their result)."""
    import cv2

    picture = np.ascontiguousarray(crops.frame.pixels).copy()
    if picture.ndim == 2:
        picture = cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR)
    colour = (237, 119, 158)  # the editor's colour of a crops port, in BGR
    thick = max(1, round(max(picture.shape[:2]) / 400))
    for crop in crops.items:
        x0, y0, x1, y1 = crop.box
        cv2.rectangle(picture, (x0, y0), (x1 - 1, y1 - 1), colour, thick if crop.parent is None else 2 * thick)
        result = crop.result
        label = (result.class_name if isinstance(result, Classification)
                 else f"{len(result)}" if hasattr(result, "xyxy") else "")
        if label:
            cv2.putText(picture, label, (x0 + 2, y0 + 12 * thick), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, colour,
                        thick)
    return picture


def show(value: Any) -> Shown:
    if isinstance(value, Crops):
        kind = "tiles" if value.parents is None else "crops"
        return Shown("image", crops_picture(value), f"{len(value)} {kind} of frame {value.frame.index}")
    if isinstance(value, Frame):
        h, w = value.pixels.shape[:2]
        return Shown("image", value.pixels, f"{w}x{h} frame {value.index} of '{value.source_id}'")
    if hasattr(value, "xyxy") and hasattr(value, "data"):
        return Shown("table", detections_rows(value), f"{len(value)} detections")
    return Shown("json", value)


def node_outputs(result: SessionResult, node_id: str) -> dict[str, Shown]:
    return {port: show(v) for port, v in result.outputs.get(node_id, {}).items()}


def default_output(graph: CompiledGraph, result: SessionResult, selected: str | None) -> str | None:
    """The node "Show the output of" starts at.

    The selected node, unless it is a source (a copy of the raw frame): then the node
    whose image is shown annotated, else the last node.
    """
    if selected in graph.nodes and not graph.nodes[selected].cls.is_source:
        return selected
    picture = annotated_image(graph, result)
    ref = parse_ref(picture[0]) if picture is not None else None
    if ref is not None and ref[0] in graph.nodes and not graph.nodes[ref[0]].cls.is_source:
        return ref[0]
    return graph.order[-1] if graph.order else None


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


def empty_reason(graph: CompiledGraph, result: SessionResult, node_id: str) -> str | None:
    """Why ``node_id`` gave no detections although some came in upstream: the node that dropped them, and why.

    Followed up the ``detections`` inputs to the last node that still had some. A tracker
    (a ``stateful`` node) names its warm-up: it gives an object an id only once it has seen
    it on more than one frame, so the first frame of a run, or a jump with no warm-up,
    shows none. Any other node filtered them out. None: nothing came in (the model found nothing).
    """
    current = node_id
    while current in graph.nodes:
        resolved = graph.nodes[current]
        refs = resolved.inputs.get("detections") or []
        if not refs:
            return None
        src, port = refs[0]
        upstream = result.outputs.get(src, {}).get(port)
        if upstream is None or not hasattr(upstream, "xyxy"):
            return None
        if len(upstream):
            what = f"'{current}' ({resolved.cls.type_name}) got {len(upstream)} detection(s) from '{src}'"
            if resolved.cls.stateful:
                return (f"{what} and gave none yet: a tracker gives an object its id only once it has seen it "
                        f"on more than one frame, so the first frame after a start or a jump shows none "
                        f"(step to the next frame, or raise 'Warm-up frames')")
            return f"{what} and passed none on: its params filtered them all out"
        current = src
    return None


def timings(result: SessionResult) -> list[dict[str, Any]]:
    return [
        {"node": r.node_id, "type": r.node_type, "status": r.status, "ms": round(r.seconds * 1000, 2),
         "setup_ms": round(r.setup_seconds * 1000, 1), "error": r.error}
        for r in result.runs.values()
    ]
