"""A thin object (a bar, a crack) fitted to the image as a blurred stroke: its width from the line-spread.

An outline fitted sector by sector (:mod:`segflow.vision.edge_model`) cannot
follow a 2-6 px wide object: its short flat ends are rounded off by sectors as
long as the ends are wide, and the sides bulge to make up the area lost, so
the width reads 15-20 % wide. A thin object is instead modelled as what it
is, a stroke of constant width with flat ends along a smooth centre line:

* the centre line is a polynomial across the object's principal axis, started
  through the grey-level mass of its profile (a blurred line's profile is
  symmetric about its centre whatever the blur, so its mass centre is the
  centre line) and then fitted with the stroke against the picture: the mass of
  noise and of a neighbour's edge pull the first line by tenths of a pixel;
* each pixel's distance across the line and along it give its signed distance
  from the stroke (half-width ``rho``, ends at arc lengths ``s0`` and ``s1``),
  rendered with a pixel's own spread and blurred by the lens's Gaussian;
* background (and its gradient) and contrast are solved exactly at every step;
  ``rho``, the ends and the blur by damped Gauss-Newton. Across the stroke,
  width and blur trade off (a 2 px line under sigma 1.5 is nearly a Gaussian
  either way); the flat ends are edges of the blur alone and separate them, and
  the frame's blur, when known from larger objects, is used instead.

The covariance of the fit gives the width's and the length's standard
uncertainties, blur included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from segflow.vision.edge_model import Background, square_cover

REACH = 4.0  # px beyond the stroke (plus 3 sigma) that the fit reads
MAX_DEGREE = 7  # of the centre line's polynomial: an arc with a slow wave on it, bent strongly near its ends
SPAN_PER_DEGREE = 8  # px of length per degree the picture may give the centre line
BEND_PX = 0.1  # px: a centre line is given another degree only if that follows the mass this much closer
# ... and closer by this share of the profile's own spread (a bar 5.5 px wide under sigma 1.2 took a
# 0.2 px bend from shading across it, and its outline's calipers read 0.2 px wide)
BEND_SHARE = 0.01
ITERATIONS = 20
STEP = 0.02  # px, finite-difference step of the Jacobian
# An end's model error in units of sigma^2 / width: the least that keeps 95 % of the cracks' skeleton
# lengths within 2u on seed 1 of the truth bench (exact and model masks, 72 cracks: 0.10 gives 93 %,
# 0.15 96 %). It was 0.25 while a flat end's corners were given too much (an end read 0.04 px in).
END_MODEL = 0.15


@dataclass(frozen=True)
class Stroke:
    """A fitted stroke: its outline, level field, and figures with their standard uncertainties (px)."""

    level: np.ndarray  # signed distance from the stroke's outline, negative inside (approximate off it)
    outline: np.ndarray  # the closed outline polygon (x, y rows)
    width: float
    width_u: float
    length: float  # of the centre line, end to end
    length_u: float
    sigma: float
    sigma_u: float
    contrast: float
    explained: float
    residual: float  # RMS misfit, grey levels
    edge_u: float  # of one side's position: half the width's
    end_u: float = 0.0  # each end's own model error (END_MODEL), beyond the fit's scatter
    # the outline one standard deviation either way along each principal axis of the covariance
    # of width and ends (the blur's share included): how far each figure of the outline may move
    spread: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    bends: tuple[tuple[np.ndarray, np.ndarray], ...] = ()  # the same for the centre line's own covariance
    degree: int = 1  # of the centre line's polynomial: exact for a straight line, an approximation of an arc
    parameters: int = 5  # fitted: half-width, ends, blur (where free), the centre line's coefficients


class _Geometry:
    """Each pixel's distance across and along a centre line ``v = p(u)`` in the principal frame."""

    def __init__(self, shape: tuple[int, int], origin: np.ndarray, axis: np.ndarray, coef: np.ndarray,
                 u_range: tuple[float, float]) -> None:
        h, w = shape
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        self.origin, self.axis, self.coef, self.u_range = origin, axis, coef, u_range
        normal = np.array([-axis[1], axis[0]])
        u = (xs - origin[0]) * axis[0] + (ys - origin[1]) * axis[1]
        v = (xs - origin[0]) * normal[0] + (ys - origin[1]) * normal[1]
        lo, hi = u_range
        uc = np.clip(u, lo, hi)
        slope = np.polyval(np.polyder(coef), uc)
        stretch = np.sqrt(1 + slope**2)
        off = v - np.polyval(coef, uc)
        self.across = off / stretch
        # the directions across and along the line at each pixel, in image axes (for a pixel's coverage)
        self.cos_across = (-slope * axis[0] + normal[0]) / stretch
        self.cos_along = (axis[0] + slope * normal[0]) / stretch
        foot = u + off * slope / stretch**2  # the foot of the normal, to first order
        grid, arc = _arc(coef, u_range)
        self.grid, self.arc = grid, arc
        self.along = np.interp(foot, grid, self.arc)
        # beyond the ends the line runs on straight, along its end tangents
        for end, beyond in ((lo, foot < lo), (hi, foot > hi)):
            t = np.polyval(np.polyder(coef), end)
            self.along[beyond] = np.interp(end, grid, self.arc) + (foot[beyond] - end) * math.sqrt(1 + t * t)

    def level(self, rho: float, s0: float, s1: float) -> np.ndarray:
        return np.maximum(np.maximum(np.abs(self.across) - rho, s0 - self.along), self.along - s1)

    def cover(self, rho: float, s0: float, s1: float) -> np.ndarray:
        """Each pixel's share inside the stroke: a side's or an end's, and at a corner both's product.

        The product is exact for a pixel square to the stroke and within 0.025 at any angle;
        the share of the nearer edge alone, which a corner pixel used to get, is 0.02 too much
        on average there (0.25 at worst), and a flat end whose corners seem to hold more than
        they do is fitted that much inwards: thin objects' lengths read 0.04-0.05 px short at
        each end (bars -0.08 px, cracks -0.10 px on the truth bench's seeds 0-3).
        """
        side = np.abs(self.across) - rho
        end = np.maximum(s0 - self.along, self.along - s1)
        return square_cover(side, self.cos_across) * square_cover(end, self.cos_along)

    def outline(self, rho: float, s0: float, s1: float, coef: np.ndarray | None = None) -> np.ndarray:
        """The stroke's outline: one side, the flat end, the other side back, the other end.

        ``coef``: another centre line in the same frame (its ends at the same arc lengths).
        """
        if coef is None:
            coef, (grid, arc) = self.coef, (self.grid, self.arc)
        else:
            grid, arc = _arc(coef, self.u_range)
        s = np.linspace(s0, s1, max(int((s1 - s0) * 2), 2) + 1)
        u = np.interp(s, arc, grid)
        slope = np.polyval(np.polyder(coef), u)
        v = np.polyval(coef, u)
        nu, nv = -slope / np.sqrt(1 + slope**2), 1 / np.sqrt(1 + slope**2)
        normal = np.array([-self.axis[1], self.axis[0]])
        centre = self.origin + u[:, None] * self.axis + v[:, None] * normal
        across = nu[:, None] * self.axis + nv[:, None] * normal
        return np.vstack([centre + rho * across, (centre - rho * across)[::-1]])


