"""Shapes whose measurements are known exactly: the truth that ``measure.masks`` is checked against.

Every shape is a polygon in float pixel coordinates (pixel ``(x, y)`` is the
unit square centred on the integer point), fine enough that curves are
within a thousandth of a pixel of the curve they stand for. Its figures are
computed from that polygon alone — never from a rendering, a mask or the
code under test — with the definitions ``measure.masks`` documents: area,
perimeter of the outline, max Feret diameter, length and width of the
minimum-area rectangle (NaN for a near-round shape, whose rectangle has no
one orientation: see :func:`min_area_rect`), equivalent diameter; for thin objects (bars,
cracks) the skeleton length is the centre line end to end and the mean
width is area over that length (the stroke width, exactly, for a stroke of
constant width with flat ends).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

RECT_MARGIN = 0.05  # length and width are NaN when another rectangle orientation is within 5 % in area


@dataclass(frozen=True)
class Shape:
    """One object: its outline polygon (K x 2, x y, counter-clockwise or not) and, if thin, its centre line."""

    kind: str
    outline: np.ndarray
    centreline: np.ndarray | None = None

    def moved(self, dx: float, dy: float) -> Shape:
        shift = np.array([dx, dy])
        line = None if self.centreline is None else self.centreline + shift
        return Shape(self.kind, self.outline + shift, line)

    def bounds(self) -> tuple[float, float, float, float]:
        x0, y0 = self.outline.min(axis=0)
        x1, y1 = self.outline.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)


def polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def polyline_length(points: np.ndarray, closed: bool) -> float:
    ring = np.vstack([points, points[:1]]) if closed else points
    return float(np.hypot(*np.diff(ring, axis=0).T).sum())


def hull(points: np.ndarray) -> np.ndarray:
    """Convex hull vertices in float64: OpenCV picks them, the truth keeps the exact coordinates."""
    pts = np.asarray(points, np.float64)
    if len(pts) < 3:
        return pts
    return pts[cv2.convexHull(pts.astype(np.float32), returnPoints=False).ravel()]


def min_area_rect(convex: np.ndarray) -> tuple[float, float, float]:
    """Long and short side of the minimum-area rectangle (one side lies along a hull edge), and its margin.

    The margin is how much larger the best rectangle at least 30 degrees away
    is (0.02: 2 % larger). Below :data:`RECT_MARGIN` a near-round object's
    rectangle could turn to either orientation under a tenth of a pixel of
    edge error: its length and width are not defined well enough to be truth.
    """
    edges = np.roll(convex, -1, axis=0) - convex
    norms = np.hypot(edges[:, 0], edges[:, 1])
    along = edges[norms > 1e-12] / norms[norms > 1e-12, None]
    across = np.column_stack([-along[:, 1], along[:, 0]])
    pu, pv = convex @ along.T, convex @ across.T
    spans_u, spans_v = pu.max(0) - pu.min(0), pv.max(0) - pv.min(0)
    areas = spans_u * spans_v
    best = int(np.argmin(areas))
    angles = np.degrees(np.arctan2(along[:, 1], along[:, 0])) % 90.0
    apart = np.abs(angles - angles[best])
    apart = np.minimum(apart, 90.0 - apart) >= 30.0
    margin = float(areas[apart].min() / areas[best] - 1) if apart.any() else math.inf
    return float(max(spans_u[best], spans_v[best])), float(min(spans_u[best], spans_v[best])), margin


def truth(shape: Shape) -> dict[str, float]:
    """Every figure of ``shape`` in pixels (areas in square pixels); thin figures NaN unless thin."""
    convex = hull(shape.outline)
    diff = convex[:, None, :] - convex[None, :, :]
    length, width, margin = min_area_rect(convex)
    if margin < RECT_MARGIN:
        length = width = math.nan
    area = polygon_area(shape.outline)
    out = {
        "area": area,
        "perimeter": polyline_length(shape.outline, closed=True),
        "feret_max": float(np.sqrt((diff**2).sum(-1)).max()),
        "length": length,
        "width": width,
        "equivalent_diameter": math.sqrt(4 * area / math.pi),
        "skeleton_length": math.nan,
        "mean_width": math.nan,
    }
    if shape.centreline is not None:
        out["skeleton_length"] = polyline_length(shape.centreline, closed=False)
        out["mean_width"] = area / out["skeleton_length"]
    return out


def _rotate(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def blob(rng: np.random.Generator, size: float) -> Shape:
    """A smooth convex-ish blob about ``size`` px across: an ellipse with gentle low-order ripples."""
    t = np.linspace(0, 2 * math.pi, 360, endpoint=False)
    aspect = rng.uniform(1.3, 1.8)
    ripple = 1 + sum(rng.uniform(-0.05, 0.05) * np.cos(k * t + rng.uniform(0, 2 * math.pi)) for k in (2, 3))
    pts = np.column_stack([np.cos(t) * aspect, np.sin(t)]) * ripple[:, None]
    pts = _rotate(pts, rng.uniform(0, math.pi))
    return Shape("blob", pts * (size / _span(pts)))


def grain(rng: np.random.Generator, size: float) -> Shape:
    """A grain (of rice, a seed, a capsule's picture): an ellipse 2.5:1 to 4:1, ``size`` px long.

    As narrow as a bar and as long for it, but its width tapers to round ends: whatever
    takes narrow and long for a stroke of constant width reads it wrong.
    """
    t = np.linspace(0, 2 * math.pi, 360, endpoint=False)
    pts = np.column_stack([np.cos(t) * rng.uniform(2.5, 4.0), np.sin(t)])
    pts = _rotate(pts, rng.uniform(0, math.pi))
    return Shape("grain", pts * (size / _span(pts)))


def rectangle(rng: np.random.Generator, size: float) -> Shape:
    """A rectangle with its long side ``size`` px, 1:1 to 2.5:1, at any angle."""
    short = size / rng.uniform(1.0, 2.5)
    pts = np.array([[-size, -short], [size, -short], [size, short], [-size, short]]) / 2
    return Shape("rectangle", _rotate(pts, rng.uniform(0, math.pi)))


def rounded(rng: np.random.Generator, size: float) -> Shape:
    """A rectangle ``size`` px long, 1.2:1 to 2.5:1, its corners rounded to 15-30 % of its short side.

    A moulded, cast or worn part: straight faces, as a rectangle's, but no corner for
    calipers to reach.
    """
    short = size / rng.uniform(1.2, 2.5)
    radius = short * rng.uniform(0.15, 0.3)
    half_x, half_y = size / 2 - radius, short / 2 - radius
    arc = np.radians(np.linspace(0.0, 90.0, 30))
    pts = np.vstack([np.column_stack([cx + radius * np.cos(arc + turn), cy + radius * np.sin(arc + turn)])
                     for cx, cy, turn in ((half_x, half_y, 0.0), (-half_x, half_y, math.pi / 2),
                                          (-half_x, -half_y, math.pi), (half_x, -half_y, 1.5 * math.pi))])
    return Shape("rounded", _rotate(pts, rng.uniform(0, math.pi)))


def circle(rng: np.random.Generator, size: float) -> Shape:
    """A circle ``size`` px across (a coin, a washer, a drop): no rectangle of its own."""
    t = np.linspace(0, 2 * math.pi, 360, endpoint=False) + rng.uniform(0, 2 * math.pi)
    return Shape("circle", np.column_stack([np.cos(t), np.sin(t)]) * size / 2)


def irregular(rng: np.random.Generator, size: float) -> Shape:
    """A lumpy blob ``size`` px across (a pebble, a crumb): ripples of orders 2-5, up to 8 % each."""
    t = np.linspace(0, 2 * math.pi, 360, endpoint=False)
    ripple = 1 + sum(rng.uniform(-0.08, 0.08) * np.cos(k * t + rng.uniform(0, 2 * math.pi)) for k in (2, 3, 4, 5))
    pts = np.column_stack([np.cos(t) * rng.uniform(1.0, 1.6), np.sin(t)]) * ripple[:, None]
    pts = _rotate(pts, rng.uniform(0, math.pi))
    return Shape("irregular", pts * (size / _span(pts)))


def regular(rng: np.random.Generator, size: float, corners: int) -> Shape:
    """A regular polygon of ``corners`` corners (a hex nut's outline: 6), ``size`` px corner to far corner."""
    t = np.linspace(0, 2 * math.pi, corners, endpoint=False) + rng.uniform(0, 2 * math.pi)
    pts = np.column_stack([np.cos(t), np.sin(t)])
    return Shape({5: "pentagon", 6: "hexagon"}.get(corners, f"polygon{corners}"), pts * (size / _span(pts)))


def l_shape(rng: np.random.Generator, size: float) -> Shape:
    """An L (a bracket, an angle iron): two arms 35-60 % of the outline's sides wide, ``size`` px across."""
    arm_x, arm_y = rng.uniform(0.35, 0.6), rng.uniform(0.35, 0.6)
    pts = np.array([[0, 0], [1, 0], [1, arm_y], [arm_x, arm_y], [arm_x, 1], [0, 1]], float)
    pts = (pts * [rng.uniform(1.0, 1.6), 1.0])[::-1]
    pts = _rotate(pts - pts.mean(axis=0), rng.uniform(0, math.pi))
    return Shape("lshape", pts * (size / _span(pts)))


def triangle(rng: np.random.Generator, size: float) -> Shape:
    """A triangle with no angle under 30 degrees, longest side about ``size`` px, at any angle."""
    while True:
        angles = np.sort(rng.uniform(0, 2 * math.pi, 3))
        pts = np.column_stack([np.cos(angles), np.sin(angles)])
        sides = [np.roll(pts, -1, axis=0) - pts, np.roll(pts, 1, axis=0) - pts]
        cos = (sides[0] * sides[1]).sum(1) / np.hypot(*sides[0].T) / np.hypot(*sides[1].T)
        if np.degrees(np.arccos(np.clip(cos, -1, 1))).min() >= 30:
            return Shape("triangle", pts * (size / _span(pts)))


def bar(rng: np.random.Generator, width: float, length: float) -> Shape:
    """A straight bar ``width`` x ``length`` px at any angle; its centre line runs end to end."""
    angle = rng.uniform(0, math.pi)
    pts = np.array([[-length, -width], [length, -width], [length, width], [-length, width]]) / 2
    line = np.array([[-length / 2, 0.0], [length / 2, 0.0]])
    return Shape("bar", _rotate(pts, angle), _rotate(line, angle))


def crack(rng: np.random.Generator, width: float, length: float) -> Shape:
    """A curved stroke of constant ``width`` px, about ``length`` px along, with flat ends.

    The centre line is an arc with a slow wave on it; its radius of curvature
    stays above length / 4 (10 px for the shortest crack, twice the widest
    half-width), so the offset outline never folds over itself and
    area = width x centre-line length holds exactly.
    """
    s = np.linspace(-0.5, 0.5, 300)
    bend = rng.uniform(-1.0, 1.0)
    wave, phase = rng.uniform(0.0, 0.03), rng.uniform(0, 2 * math.pi)
    line = np.column_stack([s, bend * (s**2 - 0.25) / 2 + wave * np.sin(2 * math.pi * 1.5 * s + phase)])
    line = line * (length / polyline_length(line, closed=False))
    line = _rotate(line - line.mean(axis=0), rng.uniform(0, math.pi))
    tangent = np.gradient(line, axis=0)
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]]) / np.hypot(*tangent.T)[:, None]
    left, right = line + normal * width / 2, line - normal * width / 2
    return Shape("crack", np.vstack([left, right[::-1]]), line)


