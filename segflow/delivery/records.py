"""Turning one frame's findings into plain records every sink can write.

One record per detection (or one per frame) with where and when it came from,
the class, confidence, box, tracker id, every per-detection field of
``detections.data`` (measurements, colours) and optionally the mask. Values
are made JSON-able here once (numpy scalars, arrays, NaN), so each sink only
formats.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from segflow.delivery.common import SinkParams
from segflow.engine import PacketInfo

BASE_FIELDS = ("record_id", "workflow", "source", "frame", "timestamp", "time")
DETECTION_FIELDS = ("det_index", "class_id", "class", "confidence", "box", "tracker_id")


class RecordParams(SinkParams):
    """Options of sinks that write records (files, databases, the network)."""

    per: Literal["detection", "frame"] = Field(
        "detection",
        description="One record per detection, or one per frame (with its detections inside).",
    )
    mask: Literal["none", "rle", "polygon"] = Field(
        "none",
        description="Include each mask: COCO run-length encoding (column-major counts), "
        "polygon outlines, or not at all.",
    )


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of ``value``: numpy to Python, NaN/inf to None, bytes to base64."""
    if isinstance(value, np.generic):  # before float: np.float64 is a float subclass
        return jsonable(value.item())
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()] if value.ndim else jsonable(value.item())
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def mask_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO uncompressed RLE: run lengths over the column-major pixels, starting with background."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def mask_polygons(mask: np.ndarray) -> list[list[int]]:
    """Outer outlines of the mask as flat ``[x0, y0, x1, y1, ...]`` lists (COCO polygon style)."""
    import cv2

    contours, _ = cv2.findContours(np.asarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(int).tolist() for c in contours if len(c) >= 3]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _length(detections: Any) -> int:
    return 0 if detections is None else len(detections)


def class_names(detections: Any) -> list[str]:
    """Each detection's class: ``data['class_name']`` when present, else the class id as text."""
    n = _length(detections)
    if not n:
        return []
    names = detections.data.get("class_name")
    if names is not None:
        return [str(v) for v in names]
    if detections.class_id is not None:
        return [str(int(c)) for c in detections.class_id]
    return [""] * n


def detection_fields(detections: Any, i: int, mask_mode: str, names: list[str]) -> dict[str, Any]:
    """All about detection ``i``, JSON-able; data keys that clash get a ``data_`` prefix."""
    fields: dict[str, Any] = {
        "det_index": i,
        "class_id": None if detections.class_id is None else int(detections.class_id[i]),
        "class": names[i],
        "confidence": None if detections.confidence is None else jsonable(float(detections.confidence[i])),
        "box": [round(float(v), 2) for v in detections.xyxy[i]],
        "tracker_id": None if detections.tracker_id is None else int(detections.tracker_id[i]),
    }
    for key, values in detections.data.items():
        if key == "class_name":
            continue
        name = key if key not in fields and key not in BASE_FIELDS else f"data_{key}"
        fields[name] = jsonable(values[i])
    if mask_mode != "none" and detections.mask is not None:
        mask = detections.mask[i]
        fields["mask"] = mask_rle(mask) if mask_mode == "rle" else mask_polygons(mask)
    return fields


@dataclass
class RecordBuilder:
    """Makes the records of one frame; ids are ``run-source-frame[-detection]``, unique per run."""

    workflow: str
    run_id: str
    per: str = "detection"
    mask: str = "none"

    def records(self, packet: PacketInfo, detections: Any, value: Any) -> list[dict[str, Any]]:
        head = {
            "record_id": f"{self.run_id}-{packet.source_id}-{packet.frame_index}",
            "workflow": self.workflow or packet.workflow,
            "source": packet.source_id,
            "frame": packet.frame_index,
            "timestamp": jsonable(float(packet.timestamp)),
            "time": utc_now(),
        }
        extra = {} if value is None else {"value": jsonable(value)}
        if detections is None:  # no detections wired (a value-only sink): one record per frame
            return [{**head, **extra}]
        n = _length(detections)
        names = class_names(detections)
        dets = [detection_fields(detections, i, self.mask, names) for i in range(n)]
        if self.per == "frame":
            counts: dict[str, int] = {}
            for det in dets:
                counts[det["class"]] = counts.get(det["class"], 0) + 1
            return [{**head, "count": n, "counts": counts, **extra, "detections": dets}]
        return [{**head, "record_id": f"{head['record_id']}-{det['det_index']}", **det, **extra} for det in dets]


def dumps(record: Mapping[str, Any]) -> str:
    """One compact JSON line (no NaN: records are already JSON-able)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
