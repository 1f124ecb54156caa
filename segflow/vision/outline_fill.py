"""Label polygons back to pixels, in the two conventions label files come in.

A label polygon is either an **outline** (continuous coordinates, a pixel spans
[i, i+1]: what an annotator draws, what :func:`~segflow.vision.yolo_dataset.mask_outline`
writes) or a **trace** through the centres of a mask's border pixels (every vertex on
whole pixels: what ``cv2.findContours`` gives, what segflow's labeller and
``sink.dataset`` wrote before the outline convention, and what most mask-to-polygon
converters write). The two differ by half a pixel all round: read one as the other
and a mask comes back a pixel too small or too big in each direction, and a model
trained on it learns that bias (a trace filled as an outline loses a strip along two sides: −5 % of
the area of a 20 px disc, −2.6 % at 40 px).

:func:`exact_polygon_mask` fills an outline by exact coverage; :func:`is_trace` tells a
trace by its whole-pixel vertices, and :func:`polygon_pixels` fills either kind as it
was meant. A hand-drawn polygon whose clicks all landed on whole pixels is taken for
a trace and comes back half a pixel fatter than drawn: the price of reading old
labels right.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

SAMPLES = 4  # sub-samples per cell side
_FIXED_POINT_BITS = 4  # fillPoly's sub-pixel vertex precision (1/16 of a sample)
_TRACE_TOLERANCE_PX = 0.01  # label files keep 6 decimals of the image size: 0.006 px at 6000 px


def exact_polygon_mask(
    imgsz: tuple[int, int], polygons: Sequence[np.ndarray], color: int = 1, downsample_ratio: int = 1
) -> np.ndarray:
    """``polygons`` (flat x, y lists in ``imgsz`` pixels, outlines) as a (h / ratio, w / ratio) uint8 mask.

    Each polygon is filled on 4 × 4 samples per cell with sub-pixel vertices; a cell is
    set when half its samples are painted. ``fillPoly`` also paints the samples the
    outline touches, so a cell about a quarter inside is set: a hand-drawn polygon comes
    out up to a quarter pixel fat, and a mask's ``mask_outline`` (traced 1/8 px inside its
    pixel edges) fills back to exactly that mask.
    """
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


def is_trace(polygon: np.ndarray, tolerance: float = _TRACE_TOLERANCE_PX) -> bool:
    """True when every vertex (pixels) lies on whole pixels: a trace through border pixels' centres."""
    points = np.asarray(polygon, np.float64).reshape(-1, 2)
    return len(points) >= 3 and bool(np.all(np.abs(points - np.round(points)) <= tolerance))


def trace_pixels(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """The pixels a trace was taken from: the polygon on whole pixels, its border pixels included."""
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(polygon, np.float64)).astype(np.int32).reshape(-1, 1, 2)], 1)
    return mask.astype(bool)


def polygon_pixels(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """A label polygon (pixels) as the bool mask it stands for, read in its own convention."""
    points = np.asarray(polygon, np.float64).reshape(-1, 2)
    if len(points) < 3:
        return np.zeros((height, width), bool)
    if is_trace(points):
        return trace_pixels(points, height, width)
    return exact_polygon_mask((height, width), [points.reshape(-1)]).astype(bool)
