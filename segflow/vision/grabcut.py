"""Box-prompted masks with OpenCV's GrabCut: shared by ``segment.grabcut`` and Label mode's assistant."""

from __future__ import annotations

import cv2
import numpy as np


def grabcut_box(
    image: np.ndarray, box: np.ndarray, iterations: int, padding: int, context: float
) -> np.ndarray:
    """A full-frame bool mask of the object in ``box`` (x0, y0, x1, y1), or all False."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    x0, y0 = max(0, int(np.floor(x0)) - padding), max(0, int(np.floor(y0)) - padding)
    x1, y1 = min(w, int(np.ceil(x1)) + padding), min(h, int(np.ceil(y1)) + padding)
    mask = np.zeros((h, w), bool)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return mask
    mx, my = max(2, int((x1 - x0) * context)), max(2, int((y1 - y0) * context))
    cx0, cy0 = max(0, x0 - mx), max(0, y0 - my)
    cx1, cy1 = min(w, x1 + mx), min(h, y1 + my)
    crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
    labels = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
    labels[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] = cv2.GC_PR_FGD
    if (labels == cv2.GC_BGD).sum() < 16:
        # The box fills the whole frame: no background to learn from, so treat its
        # outermost pixels as background instead.
        labels[[0, -1], :] = cv2.GC_BGD
        labels[:, [0, -1]] = cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(crop, labels, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return mask  # e.g. a single-colour crop: GrabCut cannot fit its colour models
    mask[cy0:cy1, cx0:cx1] = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    return mask


def largest_part(mask: np.ndarray) -> np.ndarray:
    """The biggest 8-connected part of a mask: GrabCut leaves specks around the object."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
