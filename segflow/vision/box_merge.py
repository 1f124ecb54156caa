"""Several detections' boxes and masks as one: how much two overlap, and what they make together.

Three nodes unite detections (``detections.union``: one box around a frame's
detections; ``crop.stitch``: one object cut by tile borders; ``detections.consensus``:
one object several detectors agree on). They measure and unite with these
functions, so "the union of these boxes and masks" has one meaning everywhere.
Boxes are xyxy in pixels, masks boolean (H, W) arrays; numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def overlap(a: np.ndarray, b: np.ndarray, match: str) -> float:
    """Overlap of two xyxy boxes: intersection over the smaller (``ios``), or over the union (``iou``)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    base = min(area_a, area_b) if match == "ios" else area_a + area_b - inter
    return float(inter / base) if base > 0 else 0.0


def mask_overlap(a: np.ndarray, b: np.ndarray, match: str) -> float:
    """Overlap of two boolean masks, by pixel count: ``ios`` or ``iou`` as :func:`overlap`."""
    inter = np.count_nonzero(a & b)
    if inter == 0:
        return 0.0
    na, nb = np.count_nonzero(a), np.count_nonzero(b)
    base = min(na, nb) if match == "ios" else na + nb - inter
    return float(inter / base)


def union_box(boxes: np.ndarray) -> np.ndarray:
    """The smallest xyxy box holding every one of the (N, 4) ``boxes`` (N >= 1)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.array([*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0)])


def merge_boxes(boxes: np.ndarray, how: str) -> np.ndarray:
    """One xyxy box from (N, 4) boxes: union, intersection, largest, smallest or mean of the corners.

    An ``intersection`` of boxes that share nothing is their mean.
    """
    if how == "union":
        return union_box(boxes)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    if how == "intersection":
        common = np.array([*boxes[:, :2].max(axis=0), *boxes[:, 2:].min(axis=0)])
        if common[2] > common[0] and common[3] > common[1]:
            return common
    if how == "largest":
        return boxes[int(np.argmax(areas))]
    if how == "smallest":
        return boxes[int(np.argmin(areas))]
    return boxes.mean(axis=0)


def unite(xyxy: np.ndarray, masks: np.ndarray | None,
          groups: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray | None]:
    """Per group of detection indices, the union box and the or-ed mask.

    Boxes come back as float32 (G, 4); masks as (G, H, W), or None when the detections have none.
    """
    boxes = np.array([union_box(xyxy[list(group)]) for group in groups], dtype=np.float32).reshape(-1, 4)
    if masks is None:
        return boxes, None
    united = np.zeros((len(groups), *masks.shape[1:]), dtype=bool)
    for row, group in enumerate(groups):
        np.any(masks[list(group)], axis=0, out=united[row])
    return boxes, united
