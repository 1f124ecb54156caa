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
from dataclasses import dataclass

import cv2
import numpy as np

from segflow.vision.subpixel import coverage, crossing_points

# Standard uncertainty of one edge position: a mask alone puts it anywhere within its boundary
# pixel (uniform over 1 px: 1/sqrt 12); grey levels put it within 0.1 px (the worst error of the
# sub-pixel tests, which render 15-25 px shapes with sensor noise).
MASK_EDGE_U_PX = 1.0 / math.sqrt(12.0)
GREY_EDGE_U_PX = 0.1


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

    @classmethod
    def empty(cls) -> MaskMeasurements:
        nan = float("nan")
        return cls(0.0, 0.0, 0.0, 0.0, nan, 0.0, 0.0, 0.0, nan, nan, 0.0, nan, MASK_EDGE_U_PX)


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


def boundary_length(
    mask: np.ndarray, to_plane: Callable[[np.ndarray], np.ndarray] | None = None, unit: float = 1.0
) -> float:
    """Length of the outer boundaries of all parts, measured on the pixel edges.

    The contour through boundary pixel centres is simplified to within one
    pixel (a staircase along a slanted edge is the straight edge, not the sum
    of its steps), then moved out by half a pixel, which adds pi per closed
    outline (the Minkowski sum with a disc of radius 1/2). ``to_plane`` maps
    the simplified outline onto a tilted plane first; ``unit`` is a pixel's
    size there.
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    total = 0.0
    for contour in contours:
        simplified = cv2.approxPolyDP(contour, 1.0, True) if len(contour) > 2 else contour
        if to_plane is not None:
            simplified = to_plane(simplified.reshape(-1, 2).astype(np.float64)).astype(np.float32).reshape(-1, 1, 2)
        total += float(cv2.arcLength(simplified, True)) + math.pi * unit
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
    mask: np.ndarray, skeleton: bool = True, gray: np.ndarray | None = None, plane: np.ndarray | None = None
) -> MaskMeasurements:
    """Measure one mask (any size; only its bounding crop is processed).

    With ``gray`` (the frame in grey levels, same size as the mask) edges and
    area come from the grey levels along the boundary (:mod:`segflow.vision.subpixel`);
    without it, from the mask's pixel edges. With ``plane`` (a homography from
    image pixels to millimetres on a tilted plane) the sub-pixel edge points and
    every pixel's area are mapped onto the plane before any geometry, so the
    result is in millimetres (square millimetres for the area), exact under
    perspective; only the skeleton is scaled by the pixel size at the mask's centre.
    """
    crop, x0, y0 = crop_to_content(np.asarray(mask, dtype=bool), border=7)
    if not crop.any():
        return MaskMeasurements.empty()
    cover = coverage(crop, None if gray is None else crop_image(gray, x0, y0, crop.shape))
    refined = bool(((cover > 0) & (cover < 1)).any())
    edges = crossing_points(cover)
    unit = 1.0
    if plane is None:
        area = float(cover.sum())
        perimeter = boundary_length(crop)
    else:
        ys, xs = np.nonzero(crop)
        mapping = PlaneMap(plane, x0, y0, np.array([xs.mean(), ys.mean()]))
        unit = mapping.mm_per_px
        edges = mapping.points(edges)
        area = mapping.area(cover)
        perimeter = boundary_length(crop, mapping.points, unit)
    hull = convex_hull(edges)
    length, width, angle = min_area_rect(hull)
    feret_max, feret_min = feret_diameters(hull)
    if skeleton:
        thin = zhang_suen_thinning(crop)
        skeleton_len = skeleton_length(thin) * unit
        mean_width = ribbon_mean_width(area, skeleton_len, skeleton_ends(thin))
    else:
        skeleton_len = mean_width = float("nan")
    return MaskMeasurements(
        area=area,
        perimeter=perimeter,
        length=length,
        width=width,
        angle_deg=angle,
        feret_max=feret_max,
        feret_min=feret_min,
        equivalent_diameter=math.sqrt(4.0 * area / math.pi),
        circularity=min(1.0, 4.0 * math.pi * area / perimeter**2) if perimeter else float("nan"),
        circle_diameter=fit_circle(edges),
        skeleton_length=skeleton_len,
        mean_width=mean_width,
        edge_u=(GREY_EDGE_U_PX if refined else MASK_EDGE_U_PX) * unit,
    )
