"""An object's outline placed from the image's grey levels, with a mask only as the starting hint.

A mask from a threshold, GrabCut or a segmentation model says roughly where
an object is: a model's mask may sit one to three pixels off, and every real
lens spreads an edge over a few pixels (a Gaussian blur of sigma 0.7-1.5 px is
typical). Reading the grey levels of the pixels the mask's boundary happens to
cross, as if they were coverage, fails on both counts. This module instead:

1. measures the signed distance of every pixel from the mask's outline
   (outwards positive, on the pixel-edge convention, lightly smoothed so a
   staircase reads as the straight edge it approximates);
2. splits the outline into short sectors and gives every nearby pixel to the
   sector nearest to it;
3. for an object with a plateau (pixels deeper than :data:`W_IN`): takes the
   object's level from that plateau and the background's from a ring beyond
   :data:`W_OUT`, both far enough out that neither a mask 3 px off nor a
   blur of sigma 1.5 reaches them; every pixel between is read as its
   covered share ``(g - b) / (a - b)``. Blur moves grey level from one pixel
   to its neighbours but keeps the sum, so a sector's summed share is the
   object's area in that sector whatever the blur and whatever the curvature;
   the sector's edge is put at the offset from the mask's outline that
   encloses exactly that area;
4. for a thin or small object (no plateau: a crack, a 2-6 px bar, a 6 px
   blob) the object's level cannot be read anywhere, and the line-spread of
   the profile decides: the outline offset, the object's and background's
   levels and the blur are fitted together by least squares, rendering the
   offset outline blurred by a Gaussian. The blur is the frame's (the median
   of its plateau objects) when the caller knows it; otherwise it is fitted
   too, and the spread of the offsets that fit about as well is the
   offset's uncertainty.

The result is a per-pixel coverage of the refined outline (its pixels'
share inside it), so every length, area and the refined mask itself come from
one outline. When the grey levels cannot place the edges (no contrast, the
fit explains too little of the image, the edges lie beyond the search band)
the mask's own edges are returned with the reason.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

import cv2
import numpy as np

from segflow.vision.corners import rebuild_corners, render_cover
from segflow.vision.edge_model import INNER, OUTER, fit_profile
from segflow.vision.sectors import FINE, Sectors, approximate_distance, outline_field
from segflow.vision.stroke import Stroke, fit_stroke
from segflow.vision.skeleton import extend_ends, free_ends, polyline_distance, skeleton_paths, zhang_suen_thinning

W_IN = 6.0  # px inside the mask's outline beyond which the object's own level is read
W_IN_NARROW = 3.5  # the same for an object too narrow for W_IN (its mask must then be within 2 px)
W_OUT = 7.0  # px outside it where the search band ends and the background ring begins
RING = 3.0  # width of the background ring, px
BORDER = int(W_OUT + RING) + 3  # empty border a crop needs around the mask
MIN_CONTRAST = 12.0  # grey levels between object and background below which edges stay the mask's
MIN_EXPLAINED = 0.6  # share of the band's grey-level variance the edge model must explain
SIGMAS = np.array([0.4, 0.6, 0.8, 1.0, 1.2, 1.45, 1.7, 2.0, 2.5])  # blurs tried when the frame's is unknown
FIT_SECTOR = 4.0  # outline pixels per sector of the fitted outline: short enough for a 6 px blob's ends
STROKE_DEPTH = 4.0  # px: an object no deeper than this inside (7 px across) may be a stroke
END_SKIP = 5.0  # px around a thin object's free ends left out of its line-spread fit


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


def group_median(groups: np.ndarray, values: np.ndarray, n: int, minimum: int, default: float) -> np.ndarray:
    """Median of ``values`` per group (``default`` for groups with fewer than ``minimum``)."""
    out = np.full(n, default)
    if len(values) == 0:
        return out
    order = np.lexsort((values, groups))
    g, v = groups[order], values[order]
    counts = np.bincount(g, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ok = counts >= max(minimum, 1)
    lo = starts[ok] + (counts[ok] - 1) // 2
    hi = starts[ok] + counts[ok] // 2
    out[ok] = (v[lo] + v[hi]) / 2
    return out


def offset_cover(sd: np.ndarray, offset: np.ndarray | float) -> np.ndarray:
    """Coverage of the outline moved ``offset`` px outwards from the mask's (per pixel, or one for all)."""
    return np.clip(0.5 - (sd - offset), 0.0, 1.0)


