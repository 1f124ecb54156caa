"""One frame's findings as every sink sees them, read once, and the typed record made from them.

:class:`Findings` wraps what a sink got for one frame (packet, detections,
value) and computes each part at most once, when first asked: the class names,
the JSON-able fields of each detection, the frame names of ``only_when``. The
gate reads it, and, when the frame passes, :class:`RecordBuilder` turns the
same fields (plus masks, only then) into a :class:`FrameRecord`: a typed record
with the run id, the source, the frame, its time as a ``datetime`` and as ISO
text. File, webhook and MQTT sinks write its flat :meth:`FrameRecord.rows`;
the SQL sink writes rows from its attributes, parsing nothing back.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from segflow.engine import PacketInfo

BASE_FIELDS = ("record_id", "workflow", "source", "frame", "timestamp", "time", "file", "file_name")
DETECTION_FIELDS = ("det_index", "class_id", "class", "confidence", "box", "tracker_id")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of ``value``: numpy to Python, NaN/inf to None, bytes to base64, dataclasses to dicts."""
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
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # e.g. a Classification: its fields
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
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


def iso_time(moment: datetime) -> str:
    """UTC ISO 8601 with milliseconds and a ``Z``: ``2026-01-01T12:00:02.801Z``."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def class_names(detections: Any, unnamed: str = "") -> list[str]:
    """Each detection's class: ``data['class_name']`` when present, else the class id as text, else ``unnamed``.

    The one reading of "a detection's class": records, conditions (``class``) and the
    nodes that count by class all use it.
    """
    n = 0 if detections is None else len(detections)
    if not n:
        return []
    names = detections.data.get("class_name")
    if names is not None:
        return [str(v) for v in names]
    if detections.class_id is not None:
        return [str(int(c)) for c in detections.class_id]
    return [unnamed] * n


def detection_fields(detections: Any, names: list[str]) -> list[dict[str, Any]]:
    """All about each detection, JSON-able, without masks; data keys that clash get a ``data_`` prefix."""
    columns = {key: values for key, values in detections.data.items() if key != "class_name"}
    out = []
    for i, name in enumerate(names):
        fields: dict[str, Any] = {
            "det_index": i,
            "class_id": None if detections.class_id is None else int(detections.class_id[i]),
            "class": name,
            "confidence": None if detections.confidence is None else jsonable(float(detections.confidence[i])),
            "box": [round(float(v), 2) for v in detections.xyxy[i]],
            "tracker_id": None if detections.tracker_id is None else int(detections.tracker_id[i]),
        }
        for key, values in columns.items():
            fields[key if key not in fields and key not in BASE_FIELDS else f"data_{key}"] = jsonable(values[i])
        out.append(fields)
    return out


class Findings:
    """What one sink got for one frame; each view is computed once, when first needed.

    The gate's condition reads the detections' arrays directly; the per-detection
    record fields are built only for a frame the gate lets through.
    """

    def __init__(self, packet: PacketInfo, detections: Any = None, value: Any = None, image: Any = None) -> None:
        self.packet = packet
        self.detections = detections  # None: no detections input wired
        self.value = value
        self.image = image  # the frame, when wired: conditions may ask its size

    @cached_property
    def classes(self) -> list[str]:
        return class_names(self.detections)

    @cached_property
    def fields(self) -> list[dict[str, Any]]:
        """The records' per-detection fields."""
        return detection_fields(self.detections, self.classes) if self.classes else []

    @cached_property
    def json_value(self) -> Any:
        return jsonable(self.value)


@dataclass(frozen=True)
class FrameRecord:
    """One frame that passed a sink's gate: where, when and what, typed, made once.

    ``detections`` is None when the sink has no detections input (a value-only
    sink); ``value`` is None when it has no value. ``logged_at`` is when the
    sink saw the frame (``time`` is the same instant as ISO text).
    """

    run_id: str
    workflow: str
    source: str
    frame: int
    timestamp: float
    logged_at: datetime
    time: str
    detections: tuple[dict[str, Any], ...] | None = None
    value: Any = None
    file: str = ""  # the image file the frame was read from (source.image); empty otherwise

    @property
    def record_id(self) -> str:
        """``<run>-<source>-<frame>``: unique in the run and the same in every sink of it."""
        return f"{self.run_id}-{self.source}-{self.frame}"

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for det in self.detections or ():
            counts[det["class"]] = counts.get(det["class"], 0) + 1
        return counts

    def rows(self, per: str) -> list[dict[str, Any]]:
        """The flat JSON-able records: one per detection (``det_index`` ends the id) or one per frame."""
        head = {
            "record_id": self.record_id,
            "workflow": self.workflow,
            "source": self.source,
            "frame": self.frame,
            "timestamp": self.timestamp,
            "time": self.time,
        }
        if self.file:  # a folder of images: each record names its image, to match results to files
            head.update(file=self.file, file_name=Path(self.file).name)
        extra = {} if self.value is None else {"value": self.value}
        if self.detections is None:  # no detections wired: one record per frame
            return [{**head, **extra}]
        if per == "frame":
            dets = list(self.detections)
            return [{**head, "count": len(dets), "counts": self.counts(), **extra, "detections": dets}]
        return [{**head, "record_id": f"{self.record_id}-{det['det_index']}", **det, **extra}
                for det in self.detections]

    def to_json(self) -> dict[str, Any]:
        """The record as JSON data (a spool on disk); :meth:`from_json` reads it back exactly."""
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "source": self.source,
            "frame": self.frame,
            "timestamp": self.timestamp,
            "logged_at_us": (self.logged_at - EPOCH) // MICROSECOND,  # integers: exact both ways
            "detections": None if self.detections is None else list(self.detections),
            "value": self.value,
            "file": self.file,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FrameRecord:
        logged_at = EPOCH + data["logged_at_us"] * MICROSECOND
        detections = data["detections"]
        return cls(data["run_id"], data["workflow"], data["source"], data["frame"], data["timestamp"], logged_at,
                   iso_time(logged_at), None if detections is None else tuple(detections), data["value"],
                   data.get("file", ""))  # spools written before records named files have none


@dataclass
class RecordBuilder:
    """Makes the record of a frame that passed the gate, from the fields the gate already read."""

    workflow: str
    run_id: str
    mask: str = "none"

    def frame(self, findings: Findings) -> FrameRecord:
        packet, dets = findings.packet, findings.detections
        detections = None
        if dets is not None:
            detections = tuple(findings.fields)
            if self.mask != "none" and dets.mask is not None:
                encode = mask_rle if self.mask == "rle" else mask_polygons
                detections = tuple({**fields, "mask": encode(dets.mask[i])} for i, fields in enumerate(detections))
        now = datetime.now(timezone.utc)
        return FrameRecord(
            run_id=self.run_id,
            workflow=self.workflow or packet.workflow_name,
            source=packet.source_id,
            frame=packet.frame_index,
            timestamp=jsonable(float(packet.timestamp)),
            logged_at=now,
            time=iso_time(now),
            detections=detections,
            value=findings.json_value,
            file=packet.file,
        )


def dumps(record: Mapping[str, Any]) -> str:
    """One compact JSON line (no NaN: records are already JSON-able)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
