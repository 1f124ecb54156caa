"""Pure measurement maths on one binary mask, in pixels: no nodes, no units.

Boundary convention: a pixel ``(x, y)`` is the unit square ``[x, x+1) x [y, y+1)``
shifted by half a pixel, so contours are taken on the *pixel edges* (the
midpoints of the edges between a mask pixel and a background pixel), not on
pixel centres. With centres, a 100-pixel-wide rectangle would measure 99 px;
with edges it measures 100 px, and lengths of shapes rendered at a known scale
come out within a fraction of a pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from segflow.vision.edges import BORDER, EdgeFit, fit_edges, from_mask
from segflow.vision.skeleton import (
    free_ends,
    ribbon_mean_width,
    skeleton_paths,
    tip_extension,
    zhang_suen_thinning,
)

# Standard uncertainty of one edge position from a mask alone: a model's mask may sit a pixel
# or two off the object, and nothing in the mask says which way (2u = 2 px).
MASK_EDGE_U_PX = 1.0
UPSAMPLE = 4  # the refined outline's perimeter is traced on a grid this much finer


@dataclass(frozen=True)
class MaskMeasurements:
    """Everything measured on one mask, in pixels (areas in square pixels)."""

    area: float
    perimeter: float
    length: float
    width: float
    angle_deg: float
    feret_max: float
    feret_min: float
    equivalent_diameter: float
    circularity: float
    circle_diameter: float
    skeleton_length: float
    mean_width: float
    edge_u: float  # standard uncertainty of one edge's position, px (sub-pixel or pixel edges)
    u: dict[str, float] = field(default_factory=dict)  # each figure's standard uncertainty from its edges

    @classmethod
    def empty(cls) -> MaskMeasurements:
        nan = float("nan")
        return cls(0.0, 0.0, 0.0, 0.0, nan, 0.0, 0.0, 0.0, nan, nan, 0.0, nan, MASK_EDGE_U_PX)


@dataclass(frozen=True)
class Outline:
    """One object's outline in a crop at (x0, y0) of the frame: each pixel's share inside it."""

    cover: np.ndarray
    x0: int
    y0: int
    fit: EdgeFit

    def mask(self, shape: tuple[int, ...]) -> np.ndarray:
        """The refined outline as a frame-sized mask (pixel centres inside it)."""
        full = np.zeros(shape[:2], bool)
        h, w = self.cover.shape
        top, left = max(self.y0, 0), max(self.x0, 0)
        bottom, right = min(self.y0 + h, shape[0]), min(self.x0 + w, shape[1])
        if bottom > top and right > left:
            full[top:bottom, left:right] = self.cover[top - self.y0 : bottom - self.y0, left - self.x0 : right - self.x0] >= 0.5
        return full


def locate(mask: np.ndarray, gray: np.ndarray | None = None, sigma_hint: float | None = None,
           others: np.ndarray | None = None, reason: str = "no image") -> Outline | None:
    """Where the object ``mask`` hints at really ends: from ``gray``'s grey levels, else the mask's edges.

    ``others`` (frame-sized) marks other objects' pixels, whose grey levels are not this
    object's background; ``sigma_hint`` is the frame's edge blur (:func:`segflow.vision.edges.fit_edges`).
    """
    crop, x0, y0 = crop_to_content(np.asarray(mask, dtype=bool), border=BORDER)
    if not crop.any():
        return None
    if gray is None:
        return Outline(crop.astype(np.float64), x0, y0, from_mask(crop, reason))
    window = crop_image(gray, x0, y0, crop.shape)
    if others is not None:
        window[(crop_image(others, x0, y0, crop.shape) > 0) & ~crop] = np.nan
    fit = fit_edges(crop, window, sigma_hint)
    return Outline(fit.cover, x0, y0, fit)


def crop_to_content(mask: np.ndarray, border: int = 1) -> tuple[np.ndarray, int, int]:
    """The mask's bounding crop with an empty ``border`` (pixels), plus its offset."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return np.zeros((0, 0), dtype=bool), 0, 0
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    crop = np.zeros((y1 - y0 + 2 * border, x1 - x0 + 2 * border), dtype=bool)
    crop[border:-border, border:-border] = mask[y0:y1, x0:x1]
    return crop, int(x0) - border, int(y0) - border