def _span(points: np.ndarray) -> float:
    convex = hull(points)
    return float(np.sqrt(((convex[:, None, :] - convex[None, :, :]) ** 2).sum(-1)).max())


Maker = Callable[[np.random.Generator], Shape]
KINDS = ("blob", "grain", "circle", "irregular", "rectangle", "rounded", "triangle", "pentagon", "hexagon", "lshape",
         "bar", "crack")


def maker(kind: str, size: tuple[float, float], width: tuple[float, float] = (2.0, 6.0)) -> Maker:
    """A function drawing one random shape of ``kind``: size is across (blobs, corners) or along (thin)."""

    def make(rng: np.random.Generator) -> Shape:
        along = rng.uniform(*size)
        if kind == "blob":
            return blob(rng, along)
        if kind == "grain":
            return grain(rng, along)
        if kind == "rectangle":
            return rectangle(rng, along)
        if kind == "circle":
            return circle(rng, along)
        if kind == "irregular":
            return irregular(rng, along)
        if kind in ("pentagon", "hexagon"):
            return regular(rng, along, 5 if kind == "pentagon" else 6)
        if kind == "lshape":
            return l_shape(rng, along)
        if kind == "rounded":
            return rounded(rng, along)
        if kind == "triangle":
            return triangle(rng, along)
        if kind == "bar":
            return bar(rng, rng.uniform(*width), along)
        if kind == "crack":
            return crack(rng, rng.uniform(*width), along)
        raise ValueError(f"unknown shape kind {kind!r}: use one of: {', '.join(KINDS)}")

    return make
