"""Anti-aliased renders of exact shapes, for measurement ground truth.

Each pixel's grey level is the share of its S x S sub-sample centres that fall
inside the shape (tested analytically, with no drawing library), scaled between
a background and an object level: the picture a camera with a box-shaped pixel
gives of a sharp edge. The code under test never sees these shapes, only the
pixels and a threshold of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Inside = Callable[[np.ndarray, np.ndarray], np.ndarray]


def coverage(inside: Inside, shape: tuple[int, int], samples: int = 8) -> np.ndarray:
    """Fraction of each pixel inside the shape; pixel (x, y) spans [x-1/2, x+1/2] x [y-1/2, y+1/2]."""
    h, w = shape
    offsets = (np.arange(samples) + 0.5) / samples - 0.5
    ys = (np.arange(h)[:, None] + offsets).ravel()
    xs = (np.arange(w)[:, None] + offsets).ravel()
    grid_x, grid_y = np.meshgrid(xs, ys)
    return inside(grid_x, grid_y).reshape(h, samples, w, samples).mean(axis=(1, 3))


def grey(cover: np.ndarray, noise: float = 2.0, seed: int = 0) -> np.ndarray:
    """8-bit picture: background 40, object 220, with Gaussian sensor noise."""
    rng = np.random.default_rng(seed)
    return np.clip(40 + 180 * cover + rng.normal(0, noise, cover.shape), 0, 255).round().astype(np.uint8)


def _frame(cx: float, cy: float, angle_deg: float, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates along and across a shape whose long axis is at ``angle_deg`` (counter-clockwise on screen)."""
    t = math.radians(angle_deg)
    dx, dy = x - cx, y - cy
    return dx * math.cos(t) - dy * math.sin(t), dx * math.sin(t) + dy * math.cos(t)


def bar(cx: float, cy: float, length: float, width: float, angle_deg: float) -> Inside:
    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _frame(cx, cy, angle_deg, x, y)
        return (np.abs(u) <= length / 2) & (np.abs(v) <= width / 2)

    return inside


def ellipse(cx: float, cy: float, a: float, b: float, angle_deg: float) -> Inside:
    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _frame(cx, cy, angle_deg, x, y)
        return (u / a) ** 2 + (v / b) ** 2 <= 1

    return inside


def ribbon(points: np.ndarray, width: float) -> Inside:
    """Everything within width/2 of a polyline: a crack of constant width with round ends."""
    p = np.asarray(points, float)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        best = np.full(x.shape, np.inf)
        for start, end in zip(p[:-1], p[1:], strict=True):
            d = end - start
            t = np.clip(((x - start[0]) * d[0] + (y - start[1]) * d[1]) / (d @ d), 0, 1)
            best = np.minimum(best, np.hypot(x - start[0] - t * d[0], y - start[1] - t * d[1]))
        return best <= width / 2

    return inside
