"""Where a smooth field crosses zero, as line segments (marching squares), in pixel coordinates.

The refined outline of an object is the zero level of a signed-distance-like
field sampled at pixel centres (:mod:`segflow.vision.edges`). Between two
neighbouring centres the field is interpolated linearly, which is exact for a
straight edge, so the segments trace the outline to a small fraction of a
pixel with no staircase: their summed length is the perimeter and their end
points give the convex hull for calipers. Lengths need no chaining of the
segments into loops, so none is done.
"""

from __future__ import annotations

import numpy as np


def zero_segments(level: np.ndarray) -> np.ndarray:
    """Segments of the zero level of ``level`` (negative inside), shape (n, 2, 2) as (x, y) pairs.

    Each 2 x 2 block of pixel centres whose corners differ in sign holds one segment, or
    two for a saddle (split the way the block's mean says: a mean inside joins the two
    inside corners).
    """
    v = np.asarray(level, np.float64)
    inside = v < 0
    h, w = v.shape
    if h < 2 or w < 2:
        return np.zeros((0, 2, 2))
    ys, xs = np.mgrid[0 : h - 1, 0 : w - 1].astype(np.float64)
    tl, tr, bl, br = v[:-1, :-1], v[:-1, 1:], v[1:, :-1], v[1:, 1:]
    i_tl, i_tr, i_bl, i_br = inside[:-1, :-1], inside[:-1, 1:], inside[1:, :-1], inside[1:, 1:]

    def at(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Fraction of the way from a to b where the field crosses zero."""
        return np.clip(a / np.where(a == b, 1e-12, a - b), 0.0, 1.0)

    # Crossing points on the block's four sides: top, right, bottom, left.
    points = [
        np.stack([xs + at(tl, tr), ys], -1),
        np.stack([xs + 1, ys + at(tr, br)], -1),
        np.stack([xs + at(bl, br), ys + 1], -1),
        np.stack([xs, ys + at(tl, bl)], -1),
    ]
    crossed = [i_tl != i_tr, i_tr != i_br, i_bl != i_br, i_tl != i_bl]
    count = sum(c.astype(np.int8) for c in crossed)
    segments = []
    two = count == 2
    if two.any():
        order = np.argsort(~np.stack([c[two] for c in crossed], -1), axis=-1, kind="stable")[:, :2]
        sides = np.stack([p[two] for p in points], 1)  # (n, 4, 2)
        rows = np.arange(len(order))
        segments.append(np.stack([sides[rows, order[:, 0]], sides[rows, order[:, 1]]], 1))
    four = count == 4
    if four.any():
        t, r, b, left = (p[four] for p in points)
        centre_inside = ((tl + tr + bl + br)[four] / 4) < 0
        joined = centre_inside == i_tl[four]  # the top-left corner joins its opposite through the middle
        first = np.where(joined[:, None], np.stack([t, r], 1).reshape(-1, 4), np.stack([t, left], 1).reshape(-1, 4))
        second = np.where(joined[:, None], np.stack([b, left], 1).reshape(-1, 4), np.stack([b, r], 1).reshape(-1, 4))
        segments += [first.reshape(-1, 2, 2), second.reshape(-1, 2, 2)]
    return np.concatenate(segments) if segments else np.zeros((0, 2, 2))


def segments_length(segments: np.ndarray) -> float:
    return float(np.hypot(*(segments[:, 1] - segments[:, 0]).T).sum()) if len(segments) else 0.0
