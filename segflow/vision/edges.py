"""An object's outline placed from the image's grey levels, with a mask only as the starting hint.

A mask from a threshold, GrabCut or a segmentation model says roughly where
an object is: a model's mask may sit one to three pixels off, and every real
lens spreads an edge over a few pixels (a Gaussian blur of sigma 0.7-1.5 px is
typical). Reading the grey levels of the pixels the mask's boundary happens to
cross, as if they were coverage, fails on both counts. This module instead
fits the picture the camera makes of the object
(:mod:`segflow.vision.edge_model`): its outline, moved along its normals
sector by sector from a smoothed start (the image's own half-level where the
object has an interior, else the mask's outline), rendered with exact pixel
coverage and blurred by the lens, over a background that may drift. Where
that outline turns sharply between straight faces, corners are rebuilt where
the faces meet if the picture agrees (:mod:`segflow.vision.corners`). A thin
object (2-7 px across: a bar, a crack) is then fitted again as a stroke of
constant width along a smooth centre line (:mod:`segflow.vision.stroke`), its
width from the line-spread of its profile: an outline's sectors cannot follow
its short flat ends.

The result is a level field whose zero is the refined outline (its pixels'
share inside it follows), so every length, area and the refined mask itself
come from one outline. When the grey levels cannot place the edges (no
contrast, the fit explains too little of the image, the edges lie beyond the
search band) the mask's own edges are returned with the reason.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from segflow.vision.corners import level_of, rebuild_corners, render_cover
from segflow.vision.edge_model import INNER, OUTER, fit_profile
from segflow.vision.sectors import FINE, approximate_distance, outline_field, traced
from segflow.vision.shape_fit import ShapeFit, fit_shapes, outline_score
from segflow.vision.stroke import Stroke, fit_stroke

W_IN = 6.0  # px inside the mask's outline beyond which the object's own level is read
W_IN_NARROW = 3.5  # the same for an object too narrow for W_IN: deeper than this it has an interior
W_OUT = 7.0  # px outside it where the search band ends and the background ring begins
RING = 3.0  # width of the background ring, px
BORDER = int(W_OUT + RING) + 3  # empty border a crop needs around the mask
MIN_CONTRAST = 12.0  # grey levels between object and background below which edges stay the mask's
MIN_EXPLAINED = 0.6  # share of the band's grey-level variance the edge model must explain
FIT_SECTOR = 4.0  # outline pixels per sector of the fitted outline: short enough for a 6 px blob
STROKE_MISFIT = 1.2  # a stroke (4 shape parameters) replaces the outline (one per sector) unless this much worse
PLAUSIBLE = 10.0  # BIC units within which a second account still counts (beyond: "very strong" evidence)
CORNER_REFITS = 2  # fits again from a cornered outline, each time corners are rebuilt on the last
STROKE_DEPTH = 4.0  # px: an object no deeper than this inside (7 px across) may be a stroke


@dataclass(frozen=True)
class EdgeFit:
    """Where an object's edges are, in a crop: the zero level of ``level`` (px from it, negative inside)."""

    level: np.ndarray
    method: str  # "image" (from grey levels) or "mask" (the mask's own pixel edges)
    fallback: str  # why the mask's edges were used ("" when they were not)
    sigma: float  # the edge blur found (Gaussian sigma, px); NaN from the mask
    contrast: float  # object minus background level, grey levels; NaN from the mask
    noise: float  # grey-level noise (robust spread of the background ring)
    edge_u: float  # standard uncertainty of one edge's position, px
    plateau: bool  # the object's level was read from its own interior
    outline: tuple[np.ndarray, ...] = ()  # the outer outlines as closed polylines, where known exactly
    stroke: Stroke | None = None  # a thin object's fitted stroke (width and centre line from its line-spread)
    alternative: tuple[np.ndarray, ...] = ()  # the outline a second, also plausible, model of the picture gives
    shape: str = "sectors"  # the outline's model: sectors, a shape_fit name (curve1...), stroke; "" from the mask
    spread: tuple[tuple[np.ndarray, np.ndarray], ...] = ()  # a whole shape's outline one sd either way per axis