def from_mask(mask: np.ndarray, reason: str, noise: float = math.nan) -> EdgeFit:
    """The mask's own pixel edges (the level crosses zero half-way between a mask pixel and the next)."""
    return EdgeFit(0.5 - mask.astype(np.float64), "mask", reason, math.nan, math.nan, noise, math.nan, False)


def fit_edges(mask: np.ndarray, gray: np.ndarray, sigma_hint: float | None = None) -> EdgeFit:
    """Place the edges of the object ``mask`` hints at, from ``gray`` (same crop; NaN where unseen).

    ``mask`` must have an empty border of :data:`BORDER` px. ``sigma_hint`` is the frame's
    edge blur, used for an object too small or thin to show its own (see
    :mod:`segflow.vision.edge_model`).
    """
    if os.environ.get("SEGFLOW_OLD_EDGES"):
        return _fit_edges_old(mask, gray, sigma_hint)
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
    hint = mask
    if half is None and _is_thin(sd):  # its traced outline folds onto itself: start from it grown by 2 px
        hint = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if half is None and os.environ.get("SMOOTH_START", "1") == "1":  # the mask's staircase smoothed away on a finer grid
        soft = cv2.GaussianBlur(hint.astype(np.float32), (0, 0), 1.0)
        half = cv2.resize(soft, None, fx=FINE, fy=FINE, interpolation=cv2.INTER_LINEAR) >= 0.5
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
    loops, cornered = rebuild_corners(rounded, level, g, band, fit.sigma)
    if loops is not rounded:
        # Corners found: fit again from the cornered outline, so the faces beside a corner need
        # not bulge to make up for the area its rounding lost.
        fine = render_cover(loops, (mask.shape[0] * FINE, mask.shape[1] * FINE), FINE) >= 0.5
        start2, cut2 = outline_field(hint, fine, FIT_SECTOR)
        refit = fit_profile(cut2, start2, g, seen, fit.sigma if sigma_hint is None else sigma_hint, near=True)
        if len(cut2.corners) and not isinstance(refit, str) and refit.cost < fit.cost:
            fit, cut = dataclasses.replace(refit, sigma_u=fit.sigma_u), cut2
            level, moved = cut.moved(fit.offsets)
            loops = tuple(moved)
        else:
            level = cornered
    statistical = float(np.median(fit.offset_u)) if len(fit.offset_u) else 0.0
    edge_u = math.hypot(0.05 + 0.05 * fit.sigma, 2 * statistical, 0.5 * (1 - fit.explained))
    own_blur = sigma_hint is None and fit.sigma_u <= 0.1 * fit.sigma
    if _is_stroke(level < 0):  # 2-7 px across and long: its width from the line-spread, not the outline
        stroke = fit_stroke(level < 0, g, seen, noise, sigma_hint, fit.sigma)
        if not isinstance(stroke, str) and stroke.explained >= MIN_EXPLAINED:
            return EdgeFit(stroke.level, "image", "", stroke.sigma, stroke.contrast, noise, stroke.edge_u, False,
                           (stroke.outline,), stroke)
    return EdgeFit(level, "image", "", fit.sigma, fit.contrast, noise, edge_u, own_blur, tuple(loops))


def _is_stroke(inside: np.ndarray) -> bool:
    """At most 7 px across and at least twice as long as wide: a bar, a crack."""
    if inside.sum() < 8:
        return False
    depth = float(cv2.distanceTransform(np.pad(inside, 1).astype(np.uint8), cv2.DIST_L2, 5).max())
    return depth <= STROKE_DEPTH and float(inside.sum()) >= 8 * depth**2


def _fit_edges_old(mask: np.ndarray, gray: np.ndarray, sigma_hint: float | None = None) -> EdgeFit:
    """Place the edges of the object ``mask`` hints at, from ``gray`` (same crop; NaN where unseen).

    ``mask`` must have an empty border of :data:`BORDER` px. ``sigma_hint`` is the frame's
    edge blur, used for an object too small or thin to show its own level.
    """
    sd = approximate_distance(mask)  # where the mask puts things; the outline is traced later
    seen = ~np.isnan(gray)
    g = np.where(seen, gray, 0.0)
    ring = seen & (sd >= W_OUT) & (sd < W_OUT + RING)
    if ring.sum() < 8:
        return from_mask(mask, "no background around it in the frame")
    b = float(np.median(g[ring]))
    noise = sensor_noise(g, ring)
    depth = W_IN
    plateau = object_ring(sd, seen, depth)
    if plateau.sum() < 12:  # a narrower object: its level nearer its edge, if it has one at all
        depth = W_IN_NARROW
        plateau = object_ring(sd, seen, depth)
    if plateau.sum() < 12:
        return _fit_thin(mask, sd, g, seen, noise, sigma_hint)
    inner = float(np.median(g[plateau]))
    half = half_level(sd, np.where(seen, g, b), (inner + b) / 2, inner > b)
    sd0 = sd
    # The outline measured from: the image's own half-level, or else the mask's; the levels are
    # still read where the mask put them.
    sd, cut = outline_field(mask, half)
    fit = _fit_with_plateau(mask, sd, cut, g, seen, ring, plateau, noise, depth)
    if fit is None:  # too narrow to read its level beside its edge: its whole profile decides
        return _fit_thin(mask, sd0, g, seen, noise, sigma_hint)
    return fit


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