def _arc(coef: np.ndarray, u_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """A grid along the principal axis and the centre line's arc length at each, zero at the range's start."""
    lo, hi = u_range
    grid = np.linspace(lo - 20, hi + 20, 2048)
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(grid), np.diff(np.polyval(coef, grid))))])
    return grid, arc - np.interp(lo, grid, arc)


def _centre_line(region: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """Principal frame of ``region`` and the polynomial through the weighted mass of its profile."""
    ys, xs = np.nonzero(region)
    pts = np.column_stack([xs, ys]).astype(np.float64)
    origin = pts.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov((pts - origin).T))
    axis = vectors[:, -1]
    normal = np.array([-axis[1], axis[0]])
    u, v = (pts - origin) @ axis, (pts - origin) @ normal
    span = float(u.max() - u.min())
    w = np.maximum(weight[ys, xs], 1e-9)
    fits = []
    for degree in range(1, int(np.clip(span // 10, 1, MAX_DEGREE)) + 1):
        coef = np.polyfit(u, v, degree, w=np.sqrt(w))
        fits.append((float(np.average((v - np.polyval(coef, u)) ** 2, weights=w)), coef))
    # the lowest degree that follows the line about as well as the highest: a bar stays straight
    least = fits[-1][0]
    coef = next(c for spread, c in fits if spread <= least + max(BEND_PX**2, BEND_SHARE * least))
    return origin, axis, coef, (float(u.min()), float(u.max()))


def fit_stroke(inside: np.ndarray, g: np.ndarray, seen: np.ndarray, noise: float,
               sigma_hint: float | None, sigma_start: float, hint_u: float = 0.0) -> Stroke | str:
    """Fit a stroke to the object ``inside`` roughly covers (a crop with room around it); or why not.

    ``sigma_hint`` is the frame's blur and ``hint_u`` its standard uncertainty: the blur is
    then fitted with that as a prior (fixed when ``hint_u`` is 0), so the width's
    uncertainty carries the frame blur's.
    """
    dist_out = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 5)
    ring = seen & (dist_out > 4) & (dist_out <= 7)
    if ring.sum() < 8 or inside.sum() < 4:
        return "too few pixels around it"
    b = float(np.median(g[ring]))
    a = float(np.median(g[inside & seen])) if (inside & seen).any() else b
    sign = 1.0 if a >= b else -1.0
    near = seen & (dist_out <= 3)
    mass = np.clip(sign * (g - b), 0, None) * near
    origin, axis, coef, u_range = _centre_line(near & (mass > 0), mass)
    geo = _Geometry(inside.shape, origin, axis, coef, u_range)
    depth = float(np.abs(geo.across[inside]).max()) + 0.5
    reach = REACH + 3 * sigma_start
    along_in = geo.along[inside]
    band = seen & (np.abs(geo.across) < depth + reach)
    band &= (geo.along > along_in.min() - reach) & (geo.along < along_in.max() + reach)
    # the centre line again, from the mass within the band only (a neighbour's edge is not this line's)
    mass = np.clip(sign * (g - b), 0, None) * (band & (np.abs(geo.across) < depth + 2 * sigma_start))
    origin, axis, coef, u_range = _centre_line(mass > 0, mass)
    geo = _Geometry(inside.shape, origin, axis, coef, u_range)
    values = g[band]
    prior = sigma_hint is not None and hint_u > 0
    ys, xs = np.nonzero(band)
    background = Background(xs, ys, band.shape, values)

    def solve(theta: np.ndarray, along: _Geometry | None = None) -> tuple[float, float, np.ndarray]:
        rho, s0, s1, sigma = theta[:4]
        cover = (along or geo).cover(rho, s0, s1)
        shape = cv2.GaussianBlur(cover.astype(np.float32), (0, 0), float(sigma),
                                 borderType=cv2.BORDER_REPLICATE)[band].astype(np.float64)
        residual, contrast = background.solve(shape)
        if prior:
            residual = np.append(residual, (sigma - sigma_hint) / hint_u * noise)
        return float(residual @ residual), contrast, residual

    s_in = geo.along[inside]
    start = (float(s_in.min()) - 0.5, float(s_in.max()) + 0.5)
    sigmas = [sigma_hint] if sigma_hint is not None else [0.6, 0.9, 1.2, 1.6, 2.0]
    candidates = [np.array([r, start[0], start[1], s]) for s in sigmas for r in np.arange(0.5, depth + 1.01, 0.25)]
    costs = np.array([solve(c)[0] for c in candidates]).reshape(len(sigmas), -1)
    free = [0, 1, 2] if sigma_hint is not None and not prior else [0, 1, 2, 3]
    # Width and blur trade off across a thin line, and the cost may dip at more than one width:
    # descend from the three best of the grid's local minima along the width.
    padded = np.pad(costs, ((0, 0), (1, 1)), constant_values=np.inf)
    dips = np.flatnonzero((costs <= padded[:, :-2]) & (costs <= padded[:, 2:]))
    best = dips[np.argsort(costs.ravel()[dips])][:3]
    fits = [_descend(solve, candidates[int(i)], free) for i in best]
    theta, cost, contrast, residual = min(fits, key=lambda f: f[1])
    # The centre line from the profile's mass wanders by tenths of a pixel on a noisy curved crack
    # (the mass of noise and of a neighbour's edge pulls it), and the profile then reads as a wider
    # blur or a narrower stroke. Fitted again with the stroke, against the picture itself: its
    # correction is a polynomial in u / half the span (each term in px), of the mass line's degree
    # and of the highest the length allows (a strongly curved crack's ends need it).
    scale = max((u_range[1] - u_range[0]) / 2, 1.0)
    mass_coef = coef
    highest = int(np.clip((u_range[1] - u_range[0]) // SPAN_PER_DEGREE, 1, MAX_DEGREE))
    line_fits = []
    for degree in sorted({len(coef) - 1, highest}):
        base = np.concatenate([np.zeros(degree + 1 - len(mass_coef)), mass_coef])
        powers = np.arange(degree, -1, -1)

        def bent(full: np.ndarray, base=base, powers=powers) -> np.ndarray:
            return base + full[4:] / scale**powers

        def solve_line(full: np.ndarray, bent=bent) -> tuple[float, float, np.ndarray]:
            return solve(full, _Geometry(inside.shape, origin, axis, bent(full), u_range))

        full = np.concatenate([theta, np.zeros(degree + 1)])
        line_free = free + list(range(4, len(full)))
        line_fits.append((_descend(solve_line, full, line_free), line_free, bent, solve_line, powers))
    # the higher degree only where the picture asks for it (BIC: each term must earn ln N in cost / noise)
    chosen = line_fits[0]
    if len(line_fits) == 2:
        low, high = line_fits[0][0][1], line_fits[1][0][1]
        terms = len(line_fits[1][1]) - len(line_fits[0][1])
        noise_var = high / max(len(values) - len(line_fits[1][1]) - 4, 1)
        if (low - high) / noise_var > terms * math.log(len(values)):
            chosen = line_fits[1]
    (full, cost, contrast, residual), free, bent, solve_line, powers = chosen
    coef = bent(full)
    geo = _Geometry(inside.shape, origin, axis, coef, u_range)
    jac = _jacobian(solve_line, full, residual, free)
    variance = cost / max(len(values) - len(free) - 4, 1)
    cov = np.zeros((len(full), len(full)))
    cov[np.ix_(free, free)] = variance * np.linalg.pinv(jac.T @ jac)
    coef_cov = cov[4:, 4:] / np.outer(scale**powers, scale**powers)
    rho, s0, s1, sigma = (float(x) for x in full[:4])
    # An end is placed by the blurred step it makes in the picture; one past the pixels read
    # (a mask covering only part of the object) has nothing to stop it and runs off.
    seen_along = geo.along[band]
    margin = 2 * sigma + 1
    if s0 < float(seen_along.min()) + margin or s1 > float(seen_along.max()) - margin:
        return "its ends lie beyond the pixels read around the mask"
    rho_u = math.sqrt(max(cov[0, 0], 0.0))
    # Each end's own model error on top of the fit's scatter: an end is a step only as tall as the
    # stroke's line-spread, so a stroke narrower than its blur leaves the end's place to the
    # corners' pixels and to the blur-width trade (bars 2-3 px under sigma 1.1-1.3 read 0.1-0.5 px short).
    end_u = END_MODEL * sigma**2 / max(2 * rho, 0.5)
    length_u = math.sqrt(max(cov[1, 1] + cov[2, 2] - 2 * cov[1, 2], 0.0) + 2 * end_u**2)
    sigma_u = math.sqrt(max(cov[3, 3], 0.0))
    spread = float(np.var(values))
    explained = 1 - cost / len(values) / spread if spread > 0 else 0.0
    return Stroke(geo.level(rho, s0, s1), geo.outline(rho, s0, s1), 2 * rho, 2 * rho_u, s1 - s0, length_u,
                  sigma, sigma_u, contrast, explained, math.sqrt(variance), rho_u, end_u,
                  _spread(geo, np.array([rho, s0, s1]), cov[:3, :3]), _bends(geo, (rho, s0, s1), coef_cov),
                  len(coef) - 1, len(free))


def _spread(geo: _Geometry, shape: np.ndarray, cov: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Outlines at the fit one sd either way along each principal axis of (half-width, ends)' covariance.

    The marginal covariance: the blur and the centre line, fitted with them, are in it (the
    line's own moves are :func:`_bends`).
    """
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    pairs = []
    for value, vector in zip(values, vectors.T, strict=True):
        if value <= 0 or not np.isfinite(value):
            continue
        step = math.sqrt(value) * vector
        plus, minus = shape + step, shape - step
        plus[0], minus[0] = max(plus[0], 0.05), max(minus[0], 0.05)
        pairs.append((geo.outline(*plus), geo.outline(*minus)))
    return tuple(pairs)


def _descend(solve, theta: np.ndarray, free: list[int]) -> tuple[np.ndarray, float, float, np.ndarray]:
    """Damped Gauss-Newton from ``theta`` on the free parameters: the end point, its cost, contrast, residuals."""
    cost, contrast, residual = solve(theta)
    damping = 1e-3
    for _ in range(ITERATIONS):
        jac = _jacobian(solve, theta, residual, free)
        normal, gradient = jac.T @ jac, -jac.T @ residual
        delta = np.zeros(len(free))
        while damping < 1e6:
            delta = np.linalg.solve(normal + damping * np.diag(np.maximum(np.diag(normal), 1e-9)), gradient)
            trial = theta.copy()
            trial[free] += delta
            trial[0] = max(trial[0], 0.2)
            trial[3] = float(np.clip(trial[3], 0.3, 3.0))
            result = solve(trial)
            if result[0] < cost:
                theta, (cost, contrast, residual) = trial, result
                damping = max(damping / 10, 1e-6)
                break
            damping *= 10
        else:
            break
        if float(np.max(np.abs(delta))) < 1e-3:
            break
    return theta, cost, contrast, residual


def _jacobian(solve, theta: np.ndarray, residual: np.ndarray, free: list[int]) -> np.ndarray:
    """d(residual)/d(theta) by forward differences, for the free parameters."""
    columns = []
    for k in free:
        step = theta.copy()
        step[k] += STEP
        columns.append((solve(step)[2] - residual) / STEP)
    return np.column_stack(columns)



def _bends(geo: _Geometry, shape: tuple[float, float, float],
           cov: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Outlines on the centre line one sd either way along each principal axis of its covariance."""
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    return tuple((geo.outline(*shape, coef=geo.coef + math.sqrt(value) * vector),
                  geo.outline(*shape, coef=geo.coef - math.sqrt(value) * vector))
                 for value, vector in zip(values, vectors.T, strict=True) if value > 0 and np.isfinite(value))