def from_mask(mask: np.ndarray, reason: str, noise: float = math.nan) -> EdgeFit:
    """The mask's own pixel edges (the level crosses zero half-way between a mask pixel and the next)."""
    return EdgeFit(0.5 - mask.astype(np.float64), "mask", reason, math.nan, math.nan, noise, math.nan, False, shape="")


def fit_edges(mask: np.ndarray, gray: np.ndarray, sigma_hint: float | None = None, hint_u: float = 0.0,
              shapes: bool = True) -> EdgeFit:
    """Place the edges of the object ``mask`` hints at, from ``gray`` (same crop; NaN where unseen).

    ``mask`` must have an empty border of :data:`BORDER` px. ``sigma_hint`` is the frame's
    edge blur (``hint_u`` its standard uncertainty), used for an object too small or thin
    to show its own (see :mod:`segflow.vision.edge_model`). ``shapes``: a small object's outline
    may be replaced by a whole shape that explains the picture better (:mod:`segflow.vision.shape_fit`).
    """
    sd = approximate_distance(mask)
    seen = ~np.isnan(gray)
    g = np.where(seen, gray, 0.0)
    ring = seen & (sd >= W_OUT) & (sd < W_OUT + RING)
    if ring.sum() < 8:
        return from_mask(mask, "no background around it in the frame")
    b = float(np.median(g[ring]))
    noise = sensor_noise(g, ring)
    plateau = object_ring(sd, seen, W_IN_NARROW)
    half = None
    if plateau.sum() >= 12:  # an interior to read a level from: start at the image's own half-level
        inner = float(np.median(g[plateau]))
        if abs(inner - b) >= max(MIN_CONTRAST, 6 * noise):
            half = half_level(sd, np.where(seen, g, b), (inner + b) / 2, inner > b)
    read_half = half is not None
    hint = mask
    if half is None and _is_thin(sd):  # its traced outline folds onto itself: start from it grown by 2 px
        hint = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if half is None:  # the mask's staircase smoothed away on a finer grid
        soft = cv2.GaussianBlur(hint.astype(np.float32), (0, 0), 1.0)
        half = cv2.resize(soft, None, fx=FINE, fy=FINE, interpolation=cv2.INTER_LINEAR) >= 0.5
    if not (traced(half, FINE)[0] or traced(hint)[0]):
        return from_mask(mask, "too small to trace an outline", noise)
    start, cut = outline_field(hint, half, FIT_SECTOR)
    fit = fit_profile(cut, start, g, seen, sigma_hint)
    if isinstance(fit, str):
        return from_mask(mask, fit, noise)
    if abs(fit.contrast) < max(MIN_CONTRAST, 6 * noise):
        return from_mask(mask, f"low contrast ({abs(fit.contrast):.0f} grey levels)", noise)
    if fit.explained < MIN_EXPLAINED:
        return from_mask(mask, f"the grey levels do not look like an edge ({fit.explained:.0%} explained)", noise)
    pinned = float(np.mean((fit.offsets <= -INNER + 0.01) | (fit.offsets >= OUTER - 1.01)))
    if pinned > 0.25:
        return from_mask(mask, "the grey levels put the edges beyond the search band", noise)
    level, moved = cut.moved(fit.offsets)
    band = seen & (start < OUTER) & (start >= -INNER)
    rounded = tuple(moved)
    loops, cornered, other = rebuild_corners(rounded, level, g, band, fit.sigma)
    # The outline a second estimate would give: rounded or cornered, whichever was not chosen,
    # else the image's own half-level the fit started from. Their difference is a figure's
    # uncertainty from the choice of model (mask_geometry.measure).
    alternative = other or (tuple(cut.moved(np.zeros(cut.n))[1]) if read_half else ())
    first_rounded = rounded
    for _ in range(CORNER_REFITS):
        chose_corners = loops is not rounded
        if not other:
            break
        # Corners found: fit again from the cornered outline, so the faces beside a corner need
        # not bulge to make up for the area its rounding lost. Also where the cornered outline
        # lost to the rounded one: with the faces bulged for the rounding it adds area twice (a
        # 39 x 19 px rectangle under sigma 1.1 kept all four corners round, max Feret -3.3 %).
        # The refit's sectors may round a corner its cut did not find again: once more.
        fine = render_cover(loops if chose_corners else other, (mask.shape[0] * FINE, mask.shape[1] * FINE),
                            FINE) >= 0.5
        start2, cut2 = outline_field(hint, fine, FIT_SECTOR)
        refit = fit_profile(cut2, start2, g, seen, fit.sigma if sigma_hint is None else sigma_hint, near=True)
        if not (len(cut2.corners) and not isinstance(refit, str) and refit.cost < fit.cost):
            if chose_corners:
                level = cornered
            break
        fit, cut = dataclasses.replace(refit, sigma_u=fit.sigma_u), cut2
        level, moved = cut.moved(fit.offsets)
        rounded = tuple(moved)
        alternative = first_rounded  # the outline with no corner rebuilt: the second account
        loops, cornered, other = rebuild_corners(rounded, level, g, band, fit.sigma)
        if loops is not rounded:
            level = cornered
    statistical = float(np.median(fit.offset_u)) if len(fit.offset_u) else 0.0
    edge_u = math.hypot(0.05 + 0.05 * fit.sigma, 2 * statistical, 0.5 * (1 - fit.explained))
    own_blur = sigma_hint is None and fit.sigma_u <= 0.1 * fit.sigma
    accounts = None
    if _is_stroke(level < 0):  # 2-7 px across and long: its width from the line-spread, not the outline
        stroke = fit_stroke(level < 0, g, seen, noise, sigma_hint, fit.sigma, hint_u)
        # kept unless the outline explains the picture clearly better: a wedge is not a stroke
        if not isinstance(stroke, str) and stroke.residual <= STROKE_MISFIT * fit.residual:
            if shapes and len(loops) == 1:
                accounts = fit_shapes(loops[0], g, band, fit.sigma, noise, sigma_hint is None, cut.n)
                if _whole_shape_beats(stroke, accounts, g, band, noise):
                    stroke = None
        if stroke is not None and not isinstance(stroke, str) and stroke.residual <= STROKE_MISFIT * fit.residual:
            # The sector outline stays a second account (its difference part of u) where it explained
            # the picture better than the stroke (which won on its fewer parameters), and where the
            # stroke's centre line bends: a polynomial only approximates an arc, and how far off it
            # is near the ends (where calipers reach) is known from no fit. A straight stroke that
            # explains the picture better rules out the outline's rounded ends and bulging sides.
            other = tuple(loops) if fit.residual < stroke.residual or stroke.degree > 1 else ()
            return EdgeFit(stroke.level, "image", "", stroke.sigma, stroke.contrast, noise, stroke.edge_u, False,
                           (stroke.outline,), stroke, other, "stroke", stroke.spread + stroke.bends)
    sigma, shape, spread = fit.sigma, "sectors", ()
    if shapes and len(loops) == 1:  # a small object may be told better by a whole shape than by its sectors
        if accounts is None:
            accounts = fit_shapes(loops[0], g, band, fit.sigma, noise, sigma_hint is None, cut.n)
        if accounts[0].name != "sectors":
            # the next best account, if the picture finds it nearly as plausible, is the second
            # outline whose difference is part of u; one it rules out (a tip rounded off) is not
            plausible = accounts[1].score - accounts[0].score <= PLAUSIBLE
            alternative = (accounts[1].loop,) if plausible else ()
            loops, sigma = (accounts[0].loop,), accounts[0].sigma
            level, shape, spread = level_of(loops, level), accounts[0].name, accounts[0].spread
    return EdgeFit(level, "image", "", sigma, fit.contrast, noise, edge_u, own_blur, tuple(loops),
                   alternative=alternative, shape=shape, spread=spread)


