"""Drawing detections on a frame: the one drawing code of ``annotate.detections`` and the image/video sinks.

Masks are blended, boxes outlined, each track's recent path traced and each
detection labelled from a format string over its fields, e.g.
``"{class_name} {length_mm:.1f} mm"``, with supervision's annotators. A field
that is missing, NaN or of the wrong type for its format shows as ``?``
instead of failing the frame: a label must never stop a production line.
"""

from __future__ import annotations

import math
import string
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # supervision costs ~0.8 s to import: only what draws pays it
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


def label_fields(detections: sv.Detections, i: int) -> dict[str, Any]:
    """Plain Python values of detection ``i``: built-in attributes plus its data fields.

    ``class_name`` falls back to the class id as text, so a model without names still labels.
    """
    fields: dict[str, Any] = {}
    for name in ("confidence", "class_id", "tracker_id"):
        array = getattr(detections, name)
        if array is not None:
            fields[name] = array[i].item()
    for name, array in detections.data.items():
        value = array[i]
        fields[name] = value.item() if isinstance(value, np.generic) else value
    if "class_name" not in fields and "class_id" in fields:
        fields["class_name"] = str(fields["class_id"])
    return fields


def format_labels(detections: sv.Detections, template: str) -> list[str]:
    formatter = LabelFormatter()
    return [
        formatter.format(template, **label_fields(detections, i))
        for i in range(len(detections))
    ]


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


@dataclass(frozen=True)
class Style:
    """How detections are drawn; the defaults are what the image and video sinks draw."""

    masks: bool = True
    mask_opacity: float = 0.45
    boxes: bool = True
    thickness: int = 2
    label: str | None = "{class_name} {confidence:.2f}"
    text_scale: float = 0.5
    traces: bool = True
    trace_length: int = 30
    colour_by: str = "class"  # class | track | index


class Painter:
    """Draws detections in one :class:`Style`; keeps each source's traces, so one per node."""

    def __init__(self, style: Style) -> None:
        import supervision as sv

        self.style = style
        self._lookup = sv.ColorLookup[style.colour_by.upper()]
        self._mask = sv.MaskAnnotator(opacity=style.mask_opacity, color_lookup=self._lookup)
        self._box = sv.BoxAnnotator(thickness=style.thickness, color_lookup=self._lookup)
        self._label = sv.LabelAnnotator(
            text_scale=style.text_scale, text_padding=4, color_lookup=self._lookup, smart_position=True
        )
        self._traces: dict[str, sv.TraceAnnotator] = {}
        self._lock = threading.Lock()

    def _trace_annotator(self, source: str) -> sv.TraceAnnotator:
        import supervision as sv

        with self._lock:
            annotator = self._traces.get(source)
            if annotator is None:
                annotator = self._traces[source] = sv.TraceAnnotator(
                    trace_length=self.style.trace_length,
                    thickness=self.style.thickness,
                    color_lookup=self._lookup,
                )
            return annotator

    def forget_traces(self) -> None:
        """Start every source's paths afresh (the tracker they follow started afresh)."""
        with self._lock:
            self._traces.clear()

    def draw(self, pixels: np.ndarray, detections: Any, source: str) -> np.ndarray:
        """A BGR copy of ``pixels`` (gray is made BGR) with ``detections`` drawn; None draws nothing."""
        scene = np.repeat(pixels[:, :, None], 3, axis=2) if pixels.ndim == 2 else pixels.copy()
        if detections is None:
            return scene
        style = self.style
        if style.colour_by == "class":
            detections = with_class_ids(detections)
        if len(detections):
            if style.masks and detections.mask is not None and detections.mask.shape[1:] == scene.shape[:2]:
                scene = self._mask.annotate(scene, detections)
            if style.boxes:
                scene = self._box.annotate(scene, detections)
        if style.traces and detections.tracker_id is not None:
            tracked = detections[detections.tracker_id >= 0] if len(detections) else detections
            scene = self._trace_annotator(source).annotate(scene, tracked)
        if style.label and len(detections):
            scene = self._label.annotate(scene, detections, labels=format_labels(detections, style.label))
        return scene