@dataclass(frozen=True)
class _Pass:
    """One pass of the per-sector mass balance: offsets, and the band's pixels and shares."""

    offset: np.ndarray
    band: np.ndarray
    share: np.ndarray
    contrast: float
    counted: np.ndarray
    pinned: float  # share of the sectors whose edge hit the band's limits


def _mass_pass(dist: np.ndarray, owner: np.ndarray, n: int, g: np.ndarray, seen: np.ndarray, inner: np.ndarray,
               outer: np.ndarray, reach_in: float, reach_out: float, noise: float) -> _Pass | str:
    """Per sector, the offset from the outline ``dist`` measures from that encloses the band's grey-level mass.

    The object's level per sector is the median over ``inner``, the background's over
    ``outer``; each band pixel (``-reach_in <= dist < reach_out``) counts its covered share
    ``(g - b) / (a - b)``. Blur moves grey level between neighbours but keeps the sum, so a
    sector's summed share is the object's area in it whatever the blur or curvature; the
    sector's edge goes where the outline moved by the offset encloses exactly that area
    (bisection: the enclosed area grows with the offset).
    """
    a_all, b_all = float(np.median(g[inner])), float(np.median(g[outer]))
    if abs(a_all - b_all) < max(MIN_CONTRAST, 6 * noise):
        return f"low contrast ({abs(a_all - b_all):.0f} grey levels)"
    a = group_median(owner[inner], g[inner], n, 12, a_all)
    b = group_median(owner[outer], g[outer], n, 6, b_all)
    # Where the object hardly stands out from what is around it (a shadowed rim, a dark patch
    # on a coin) the grey levels cannot place its edge: such sectors take their neighbours' offset.
    weak = np.abs(a - b) < max(MIN_CONTRAST, 4 * noise, 0.4 * abs(a_all - b_all))
    a[weak], b[weak] = a_all, b_all
    band = seen & (dist < reach_out) & (dist >= -reach_in)
    s, k = dist[band], owner[band]
    share = (g[band] - b[k]) / (a[k] - b[k])
    target = np.bincount(k, share, minlength=n)
    lo, hi = np.full(n, -reach_in + 0.5), np.full(n, reach_out - 0.5)
    for _ in range(24):
        mid = (lo + hi) / 2
        more = np.bincount(k, offset_cover(s, mid[k]), minlength=n) < target
        lo, hi = np.where(more, mid, lo), np.where(more, hi, mid)
    offset = (lo + hi) / 2
    # A sector whose outer band lies mostly beyond the frame (or on another object) has no
    # background to weigh its edge against: the outline stays where it is.
    near = (dist < reach_out) & (dist >= 0)
    hidden = np.bincount(owner[near & ~seen], minlength=n) > 0.3 * np.bincount(owner[near], minlength=n)
    offset[hidden] = 0.0
    counted = (np.bincount(k, minlength=n) > 0) & ~hidden & ~weak
    if not counted.any():
        return "no background seen around it"
    pinned = counted & ((offset < -reach_in + 1.0) | (offset > reach_out - 1.0))
    offset[~counted & ~hidden] = float(np.median(offset[counted]))  # sectors with no pixels or no contrast
    return _Pass(offset, band, share, float(np.median(a - b)), counted, float(pinned.sum() / counted.sum()))