def _whole_shape_beats(stroke: Stroke, accounts: list[ShapeFit], g: np.ndarray, band: np.ndarray,
                       noise: float) -> bool:
    """Whether a closed curve explains a narrow object's picture better than a stroke, by very strong evidence.

    Narrow and long is not yet a stroke: a grain 5 x 20 px is an ellipse whose ends taper, and a
    stroke of constant width with flat ends, fitted to it, traded its width for its length (a
    4.5 px wide ellipse read -86 % in area, at 2u). Both are scored on the same pixels; the
    stroke must not lose by more than :data:`PLAUSIBLE` BIC units. Only the curves compete: a
    bar is a quadrilateral too, and one fitted on these pixels beat the stroke it is by a few
    units of their renderers' difference (a 4.5 x 49 px bar's width +5.4 %).
    """
    curves = [a for a in accounts if a.name.startswith("curve")]
    if not curves:
        return False
    best = min(curves, key=lambda a: a.score)
    return outline_score(stroke.outline, g, band, stroke.sigma, noise, stroke.parameters) - best.score > PLAUSIBLE


def _is_stroke(inside: np.ndarray) -> bool:
    """At most 7 px across and at least twice as long as wide: a bar, a crack."""
    if inside.sum() < 8:
        return False
    depth = float(cv2.distanceTransform(np.pad(inside, 1).astype(np.uint8), cv2.DIST_L2, 5).max())
    return depth <= STROKE_DEPTH and float(inside.sum()) >= 8 * depth**2


