"""Mask targets that sit where the label says: ultralytics' polygon fill, replaced while ``segflow train`` runs.

ultralytics rasterizes each label polygon with ``cv2.fillPoly`` on integer vertices,
at a quarter of the training size by default (``mask_ratio`` 4). ``fillPoly`` paints
every cell the outline touches, so the targets run about half a cell outside the
polygon — at imgsz 320 on a 640 px frame, a quarter-size cell is 8 frame pixels and
the shipped stone model learned masks a pixel fat all round
(assets/models/MODEL_CARD.md). A model learns its targets' bias; a measurement
tool cannot afford it.

Here a label polygon is read in continuous coordinates (a pixel spans [i, i+1],
as an annotator draws and as :func:`segflow.vision.yolo_dataset.mask_outline`
writes) and filled on 4 × 4 samples per cell with sub-pixel vertices; a cell is
set when half its samples are painted. ``fillPoly`` also paints the samples the
outline touches, so a cell about a quarter inside is set: a hand-drawn polygon
comes out up to a quarter pixel fat, and a mask's ``mask_outline`` (traced 1/8 px
inside its pixel edges) fills back to exactly that mask (both tested). With ``mask_ratio`` 1 the loss then compares the
model's upsampled prototypes with a full-size target, as ``retina_masks`` decodes
them at inference.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from segflow.vision.outline_fill import exact_polygon_mask, is_trace, trace_pixels
from segflow.vision.yolo_dataset import mask_outline

__all__ = ["exact_mask_targets", "exact_polygon_mask", "outlines_for_traces"]


def outlines_for_traces(labels: list[dict[str, Any]]) -> int:
    """Each ultralytics label's traced segments (whole-pixel vertices) replaced by their pixels' outlines.

    Done as the labels are loaded, before any augmentation moves the vertices off
    whole pixels; the box of a changed segment is taken again from its outline. The
    number of segments changed.
    """
    changed = 0
    for label in labels:
        segments, (h, w) = label.get("segments") or [], label["shape"]
        for i, segment in enumerate(segments):
            pixels = np.asarray(segment, np.float64).reshape(-1, 2) * (w, h)
            if not is_trace(pixels):
                continue
            outline = mask_outline(trace_pixels(pixels, h, w)).astype(np.float64)
            if len(outline) < 3:
                continue
            segments[i] = (outline / (w, h)).astype(np.float32)
            (x0, y0), (x1, y1) = outline.min(0), outline.max(0)
            if len(label.get("bboxes", ())) == len(segments):  # xywh, normalised
                label["bboxes"][i] = ((x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h)
            changed += 1
    return changed


@contextmanager
def exact_mask_targets() -> Iterator[None]:
    """Within the block, ultralytics' datasets fill their mask targets with :func:`exact_polygon_mask`.

    Patches the one function ultralytics' ``polygons2masks`` and
    ``polygons2masks_overlap`` call; data-loader workers forked inside the block
    inherit it. Labels traced through pixel centres (:func:`~segflow.vision.outline_fill.is_trace`:
    segflow's own labels before the outline convention, most mask converters' output)
    are turned into outlines as the dataset loads them, so they are filled as meant.
    """
    import ultralytics.data.dataset as datasets
    import ultralytics.data.utils as data_utils

    original, original_labels = data_utils.polygon2mask, datasets.YOLODataset.get_labels

    def get_labels(self: Any) -> list[dict[str, Any]]:
        labels = original_labels(self)
        outlines_for_traces(labels)
        return labels

    data_utils.polygon2mask = exact_polygon_mask
    datasets.YOLODataset.get_labels = get_labels
    try:
        yield
    finally:
        data_utils.polygon2mask = original
        datasets.YOLODataset.get_labels = original_labels
