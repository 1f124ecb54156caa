"""``annotate.detections``: draw masks, boxes, labels and traces with supervision's annotators.

Labels come from a format string over each detection's fields, e.g.
``"{class_name} {length_mm:.1f} mm"``. A field that is missing, NaN or of the
wrong type for its format shows as ``?`` instead of failing the frame: a label
must never stop a production line.
"""

from __future__ import annotations

import math
import string
import threading
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type
from segflow.engine.text import check_template

if TYPE_CHECKING:  # supervision costs ~0.8 s to import: only nodes that run pay it
    import supervision as sv

MISSING = "?"


class _Missing:
    """Stands in for an absent field: formats as '?' whatever the format spec."""

    def __format__(self, spec: str) -> str:
        return MISSING


class _Measured:
    """A field with a ``<name>_u`` uncertainty beside it, for the ``+-`` format suffix."""

    def __init__(self, value: Any, uncertainty: Any) -> None:
        self.value, self.uncertainty = value, uncertainty


class LabelFormatter(string.Formatter):
    """``str.format`` that tolerates missing fields, NaN and mismatched specs.

    A spec ending in ``+-`` also prints the field's uncertainty (the ``<name>_u``
    field measure.masks writes) in the same format: ``{length_mm:.2f+-}`` reads
    ``12.35+/-0.04``. Labels are drawn with OpenCV's Hershey fonts, which have
    no ``±``.
    """

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        if not isinstance(key, str) or key not in kwargs:
            return _Missing()
        if f"{key}_u" in kwargs:
            return _Measured(kwargs[key], kwargs[f"{key}_u"])
        return kwargs[key]

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        # Plain field names only: no attribute or item access into Python objects.
        if not field_name.isidentifier():
            return _Missing(), field_name
        return self.get_value(field_name, args, kwargs), field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, _Measured):
            if not format_spec.endswith("+-"):
                return self.format_field(value.value, format_spec)
            spec = format_spec[:-2]
            return f"{self.format_field(value.value, spec)}+/-{self.format_field(value.uncertainty, spec)}"
        if isinstance(value, float) and math.isnan(value):
            return MISSING
        try:
            return super().format_field(value, format_spec)
        except (ValueError, TypeError):
            return MISSING


def detection_fields(detections: sv.Detections, i: int) -> dict[str, Any]:
    """Plain Python values of detection ``i``: built-in attributes plus its data fields."""
    fields: dict[str, Any] = {}
    for name in ("confidence", "class_id", "tracker_id"):
        array = getattr(detections, name)
        if array is not None:
            fields[name] = array[i].item()
    for name, array in detections.data.items():
        value = array[i]
        fields[name] = value.item() if isinstance(value, np.generic) else value
    return fields


def format_labels(detections: sv.Detections, template: str) -> list[str]:
    formatter = LabelFormatter()
    return [
        formatter.format(template, **detection_fields(detections, i))
        for i in range(len(detections))
    ]


class AnnotateParams(Params):
    masks: bool = Field(True, description="Fill masks (where the detections have them).")
    mask_opacity: float = Field(0.45, ge=0, le=1, description="Opacity of mask fills.")
    boxes: bool = Field(True, description="Draw boxes.")
    thickness: int = Field(2, ge=1, le=50, description="Line thickness of boxes and traces.")
    label: str | None = Field(
        "{class_name} {confidence:.2f}",
        description="Label format over each detection's fields, e.g. "
        "'{class_name} {length_mm:.1f} mm'; '{length_mm:.2f+-}' adds the uncertainty (12.35+/-0.04); "
        "missing fields show as '?'. Empty: no labels.",
    )
    text_scale: float = Field(0.5, gt=0, le=10, description="Label text size.")
    traces: bool = Field(True, description="Draw each track's recent path (needs tracker ids).")
    trace_length: int = Field(30, ge=2, le=10_000, description="Frames of path to draw.")
    colour_by: Literal["class", "track", "index"] = Field(
        "class", description="What picks each detection's colour."
    )

    @field_validator("label")
    @classmethod
    def _parsable(cls, value: str | None) -> str | None:
        # Any detection field may be named; the spec is checked (a width of 999999999 is a gigabyte).
        return check_template(value, "label format", suffix="+-") if value else value


def with_class_ids(detections: Any) -> Any:
    """Supervision's annotators colour by class id: give class 0 to detections that have none."""
    if detections.class_id is not None or not len(detections):
        return detections
    import supervision as sv

    return sv.Detections(
        xyxy=detections.xyxy,
        mask=detections.mask,
        confidence=detections.confidence,
        class_id=np.zeros(len(detections), dtype=int),
        tracker_id=detections.tracker_id,
        data=detections.data,
    )


@node_type("annotate.detections")
class Annotate(Node):
    """Draw masks, boxes, labels ('{class_name} {length_mm:.1f} mm') and traces on the frame."""

    Params = AnnotateParams
    params: AnnotateParams
    inputs = {
        "image": Port(Kind.IMAGE, "The frame to draw on (it is copied, not changed)."),
        "detections": Port(Kind.DETECTIONS, "What to draw."),
    }
    outputs = {"image": Port(Kind.IMAGE, "The annotated frame.")}

    def setup(self) -> None:
        import supervision as sv

        p = self.params
        lookup = sv.ColorLookup[p.colour_by.upper()]
        self._mask = sv.MaskAnnotator(opacity=p.mask_opacity, color_lookup=lookup)
        self._box = sv.BoxAnnotator(thickness=p.thickness, color_lookup=lookup)
        self._label = sv.LabelAnnotator(
            text_scale=p.text_scale, text_padding=4, color_lookup=lookup, smart_position=True
        )
        self._lookup = lookup
        self._traces: dict[str, sv.TraceAnnotator] = {}
        self._lock = threading.Lock()

    def _trace_annotator(self, source: str) -> sv.TraceAnnotator:
        import supervision as sv

        with self._lock:
            annotator = self._traces.get(source)
            if annotator is None:
                annotator = self._traces[source] = sv.TraceAnnotator(
                    trace_length=self.params.trace_length,
                    thickness=self.params.thickness,
                    color_lookup=self._lookup,
                )
            return annotator

    def process(self, inputs: Inputs) -> dict[str, Any]:
        frame = inputs["image"]
        detections = inputs["detections"]
        pixels = frame.pixels
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[:, :, None], 3, axis=2)
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            raise NodeError(
                f"annotate.detections '{self.node_id}': needs an 8-bit BGR or gray image, got "
                f"{pixels.dtype} {pixels.shape}",
                hint="connect the source's image output",
            )
        scene = pixels.copy()
        p = self.params
        if p.colour_by == "track" and detections.tracker_id is None and len(detections):
            raise NodeError(
                f"annotate.detections '{self.node_id}': colour_by track needs tracker ids",
                hint="put track.bytetrack before it, or use colour_by: class",
            )
        if p.colour_by == "class":
            detections = with_class_ids(detections)
        if len(detections):
            if p.masks and detections.mask is not None:
                scene = self._mask.annotate(scene, detections)
            if p.boxes:
                scene = self._box.annotate(scene, detections)
        if p.traces and detections.tracker_id is not None:
            tracked = detections[detections.tracker_id >= 0] if len(detections) else detections
            scene = self._trace_annotator(inputs.packet.source_id).annotate(scene, tracked)
        if p.label and len(detections):
            scene = self._label.annotate(
                scene, detections, labels=format_labels(detections, p.label)
            )
        return {"image": frame.with_pixels(scene)}