def _is_thin(sd: np.ndarray) -> bool:
    """A mask at most ~5 px across and long for it (a bar, a crack), not a small round blob."""
    depth = float(-sd.min()) + 0.5
    return depth <= 2.5 and float((sd < 0).sum()) >= 8 * depth**2


def object_ring(sd: np.ndarray, seen: np.ndarray, depth: float) -> np.ndarray:
    """Where the object's own level is read: a ring just inside the search band.

    Not the whole interior: a mask may cover more than the object's surface (a pipe's
    rim with its dark bore filled in, a label on a part), and the edge is between the
    surface next to it and the background.
    """
    ring = seen & (sd < -depth) & (sd >= -depth - RING)
    return ring if ring.sum() >= 12 else seen & (sd < -depth)


def sensor_noise(g: np.ndarray, where: np.ndarray) -> float:
    """Grey-level noise from differences between neighbouring pixels (shading and texture cancel)."""
    steps = np.abs(np.diff(g, axis=1))[where[:, 1:] & where[:, :-1]]
    if len(steps) < 8:
        return 0.5
    return max(1.4826 * float(np.median(steps)) / math.sqrt(2), 0.5)


def half_level(sd: np.ndarray, g: np.ndarray, level: float, bright: bool) -> np.ndarray | None:
    """Where the image crosses half-way between object and background, on a grid :data:`FINE` times finer.

    Only within the search band around the mask's outline (``sd``: distance from it): deeper
    inside is object whatever its texture or engraving, further out is background. ``g``
    holds the background's level where nothing is seen (beyond the frame), so an object cut
    by the frame's edge ends on it. Only the parts that overlap the mask count (a
    neighbour's edge is not this object's); ``None`` when nothing does.
    """
    up = cv2.resize(g.astype(np.float32), None, fx=FINE, fy=FINE, interpolation=cv2.INTER_LINEAR)
    near = cv2.resize(sd.astype(np.float32), None, fx=FINE, fy=FINE, interpolation=cv2.INTER_LINEAR)
    region = ((up > level) if bright else (up < level)) & (near < W_OUT) | (near < -W_IN)
    count, labels = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    inside = near < 0
    overlap = np.bincount(labels[inside], minlength=count)
    sizes = np.bincount(labels.ravel(), minlength=count)
    overlap[0] = 0
    if overlap.max() == 0:
        return None
    keep = (overlap >= 0.25 * sizes) | (overlap == overlap.max())
    keep[0] = False
    kept = keep[labels].astype(np.uint8)
    outer, _ = cv2.findContours(kept, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(kept)
    cv2.drawContours(filled, outer, -1, 1, thickness=cv2.FILLED)  # holes in the object are not edges
    return filled.astype(bool)
