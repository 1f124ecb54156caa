"""Sub-pixel object edges from the grey levels along a binary mask's boundary.

A threshold or a segmenter decides each pixel in or out, so a mask's edge is
known only to half a pixel: a 20-pixel-wide bar reads 20 or 21 px, a curved
cap gains or loses a whole row. The camera image holds more: a pixel cut by
the object's edge has a grey level between the object's and the background's,
in proportion to how much of it the object covers. :func:`coverage` turns the
grey levels in a one-pixel band around the mask's boundary into that fraction;
:func:`crossing_points` puts the edge where the coverage crosses one half
between neighbouring pixels. On a binary coverage (no image, or no contrast)
the crossings are the pixel-edge midpoints, so both paths share one geometry.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_CONTRAST = 12.0  # grey levels between object and background below which edges stay binary
MIN_AGREEMENT = 0.9  # share of boundary-band pixels whose grey level must agree with the mask
_SQUARE = np.ones((3, 3), np.uint8)


def coverage(mask: np.ndarray, gray: np.ndarray | None) -> np.ndarray:
    """Per-pixel fraction of each pixel covered by the object, 0..1, as float64.

    ``mask`` and ``gray`` are the same crop (``gray`` NaN outside the frame).
    Inside the mask's two-pixel erosion the fraction is 1, outside its two-pixel
    dilation 0; in the band between, it is the grey level scaled between the
    object's level (median over the mask's interior) and the background's
    (median over a ring outside it). Without an image, with less than :data:`MIN_CONTRAST` between the two
    levels, or where the grey levels disagree with the mask on more than a
    tenth of the band (a textured object, a mask from a model that follows
    something else), the mask itself is returned.
    """
    binary = mask.astype(np.float64)
    if gray is None:
        return binary
    m = mask.astype(np.uint8)
    inner = cv2.erode(m, _SQUARE, iterations=2).astype(bool)
    outer = cv2.dilate(m, _SQUARE, iterations=2).astype(bool)
    interior = cv2.erode(m, _SQUARE, iterations=3).astype(bool)
    ring = cv2.dilate(m, _SQUARE, iterations=5).astype(bool) & ~cv2.dilate(m, _SQUARE, iterations=3).astype(bool)
    if not interior.any():
        interior = inner if inner.any() else mask.astype(bool)
    if not ring.any():
        return binary
    g = gray.astype(np.float64)
    seen = ~np.isnan(g)  # outside the frame there are no grey levels: the mask's edge stands
    if not (interior & seen).any() or not (ring & seen).any():
        return binary
    level_in, level_out = float(np.median(g[interior & seen])), float(np.median(g[ring & seen]))
    if abs(level_in - level_out) < MIN_CONTRAST:
        return binary
    fraction = np.clip((g - level_out) / (level_in - level_out), 0.0, 1.0)
    band = outer & ~inner & seen
    if np.mean((fraction[band] >= 0.5) == mask[band]) < MIN_AGREEMENT:
        return binary  # the grey levels do not explain this mask (texture, another object)
    return np.where(band, fraction, binary)


def crossing_points(cover: np.ndarray, reach: int = 2) -> np.ndarray:
    """Sub-pixel edge points where the coverage crosses 1/2, as (x, y) float rows.

    Along a row, the covered length equals the edge's mean position over that
    row: for the pair of neighbours ``a`` (covered at least half) and ``b``
    (less), the edge lies at ``x_a + 1/2`` minus what is missing from ``a`` and
    up to ``reach - 1`` covered pixels before it, plus what is covered of ``b``
    and up to ``reach - 1`` pixels after it. For a binary coverage that is the
    midpoint of the pixel edge. A pair is used only where the edge crosses its
    axis more than it runs along it (the coverage changes more along the pair
    than across it): along a nearly parallel edge the row sum is unbounded.
    ``cover`` must have an empty border of ``reach + 1`` pixels.
    """
    points = []
    for axis in (1, 0):
        c = cover if axis == 1 else cover.T  # rows of c run along the pair's axis
        a, b = c[1:-1, :-1], c[1:-1, 1:]
        inward = a >= 0.5
        cross = inward != (b >= 0.5)
        across = np.abs((c[2:, :-1] + c[2:, 1:]) - (c[:-2, :-1] + c[:-2, 1:])) / 4
        cross &= np.abs(b - a) >= across
        rows, cols = np.nonzero(cross)
        # Orient every pair so that `inside` is the covered pixel and `step` points outwards.
        step = np.where(inward[rows, cols], 1, -1)
        inside = np.where(step == 1, cols, cols + 1)
        r = rows + 1
        offset = 0.5 - (1.0 - c[r, inside])
        go_in = go_out = np.ones(len(r), dtype=bool)
        for k in range(1, reach):
            before, after = c[r, inside - k * step], c[r, inside + (k + 1) * step]
            go_in = go_in & (before >= 0.5)
            go_out = go_out & (after < 0.5)
            offset += np.where(go_in, before - 1.0, 0.0) + np.where(go_out, after, 0.0)
        offset += c[r, inside + step]
        position = inside + step * offset
        if axis == 1:
            points.append(np.column_stack([position, r.astype(np.float64)]))
        else:
            points.append(np.column_stack([r.astype(np.float64), position]))
    return np.concatenate(points)
