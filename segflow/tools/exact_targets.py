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

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import cv2
import numpy as np

SAMPLES = 4  # sub-samples per cell side
_FIXED_POINT_BITS = 4  # fillPoly's sub-pixel vertex precision (1/16 of a sample)


def exact_polygon_mask(
    imgsz: tuple[int, int], polygons: Sequence[np.ndarray], color: int = 1, downsample_ratio: int = 1
) -> np.ndarray:
    """``polygons`` (flat x, y lists in ``imgsz`` pixels) as a (h / ratio, w / ratio) uint8 mask of the cells inside."""
    h, w = imgsz[0] // downsample_ratio, imgsz[1] // downsample_ratio
    fine = np.zeros((h * SAMPLES, w * SAMPLES), np.uint8)
    scale = SAMPLES / downsample_ratio
    points = [
        # continuous coordinate c -> fine grid, whose sample k is centred on c = (k + 0.5) / scale
        np.round((np.asarray(p, np.float64).reshape(-1, 2) * scale - 0.5) * (1 << _FIXED_POINT_BITS)).astype(np.int32)
        for p in polygons
    ]
    cv2.fillPoly(fine, points, color=255, shift=_FIXED_POINT_BITS)
    coverage = cv2.resize(fine, (w, h), interpolation=cv2.INTER_AREA)
    return ((coverage >= 128) * color).astype(np.uint8)


@contextmanager
def exact_mask_targets() -> Iterator[None]:
    """Within the block, ultralytics' datasets build their mask targets with :func:`exact_polygon_mask`.

    Patches the one function ultralytics' ``polygons2masks`` and
    ``polygons2masks_overlap`` call; data-loader workers forked inside the block
    inherit it.
    """
    import ultralytics.data.utils as data_utils

    original = data_utils.polygon2mask
    data_utils.polygon2mask = exact_polygon_mask
    try:
        yield
    finally:
        data_utils.polygon2mask = original
