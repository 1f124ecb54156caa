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
    """Fraction of each pixel inside the shape; pixel (x, y) spans [x-1/2, x+1/2] x [y-1/2, y+1/2].

    Pixels whose centre and all eight neighbours' centres agree are taken as wholly in or
    out (true for shapes with no detail under two pixels); the rest are sub-sampled.
    """
    h, w = shape
    grid_y, grid_x = np.mgrid[0:h, 0:w].astype(np.float64)
    centre = inside(grid_x, grid_y)
    padded = np.pad(centre, 1, mode="edge")
    window = [padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    mixed = np.logical_or.reduce(window) & ~np.logical_and.reduce(window)
    out = centre.astype(np.float64)
    ys, xs = np.nonzero(mixed)
    offsets = (np.arange(samples) + 0.5) / samples - 0.5
    sub_x = (xs[:, None, None] + offsets[None, None, :]).repeat(samples, axis=1)
    sub_y = (ys[:, None, None] + offsets[None, :, None]).repeat(samples, axis=2)
    out[ys, xs] = inside(sub_x, sub_y).reshape(len(xs), -1).mean(axis=1)
    return out


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


def union(*shapes: Inside) -> Inside:
    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = shapes[0](x, y)
        for shape in shapes[1:]:
            out = out | shape(x, y)
        return out

    return inside


def minus(shape: Inside, hole: Inside) -> Inside:
    return lambda x, y: shape(x, y) & ~hole(x, y)


def marker_cells(bits: np.ndarray, x0: float, y0: float, side: float) -> Inside:
    """The black cells of a marker image (``bits``: 0 black, 1 white, one entry per cell) at [x0, x0+side]."""
    cells = bits.shape[0]

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        i = np.floor((y - y0) / side * cells).astype(int)
        j = np.floor((x - x0) / side * cells).astype(int)
        within = (i >= 0) & (i < cells) & (j >= 0) & (j < cells)
        out = np.zeros(x.shape, bool)
        out[within] = bits[i[within], j[within]] == 0
        return out

    return inside


def seen_through(shape: Inside, image_to_plane: np.ndarray) -> Inside:
    """A shape drawn on a plane, as a camera sees it: image points are mapped onto the plane first."""

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        h = image_to_plane
        w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
        return shape((h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w, (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w)

    return inside


def tilted_camera(
    tilt_deg: float, yaw_deg: float, mm_per_px: float, centre_mm: tuple[float, float], size: tuple[int, int]
) -> np.ndarray:
    """Homography plane mm -> image px of a pinhole camera tilted by ``tilt_deg`` about its x axis.

    At the image centre one pixel spans ``mm_per_px`` on the plane; the far edge of the
    view is smaller than the near edge by the tilt's perspective.
    """
    h, w = size
    f = 800.0
    t, y = math.radians(tilt_deg), math.radians(yaw_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(t), -math.sin(t)], [0, math.sin(t), math.cos(t)]])
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    r = rx @ rz
    distance = f * mm_per_px  # mm from camera to the plane's centre point along the optical axis
    k = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])
    cx, cy = centre_mm
    plane_to_camera = np.column_stack([r[:, 0], r[:, 1], [0, 0, distance] - r @ [cx, cy, 0]])
    return k @ plane_to_camera