def _fit_with_plateau(mask: np.ndarray, sd: np.ndarray, cut: Sectors, g: np.ndarray, seen: np.ndarray,
                      ring: np.ndarray, plateau: np.ndarray, noise: float, depth: float) -> EdgeFit | None:
    """Two passes: a wide band that a mask 3 px off cannot escape, then a band fitted to the blur found.

    The second pass reads the object's and the background's levels just outside the blurred
    edge (2.5 sigma + 1 px from it), not deep inside: a shaded object (a dome, a stone) is
    darker at its rim than at its centre, and a drop shadow darkens the background by it.
    """
    owner, n = cut.of_pixel, cut.n
    first = _mass_pass(sd, owner, n, g, seen, plateau, ring, depth, W_OUT, noise)
    if isinstance(first, str):
        return from_mask(mask, first, noise)
    if first.pinned > 0.25:
        return from_mask(mask, f"the grey levels put the edges more than {int(depth) - 1} px from the mask", noise)
    level, _ = cut.moved(first.offset)
    explained, sigma = _step_fit(level[first.band], first.share)
    if explained < MIN_EXPLAINED:
        return from_mask(mask, f"the grey levels do not look like an edge ({explained:.0%} explained)", noise)
    reach = float(np.clip(2.5 * sigma + 1.0, 1.5, W_IN))
    inner = seen & (level < -reach) & (level >= -reach - 2)
    outer = seen & (level >= reach) & (level < reach + 2)
    second = _mass_pass(level, owner, n, g, seen, inner, outer, reach, reach, noise) if inner.sum() >= 12 else None
    final = first
    if isinstance(second, _Pass) and second.pinned <= 0.25:
        final = dataclasses.replace(second, offset=first.offset + second.offset)
    level, loops = cut.moved(final.offset)  # distance from the refined outline, negative inside
    explained, sigma = _step_fit(level[final.band], final.share)

    counted = max(int(final.counted.sum()), 1)
    per_sector_u = noise / abs(final.contrast) * math.sqrt(max(float(final.band.sum()) / counted, 1.0))
    statistical = per_sector_u / math.sqrt(counted / 4)  # a figure spans a few sectors
    edge_u = math.hypot(0.08 + 0.06 * sigma, statistical, 0.3 * (1 - explained))
    if final is first and depth < W_IN:
        return None
    if final is first:  # too narrow for levels read just beside the blurred edge: they may hold some of it
        edge_u = math.hypot(edge_u, 0.2 + 0.25 * sigma)
    return EdgeFit(level, "image", "", sigma, final.contrast, noise, edge_u, True, tuple(loops))


def _step_fit(t: np.ndarray, share: np.ndarray) -> tuple[float, float]:
    """How well a blurred step at the refined outline explains the shares (R^2), and its blur sigma (px).

    The blur comes from the slope of the shares where they cross one half (a Gaussian-blurred
    step falls by 1 / (sigma sqrt(2 pi)) per px there), less a pixel's own width (1/12).
    """
    near = np.abs(t) < 1.2
    if near.sum() < 4:
        return 0.0, math.nan
    slope = -float(np.sum(t[near] * (share[near] - 0.5)) / np.sum(t[near] ** 2))
    total = min(math.sqrt(1 / (2 * math.pi)) / slope, 3.0) if slope > 0 else 3.0
    model = 0.5 * (1 - _erf(t / (math.sqrt(2) * total)))
    variance = float(np.var(share))
    explained = 1 - float(np.mean((share - model) ** 2)) / variance if variance > 0 else 0.0
    return explained, math.sqrt(max(total**2 - 1 / 12, 0.04))