def crop_image(image: np.ndarray, x0: int, y0: int, shape: tuple[int, int]) -> np.ndarray:
    """The window of ``image`` at offset (x0, y0) and ``shape`` as float64, NaN outside the image."""
    h, w = shape
    window = np.full((h, w), np.nan)
    top, left = max(0, y0), max(0, x0)
    bottom, right = min(image.shape[0], y0 + h), min(image.shape[1], x0 + w)
    if bottom > top and right > left:
        window[top - y0 : bottom - y0, left - x0 : right - x0] = image[top:bottom, left:right]
    return window


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Convex hull vertices (counter-clockwise in image coordinates) as float rows."""
    if len(points) < 3:
        return points.astype(np.float64)
    hull = cv2.convexHull(points.astype(np.float32))
    return hull.reshape(-1, 2).astype(np.float64)


def feret_diameters(hull: np.ndarray) -> tuple[float, float]:
    """Max and min caliper (Feret) diameters of a convex polygon.

    The max is the largest vertex distance; the min is the smallest width over
    the polygon's edge directions (rotating calipers: a minimal-width strip
    always has one side along an edge of the hull).
    """
    if len(hull) == 0:
        return 0.0, 0.0
    diff = hull[:, None, :] - hull[None, :, :]
    feret_max = float(np.sqrt((diff**2).sum(-1)).max())
    if len(hull) < 3:
        return feret_max, 0.0
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    keep = lengths > 1e-9
    normals = np.column_stack([-edges[keep, 1], edges[keep, 0]]) / lengths[keep, None]
    projections = hull @ normals.T
    widths = projections.max(axis=0) - projections.min(axis=0)
    return feret_max, float(widths.min())


def min_area_rect(hull: np.ndarray) -> tuple[float, float, float]:
    """Length, width and angle of the minimum-area bounding rectangle.

    The angle is that of the long side, in degrees counter-clockwise from the
    image x axis as seen on screen (y points down in images), in [0, 180).
    """
    if len(hull) < 2:
        return 0.0, 0.0, float("nan")
    box = cv2.boxPoints(cv2.minAreaRect(hull.astype(np.float32))).astype(np.float64)
    side_a, side_b = box[1] - box[0], box[2] - box[1]
    len_a, len_b = float(np.hypot(*side_a)), float(np.hypot(*side_b))
    long_side = side_a if len_a >= len_b else side_b
    angle = math.degrees(math.atan2(-long_side[1], long_side[0])) % 180.0
    return max(len_a, len_b), min(len_a, len_b), angle


def fit_circle(points: np.ndarray) -> float:
    """Diameter of the least-squares circle through ``points`` (Kasa's algebraic fit)."""
    if len(points) < 3:
        return float("nan")
    x, y = points[:, 0], points[:, 1]
    design = np.column_stack([x, y, np.ones_like(x)])
    rhs = x**2 + y**2
    (a, b, c), *_ = np.linalg.lstsq(design, rhs, rcond=None)
    radius_sq = c + (a / 2) ** 2 + (b / 2) ** 2
    return 2.0 * math.sqrt(radius_sq) if radius_sq > 0 else float("nan")


def outline_points(cover: np.ndarray) -> list[np.ndarray]:
    """The outer outlines of all parts, where the coverage crosses one half, as (x, y) float rows.

    The coverage is interpolated onto a grid :data:`UPSAMPLE` times finer and the contour
    traced through the boundary cells' centres, each simplified to within one cell (a
    staircase along a slanted edge is the straight edge, not the sum of its steps).
    """
    k = UPSAMPLE
    fine = cv2.resize(cover.astype(np.float32), None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR) >= 0.5
    contours, _ = cv2.findContours(fine.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = []
    for contour in contours:
        simplified = cv2.approxPolyDP(contour, 1.0, True) if len(contour) > 2 else contour
        out.append((simplified.reshape(-1, 2).astype(np.float64) + 0.5) / k - 0.5)
    return out


def outline_length(outlines: list[np.ndarray], unit: float = 1.0) -> float:
    """Summed length of closed outlines from :func:`outline_points` (``unit``: a pixel's size, on a plane)."""
    total = 0.0
    for points in outlines:
        closed = np.vstack([points, points[:1]])
        total += float(np.hypot(*np.diff(closed, axis=0).T).sum()) + math.pi * unit / UPSAMPLE
    return total


class PlaneMap:
    """Image pixels -> millimetres on a tilted plane, for one mask's crop (offset ``x0, y0``)."""

    def __init__(self, homography: np.ndarray, x0: int, y0: int, centre: np.ndarray) -> None:
        shift = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
        self.h = homography @ shift
        self.mm_per_px = pixel_size(self.h, float(centre[0]), float(centre[1]))

    def points(self, xy: np.ndarray) -> np.ndarray:
        if len(xy) == 0:
            return np.zeros((0, 2))
        return cv2.perspectiveTransform(np.asarray(xy, np.float64).reshape(-1, 1, 2), self.h).reshape(-1, 2)

    def area(self, cover: np.ndarray) -> float:
        """Sum of covered pixels, each weighted by its own area on the plane."""
        ys, xs = np.nonzero(cover)
        w = self.h[2, 0] * xs + self.h[2, 1] * ys + self.h[2, 2]
        return float((cover[ys, xs] * abs(np.linalg.det(self.h)) / np.abs(w) ** 3).sum())


def pixel_size(h: np.ndarray, x: float, y: float) -> float:
    """Side of a pixel at (x, y) on the plane: the square root of the homography's local area scale."""
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    return math.sqrt(abs(float(np.linalg.det(h))) / abs(w) ** 3)


def measure_mask(
    mask: np.ndarray, skeleton: bool = True, gray: np.ndarray | None = None, plane: np.ndarray | None = None,
    sigma_hint: float | None = None,
) -> MaskMeasurements:
    """Measure one mask (any size; only its bounding crop is processed): :func:`locate`, then :func:`measure`."""
    outline = locate(mask, gray, sigma_hint)
    return MaskMeasurements.empty() if outline is None else measure(outline, skeleton, plane)


def measure(outline: Outline, skeleton: bool = True, plane: np.ndarray | None = None) -> MaskMeasurements:
    """Every figure of one located outline, with its standard uncertainty from the edges.

    With ``plane`` (a homography from image pixels to millimetres on a tilted plane) the
    sub-pixel edge points and every pixel's area are mapped onto the plane before any
    geometry, so the result is in millimetres (square millimetres for the area), exact
    under perspective; only the skeleton is scaled by the pixel size at the mask's centre.
    """
    cover, x0, y0 = outline.cover, outline.x0, outline.y0
    inside = cover >= 0.5
    if not inside.any():
        inside = cover > 0
    outlines = outline_points(cover)
    unit = 1.0
    if plane is None:
        area = float(cover.sum())
    else:
        ys, xs = np.nonzero(inside)
        mapping = PlaneMap(plane, x0, y0, np.array([xs.mean(), ys.mean()]))
        unit = mapping.mm_per_px
        outlines = [mapping.points(points) for points in outlines]
        area = mapping.area(cover)
    perimeter = outline_length(outlines, unit)
    edges = np.concatenate(outlines) if outlines else np.zeros((0, 2))
    hull = convex_hull(edges)
    length, width, angle = min_area_rect(hull)
    feret_max, feret_min = feret_diameters(hull)
    ends = 0
    if skeleton:
        thin = zhang_suen_thinning(inside)
        paths, tips = skeleton_paths(thin), free_ends(thin)
        ends = len(tips)
        centre_line = float(sum(np.hypot(*np.diff(p, axis=0).T).sum() for p in paths)) if paths else 0.0
        if thin.sum() == 1:
            centre_line = 1.0
        mean_width = ribbon_mean_width(area, centre_line * unit, ends)
        skeleton_len = (centre_line + tip_extension(cover, paths, tips)) * unit
    else:
        skeleton_len = mean_width = float("nan")
    fit = outline.fit
    edge_u = (fit.edge_u if fit.method == "image" else MASK_EDGE_U_PX) * unit
    blur = (fit.sigma if fit.method == "image" else 0.0) * unit
    equivalent = math.sqrt(4.0 * area / math.pi)
    u_area = perimeter * edge_u
    u = {
        "area": u_area,
        "perimeter": math.hypot(2 * math.pi * edge_u, 0.01 * perimeter, 0.5 * unit),
        "length": math.hypot(math.sqrt(2) * edge_u, 0.2 * blur),
        "width": math.sqrt(2) * edge_u,
        "feret_max": math.hypot(math.sqrt(2) * edge_u, 0.3 * blur + 0.1 * unit),
        "feret_min": math.sqrt(2) * edge_u,
        "equivalent_diameter": 2 * u_area / (math.pi * equivalent) if equivalent else math.nan,
        "circle_diameter": math.hypot(2 * edge_u, 0.02 * (feret_max - feret_min)),
        "skeleton_length": math.hypot(math.sqrt(max(ends, 1)) * (edge_u + 0.5 * unit), 0.02 * skeleton_len),
        "mean_width": math.hypot(2 * edge_u, 0.03 * mean_width),
    }
    return MaskMeasurements(
        area=area,
        perimeter=perimeter,
        length=length,
        width=width,
        angle_deg=angle,
        feret_max=feret_max,
        feret_min=feret_min,
        equivalent_diameter=equivalent,
        circularity=min(1.0, 4.0 * math.pi * area / perimeter**2) if perimeter else float("nan"),
        circle_diameter=fit_circle(edges),
        skeleton_length=skeleton_len,
        mean_width=mean_width,
        edge_u=edge_u,
        u=u,
    )
