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

from segflow.vision.contour import segments_length, zero_segments
from segflow.vision.corners import hidden_perimeter, hidden_tip
from segflow.vision.outline import Outline, locate
from segflow.vision.skeleton import (
    free_ends,
    ribbon_mean_width,
    skeleton_paths,
    tip_extension,
    zhang_suen_thinning,
)
from segflow.vision.subpixel import crossing_points

# Standard uncertainty of one edge position from a mask alone: a model's mask may sit a pixel
# or two off the object, and nothing in the mask says which way (2u = 2 px).
MASK_EDGE_U_PX = 1.0
SHAPE_EDGE_U = 0.02  # px (and per px of blur): what a whole shape's model of the picture may miss, per edge


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


def rect_spread(hull: np.ndarray, slack: float) -> tuple[float, float]:
    """How far length and width range over the bounding rectangles within ``slack`` of the least area.

    A near-round or rounded object has rectangles at several orientations with almost the
    same area; which of them is least turns on a tenth of a pixel of edge, and its length
    and width with it. ``slack`` (px^2) is how much the least area itself is uncertain.
    """
    if len(hull) < 3:
        return 0.0, 0.0
    edges = np.roll(hull, -1, axis=0) - hull
    norms = np.hypot(edges[:, 0], edges[:, 1])
    along = edges[norms > 1e-9] / norms[norms > 1e-9, None]
    if not len(along):
        return 0.0, 0.0
    across = np.column_stack([-along[:, 1], along[:, 0]])
    pu, pv = hull @ along.T, hull @ across.T
    su, sv = pu.max(0) - pu.min(0), pv.max(0) - pv.min(0)
    near = su * sv <= (su * sv).min() + slack
    lengths, widths = np.maximum(su, sv)[near], np.minimum(su, sv)[near]
    return float(lengths.max() - lengths.min()), float(widths.max() - widths.min())


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
    """Length of the outer boundaries of all parts of a binary mask, measured on the pixel edges.

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


def outer_segments(level: np.ndarray) -> np.ndarray:
    """Segments of the outer outlines of a refined outline (holes filled), from :func:`zero_segments`."""
    outside = (level >= 0).astype(np.uint8)
    count, labels = cv2.connectedComponents(outside, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    hole = outside.astype(bool) & ~np.isin(labels, border)
    return zero_segments(np.where(hole, -np.abs(level) - 0.01, level)) if hole.any() else zero_segments(level)


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
    cover, x0, y0, fit = outline.cover, outline.x0, outline.y0, outline.fit
    inside = fit.level < 0
    if not inside.any():  # an outline narrower than a pixel holds no pixel centre
        inside = cover > 0
    refined = fit.method == "image"
    # A refined outline is traced where its level crosses zero (exact for straight edges); a
    # binary mask's outline runs through its pixel-edge midpoints.
    if fit.outline:  # closed polylines: segment i joins point i to point i + 1
        segments = np.concatenate([np.stack([loop, np.roll(loop, -1, axis=0)], 1) for loop in fit.outline])
    else:
        segments = outer_segments(fit.level) if refined else np.zeros((0, 2, 2))
    edges = segments.reshape(-1, 2) if refined else crossing_points(cover)
    unit = 1.0
    mapping = None
    if plane is None:
        area = float(cover.sum())
    else:
        ys, xs = np.nonzero(inside)
        mapping = PlaneMap(plane, x0, y0, np.array([xs.mean(), ys.mean()]))
        unit = mapping.mm_per_px
        edges = mapping.points(edges)
        area = mapping.area(cover)
    if refined:
        perimeter = segments_length(edges.reshape(-1, 2, 2))
    else:
        perimeter = boundary_length(inside, None if mapping is None else mapping.points, unit)
    hull = convex_hull(edges)
    length, width, angle = min_area_rect(hull)
    feret_max, feret_min = feret_diameters(hull)
    ends = 0
    if skeleton and fit.stroke is not None:  # a stroke's centre line, end to end, is fitted with it
        ends = 2
        skeleton_len = fit.stroke.length * unit
        mean_width = area / skeleton_len
    elif skeleton:
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
    edge_u = (fit.edge_u if fit.method == "image" else MASK_EDGE_U_PX) * unit
    equivalent = math.sqrt(4.0 * area / math.pi)
    # Each figure's uncertainty from its edges: a whole outline moving together for an area or a
    # perimeter, two independent ends for a caliper, each the outermost of many outline points
    # (whose scatter, about 0.15 px on a refined outline, adds to it). A lens rounds corners,
    # and an outline reaches them only as far as the blur lets it: a caliper's ends and a
    # perimeter's corners carry a share of the blur (measured on 12-25 px bars). A stroke's
    # width, centre line and area come from its own fit's covariance. Then half the
    # difference from the outline a second plausible model of the picture gives (rounded or
    # cornered, the image's own half-level, or for a stroke the outline it replaced).
    blur = (fit.sigma if fit.method == "image" else 0.0) * unit
    # a whole shape (shape_fit) has its corners and ends where the picture put them, a smooth
    # outline with no outermost point scattered, and its own covariance (below): its edge terms
    # are only what the model of the picture may miss
    whole = fit.shape.startswith(("polygon", "curve", "rectangle"))
    # a straight stroke's sides and flat ends are fitted too, with their covariance (below), and
    # each end carries its own model error (Stroke.end_u); a bent one's centre line is a polynomial
    # that only approximates the arc near its ends, by an amount no fit tells: it keeps the
    # outline's terms (a crack's max Feret diameter is 0.5 px off at 2-3 times its covariance's u)
    fitted = whole or (fit.stroke is not None and fit.stroke.degree == 1 and bool(fit.spread))
    if fitted:
        edge_u = (SHAPE_EDGE_U + SHAPE_EDGE_U * fit.sigma) * unit
    reach = edge_u if fitted else math.hypot(edge_u, 0.15 * unit)
    # a rectangle at another orientation whose area is within its edges' 2u of the least one
    spread_length, spread_width = rect_spread(hull, 2 * math.sqrt(2) * reach * math.hypot(length, width))
    # a caliper end on a tip the lens rounded and no corner was rebuilt for may fall short of the
    # tip by up to where the outline's faces meet: 2u spans that (both ends; the feret's ends
    # stand for the rectangle's length's too)
    tips = corners_lost = 0.0
    if refined and fit.outline and blur > 0 and mapping is None and len(hull) >= 2 and not fitted:
        gaps = np.hypot(*(hull[:, None] - hull[None]).transpose(2, 0, 1))
        poles = hull[list(np.unravel_index(int(np.argmax(gaps)), gaps.shape))]
        tips = sum(hidden_tip(fit.outline, pole, 2 * fit.sigma + 1) for pole in poles) / 2
        corners_lost = hidden_perimeter(fit.outline, 2 * fit.sigma + 1) / 2
    u_area = perimeter * edge_u
    rounded = 0.0 if fitted else 1.0  # the terms for what a lens rounds that an outline cannot follow
    ends_u = math.sqrt(2) * fit.stroke.end_u * unit if fitted and fit.stroke is not None else 0.0
    u = {
        "area": u_area,
        "perimeter": math.hypot(2 * math.pi * edge_u, rounded * 0.03 * perimeter, rounded * 0.5 * unit, corners_lost,
                                2 * ends_u),
        "length": math.hypot(math.sqrt(2) * reach, rounded * 0.2 * blur, spread_length / 2, tips, ends_u),
        "width": math.hypot(math.sqrt(2) * reach, spread_width / 2),
        "feret_max": math.hypot(math.sqrt(2) * reach, rounded * (0.3 * blur + 0.1 * unit), tips, ends_u),
        "feret_min": math.sqrt(2) * reach,
        "circle_diameter": math.hypot(2 * edge_u, 0.02 * (feret_max - feret_min)),
        "skeleton_length": math.hypot(math.sqrt(max(ends, 1)) * (edge_u + 0.5 * unit), 0.02 * skeleton_len),
        "mean_width": math.hypot(2 * edge_u, 0.03 * mean_width),
    }
    if fit.stroke is not None:
        stroke = fit.stroke
        u.update(width=stroke.width_u * unit, mean_width=stroke.width_u * unit,
                 skeleton_length=stroke.length_u * unit,
                 area=math.hypot(stroke.length * stroke.width_u, stroke.width * stroke.length_u) * unit * unit)
    if fitted and fit.spread:  # the shape's or stroke's own covariance, propagated through each figure
        sways = [(_figures((plus,), mapping), _figures((minus,), mapping)) for plus, minus in fit.spread]
        # a stroke's width and area have its fit's own u (above): only its centre line's bends add
        bends = [(_figures((plus,), mapping), _figures((minus,), mapping))
                 for plus, minus in fit.stroke.bends] if fit.stroke is not None else sways
        for name in ("area", "perimeter", "length", "width", "feret_max", "feret_min"):
            moves = bends if name in ("area", "width") else sways
            change = math.sqrt(sum(((a[name] - b[name]) / 2) ** 2 for a, b in moves))
            u[name] = math.hypot(u[name], change)
    other = _figures(fit.alternative, mapping) if fit.alternative else {}
    if other and skeleton and skeleton_len > 0:
        other["mean_width"] = other["area"] / skeleton_len
    here = {"area": area, "perimeter": perimeter, "length": length, "width": width, "feret_max": feret_max,
            "feret_min": feret_min, "mean_width": mean_width}
    for name, value in other.items():
        u[name] = math.hypot(u[name], abs(value - here[name]) / 2)
    u["equivalent_diameter"] = 2 * u["area"] / (math.pi * equivalent) if equivalent else math.nan
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


def _figures(loops: tuple[np.ndarray, ...], mapping: PlaneMap | None) -> dict[str, float]:
    """Area, perimeter and calipers of closed polylines (a second estimate of an outline)."""
    points = [loop if mapping is None else mapping.points(loop) for loop in loops]
    hull = convex_hull(np.concatenate(points))
    length, width, _ = min_area_rect(hull)
    feret_max, feret_min = feret_diameters(hull)
    area = sum(abs(float(np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(p[:, 1], np.roll(p[:, 0], -1)))) / 2
               for p in points)
    perimeter = sum(float(np.hypot(*(np.roll(p, -1, axis=0) - p).T).sum()) for p in points)
    return {"area": area, "perimeter": perimeter, "length": length, "width": width, "feret_max": feret_max,
            "feret_min": feret_min}
