"""A model's calibrated mask offset: its masks' outlines moved in by what they are known to overreach.

A segmentation model's masks can sit systematically off the objects: YOLO-seg
builds them from prototypes at a quarter of its input size, so at imgsz 320 on a
640 px frame every outline is an upsampled 8 px grid that grows where the logit
fades. Where the image's grey levels cannot place the edges (shaded objects
whose rims fade into the background), a metrologist calibrates that bias instead:
the model's masks against exact truth on held-out images of the same kind
(``python -m segflow.tools.mask_accuracy``), giving a mean outward offset and its
uncertainty. Here a mask's pixel-edge outline is moved by that offset
(sub-pixel: the level is the signed distance to the outline, so the coverage
and the edge crossings of :mod:`segflow.vision.mask_geometry` follow it), and
each figure's uncertainty is widened by the calibration's own.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from segflow.vision.mask_geometry import MaskMeasurements
from segflow.vision.outline import Outline

# Figures that span two opposite edges (both move by the offset, so its error counts twice).
TWO_EDGES = ("length", "width", "feret_max", "feret_min", "equivalent_diameter", "circle_diameter", "mean_width")


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Each pixel centre's distance (px) to the mask's pixel-edge outline: negative inside, positive outside."""
    m = mask.astype(np.uint8)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(mask, 0.5 - inside, outside - 0.5).astype(np.float64)


def shift_outline(outline: Outline, offset_px: float) -> Outline:
    """The mask-edge ``outline`` moved ``offset_px`` inwards (negative: outwards), sub-pixel.

    Only an outline from the mask's own edges is moved: edges placed from the
    image do not carry the model's bias. The crop's empty border (3 px) bounds
    how far it can grow.
    """
    if offset_px == 0 or outline.fit.method != "mask":
        return outline
    level = signed_distance(outline.fit.level < 0) + offset_px
    return dataclasses.replace(outline, fit=dataclasses.replace(outline.fit, level=level))


def widen(m: MaskMeasurements, offset_u_px: float, mm_per_unit: float = 1.0) -> MaskMeasurements:
    """``m`` with each figure's uncertainty widened by the calibrated offset's own (``offset_u_px``).

    The offset moves every edge alike, so its error is fully correlated: twice it on a
    two-edge figure, the perimeter times it on an area, 2 pi times it on a perimeter.
    """
    if offset_u_px == 0:
        return m
    e = offset_u_px * mm_per_unit
    extra = {"area": m.perimeter * e, "perimeter": 2 * math.pi * e, "skeleton_length": 0.0,
             **{name: 2 * e for name in TWO_EDGES}}
    u = {name: math.hypot(m.u.get(name, math.sqrt(2) * m.edge_u), extra.get(name, 0.0)) for name in extra}
    return dataclasses.replace(m, u={**m.u, **u})
