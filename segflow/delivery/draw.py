"""Drawing findings onto a frame for the video and image sinks, with supervision's annotators.

Masks are blended, boxes outlined and each detection labelled with its class
and confidence, colours by class, so a reviewer sees what the sink saw.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from segflow.delivery.records import class_names
from segflow.nodes.detections.annotate import with_class_ids


@lru_cache(maxsize=1)
def _annotators() -> tuple[Any, Any, Any]:
    import supervision as sv

    lookup = sv.ColorLookup.CLASS
    return (
        sv.MaskAnnotator(opacity=0.45, color_lookup=lookup),
        sv.BoxAnnotator(thickness=2, color_lookup=lookup),
        sv.LabelAnnotator(text_scale=0.4, text_padding=3, color_lookup=lookup),
    )


def labels(detections: Any) -> list[str]:
    names = class_names(detections)
    if detections.confidence is None:
        return names
    return [f"{n} {float(c):.2f}" for n, c in zip(names, detections.confidence, strict=True)]


def annotate(pixels: np.ndarray, detections: Any) -> np.ndarray:
    """A copy of ``pixels`` (BGR) with masks, boxes and labels drawn; unchanged if none."""
    out = pixels.copy()
    if detections is None or len(detections) == 0:
        return out
    detections = with_class_ids(detections)
    mask_annotator, box_annotator, label_annotator = _annotators()
    if detections.mask is not None and detections.mask.shape[1:] == out.shape[:2]:
        out = mask_annotator.annotate(out, detections)
    out = box_annotator.annotate(out, detections)
    return label_annotator.annotate(out, detections, labels=labels(detections))