def _erf(x: np.ndarray) -> np.ndarray:
    """Vectorised error function (Abramowitz & Stegun 7.1.26, error below 1.5e-7)."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1 / (1 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1 - poly * np.exp(-x * x))


def _fit_thin(mask: np.ndarray, sd: np.ndarray, g: np.ndarray, seen: np.ndarray, noise: float,
              sigma_hint: float | None) -> EdgeFit:
    """A thin or small object as a thick centre line (its mask's skeleton), blurred: fit its half-width.

    The centre line is the mask's, simplified to straight runs, so a staircase mask does not
    make the model wobble; near free ends (within :data:`END_SKIP` px) the cross profile is
    not a line-spread and is left out of the fit. The area is the mass of the profile over
    the fitted level (blur-invariant); the ends are moved so the outline encloses it.
    """
    region = seen & (sd < W_OUT + RING)
    ys, xs = np.nonzero(region)
    h, w = mask.shape
    window = (slice(max(ys.min() - 4, 0), min(ys.max() + 5, h)), slice(max(xs.min() - 4, 0), min(xs.max() + 5, w)))
    gy, gx = np.mgrid[window]
    centres = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float64)
    skeleton = zhang_suen_thinning(mask)
    paths, ends = skeleton_paths(skeleton), free_ends(skeleton)
    if not paths:  # thinning can remove a tiny blob whole: its centre stands for it
        ys, xs = np.nonzero(mask)
        paths = [np.array([[xs.mean(), ys.mean()]])]
    r = polyline_distance(centres, paths).reshape(gx.shape)
    rw, gw = region[window], g[window]
    fitted = rw.copy()
    if skeleton.sum() > 2 and len(ends):
        near_end = np.min(np.hypot(*(centres[:, None, :] - ends[None, :, :]).transpose(2, 0, 1)), axis=1)
        fitted &= near_end.reshape(gx.shape) >= END_SKIP
        if fitted.sum() < 20:
            fitted = rw.copy()
    values = gw[fitted]
    top = float(r[mask[window]].max()) + 3.0

    def cost(rho: float, sigma: float) -> tuple[float, float, float]:
        model = cv2.GaussianBlur(offset_cover(r, rho).astype(np.float32), (0, 0), sigma)[fitted]
        (contrast, background), c = _line_fit(model.astype(np.float64), values)
        return c, contrast, background

    # A coarse grid of half-widths and blurs, then a finer search around its best.
    radii = np.arange(0.25, top + 1e-9, 0.5)
    sigmas = SIGMAS if sigma_hint is None else np.array([sigma_hint])
    grid = np.array([[cost(rho, s)[0] for rho in radii] for s in sigmas])
    i, j = np.unravel_index(int(np.argmin(grid)), grid.shape)
    if j == len(radii) - 1:
        return from_mask(mask, "the grey levels put the edges beyond the search band", noise)
    rho, sigma = float(radii[j]), float(sigmas[i])
    step_r, step_s = 0.25, (0.1 if sigma_hint is None else 0.0)
    best = cost(rho, sigma)
    for _ in range(5):
        for dr, ds in ((step_r, 0), (-step_r, 0), (0, step_s), (0, -step_s)):
            if (dr or ds) and rho + dr > 0.1 and sigma + ds > 0.3:
                trial = cost(rho + dr, sigma + ds)
                if trial[0] < best[0]:
                    best, rho, sigma = trial, rho + dr, sigma + ds
        step_r, step_s = step_r / 2, step_s / 2
    c_best, contrast, b = best
    if abs(contrast) < max(MIN_CONTRAST, 6 * noise):
        return from_mask(mask, f"low contrast ({abs(contrast):.0f} grey levels)", noise)
    spread = float(np.sum((values - values.mean()) ** 2))
    explained = 1 - c_best / spread if spread > 0 else 0.0
    if explained < MIN_EXPLAINED:
        return from_mask(mask, f"the grey levels do not look like an edge ({explained:.0%} explained)", noise)
    # Half-widths that fit about as well at any blur tried: where blur and width trade off
    # (a bar as narrow as the blur, with the frame's blur unknown) this is honestly wide.
    residual_var = max(c_best / max(len(values) - 4, 1), noise**2)
    alike = radii[np.any(grid <= c_best + 4 * residual_var, axis=0)]
    fit_u = max(float(np.max(np.abs(alike - rho))) / 2, 0.25 / math.sqrt(12)) if len(alike) else 0.25
    area = float(np.sum(gw[rw] - b)) / contrast
    if len(ends) and skeleton.sum() > 2:
        grow = (area - float(offset_cover(r, rho).sum())) / (2 * rho * len(ends))
        grow = float(np.clip(grow, -rho, W_OUT - 1))
        r = polyline_distance(centres, extend_ends(paths, ends, grow)).reshape(gx.shape)
    full = np.full(mask.shape, W_OUT + RING)
    full[window] = r - rho
    edge_u = math.hypot(0.08 + 0.06 * sigma, fit_u, 0.3 * (1 - explained))
    return EdgeFit(full, "image", "", sigma, float(contrast), noise, edge_u, False)


def _line_fit(model: np.ndarray, values: np.ndarray) -> tuple[tuple[float, float], float]:
    """Least-squares ``values ~ contrast * model + background``: the two levels and the residual sum of squares."""
    n, sx, sy = len(model), float(model.sum()), float(values.sum())
    sxx, sxy = float(model @ model), float(model @ values)
    det = n * sxx - sx * sx
    if det <= 1e-9:
        return (0.0, sy / max(n, 1)), math.inf
    contrast = (n * sxy - sx * sy) / det
    background = (sy - contrast * sx) / n
    residual = values - contrast * model - background
    return (contrast, background), float(residual @ residual)
