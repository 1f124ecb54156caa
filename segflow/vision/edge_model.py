"""An object's outline fitted to the image as a blurred picture of itself.

The camera's picture of a flat object is, near its outline, the object's level
times its exact pixel coverage, blurred by the lens, over the background's
level (which may drift across the object: vignetting, a light ramp). This
module fits exactly that model to the grey levels around a mask:

* the outline is the mask's (or the image's half-level, when the object has
  an interior to read a level from) moved along its normals by one offset per
  sector (:class:`segflow.vision.sectors.Sectors`), interpolated between sectors;
* each pixel's coverage is the exact share of a unit square inside a straight
  edge at the pixel's signed distance ``d`` from the moved outline and at the
  outline's angle there (:func:`square_cover`: a ramp for an edge along the
  pixel grid, rounded when slanted; an erf-shaped step biased axis-aligned and
  sharp edges by tenths of a pixel), blurred by a Gaussian of the lens's sigma;
* the background level and its gradient and the object's contrast are linear
  and solved exactly at every step; the offsets and the blur are found by
  damped Gauss-Newton from the best of a coarse search over one common offset.

Neighbouring sectors are tied by a weak smoothness prior (not across a corner),
so a sector with few pixels follows its neighbours. Where an object has no
interior the line-spread of its profile decides its width, which needs the
blur; the caller passes the frame's blur found on other objects
(``sigma_hint``). A thin object's short flat ends are beyond what sectors can
follow: :mod:`segflow.vision.stroke` fits those again as a stroke.
The covariance of the fit gives each offset's standard uncertainty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from segflow.vision.sectors import Sectors

INNER = 5.0  # px inside the starting outline the fit reads (deeper is interior: shading, texture)
OUTER = 7.0  # px outside it (a mask 3 px off and a blur of 1.5 px stay inside)
COARSE_OFFSETS = np.arange(-4.0, 3.01, 0.25)  # common offsets tried first, px
COARSE_SIGMAS = np.array([0.5, 0.8, 1.1, 1.5, 2.0])  # blurs tried first when the frame's is unknown
SMOOTHNESS = 0.1  # weight of the prior tying neighbouring sectors, in pixels' worth of evidence
ITERATIONS = 15


@dataclass(frozen=True)
class ProfileFit:
    """The fitted outline: per-sector offsets from the starting outline, the blur and the levels."""

    offsets: np.ndarray  # px, outwards, per sector
    offset_u: np.ndarray  # standard uncertainty of each offset, px
    sigma: float  # lens blur, px
    sigma_u: float  # its standard uncertainty (0 when it was given)
    contrast: float  # object minus background, grey levels
    explained: float  # share of the band's grey-level variance the model explains
    residual: float  # RMS misfit, grey levels
    pixels: int  # pixels fitted
    cost: float  # residual sum of squares, grey levels squared


class Background:
    """The background's level and gradient over some pixels, solved with an object's picture in closed form.

    Every fit here renders an outline and asks how well the object's contrast times that
    picture, over a background level that drifts linearly, explains the grey levels: a linear
    least-squares problem solved many times over for the same pixels. The background's part
    is projected out once (an orthonormal basis of its columns; a band in one row, where they
    coincide, too), leaving a single column per picture.
    """

    def __init__(self, xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int], values: np.ndarray) -> None:
        h, w = shape
        self.linear = np.column_stack([np.ones(len(xs)), (xs - w / 2) / max(w, 1), (ys - h / 2) / max(h, 1)])
        u, s, _ = np.linalg.svd(self.linear, full_matrices=False)
        self._basis = u[:, s > (s.max() if len(s) else 0.0) * len(xs) * np.finfo(float).eps]
        self.values_left = self.unexplained(values)

    def unexplained(self, column: np.ndarray) -> np.ndarray:
        """What of ``column`` the background's level and gradient leave unexplained."""
        return column - self._basis @ (self._basis.T @ column)

    def solve(self, picture: np.ndarray) -> tuple[np.ndarray, float]:
        """The residuals and the contrast that best explain the values with ``picture`` over the background."""
        shape = self.unexplained(picture)
        power = float(shape @ shape)
        if power <= 1e-12 * max(len(shape), 1):  # the picture is flat here: nothing the background could not do
            return self.values_left.copy(), 0.0
        contrast = float(shape @ self.values_left) / power
        return self.values_left - contrast * shape, contrast


class _Model:
    """The picture of an outline at given offsets and blur, and its derivatives, on one crop."""

    def __init__(self, cut: Sectors, start: np.ndarray, g: np.ndarray, band: np.ndarray) -> None:
        self.cut, self.start, self.band = cut, start, band
        self.values = g[band]
        point = cut.point_of_pixel
        self.lower, self.upper, self.t = cut.lower[point], cut.upper[point], cut.between[point]
        ys, xs = np.nonzero(band)
        self.background = Background(xs, ys, band.shape, self.values)
        self.linear = self.background.linear

    def level(self, offsets: np.ndarray, exact: bool = True) -> np.ndarray:
        """Signed distance from the outline moved by ``offsets``: exact near it, or the quick linear shift."""
        if exact:
            return self.cut.moved(offsets)[0]
        return self.start - (offsets[self.lower] * (1 - self.t) + offsets[self.upper] * self.t)

    def rendered(self, level: np.ndarray, sigma: float) -> np.ndarray:
        return _blurred(square_cover(level, normal_cos(level)).astype(np.float32), sigma)

    def cost_of_cover(self, cover: np.ndarray, sigma: float) -> float:
        """The misfit of the picture of ``cover`` (float32 shares) blurred by ``sigma``."""
        residual, _ = self.background.solve(_blurred(cover, sigma)[self.band])
        return float(residual @ residual)

    def solve(self, offsets: np.ndarray, sigma: float,
              exact: bool = True) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Cost, the object's contrast (the background's levels solved with it), residuals and the level."""
        level = self.level(offsets, exact)
        residual, contrast = self.background.solve(self.rendered(level, sigma)[self.band])
        return float(residual @ residual), contrast, residual, level

    def jacobian(self, level: np.ndarray, sigma: float, contrast: float, n: int) -> np.ndarray:
        """d(picture)/d(offset_k) at the band's pixels, for every sector k (blurred in one pass)."""
        slope = square_density(level, normal_cos(level))
        ys, xs = np.nonzero(slope > 1e-4)
        h, w = level.shape
        pad = int(math.ceil(4 * sigma)) + 1
        tall = np.zeros((n * (h + pad), w), np.float32)
        lo, up, t = self.lower[ys, xs], self.upper[ys, xs], self.t[ys, xs]
        k = slope[ys, xs]
        np.add.at(tall, (lo * (h + pad) + ys, xs), ((1 - t) * k).astype(np.float32))
        np.add.at(tall, (up * (h + pad) + ys, xs), (t * k).astype(np.float32))
        blurred = cv2.GaussianBlur(tall, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
        stack = blurred.reshape(n, h + pad, w)[:, :h, :]
        return contrast * stack[:, self.band].T.astype(np.float64)


def _blurred(cover: np.ndarray, sigma: float) -> np.ndarray:
    """What the lens makes of a cover: blurred by its Gaussian, the crop's edge repeated beyond it."""
    return cv2.GaussianBlur(cover, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE).astype(np.float64)


def fit_profile(cut: Sectors, start: np.ndarray, g: np.ndarray, seen: np.ndarray,
                sigma_hint: float | None, near: bool = False) -> ProfileFit | str:
    """Fit the blurred outline model around ``start`` (signed distance from the starting outline).

    ``near``: the starting outline is already close (a refit), so the coarse search is skipped.
    Returns the fit, or why the grey levels cannot place the edges.
    """
    band = seen & (start < OUTER) & (start >= -INNER)
    if band.sum() < 16:
        return "too few pixels around it"
    model = _Model(cut, start, g, band)
    n = cut.n
    sigmas = COARSE_SIGMAS if sigma_hint is None else np.array([sigma_hint])
    best: tuple[float, float, float] = (math.inf, 0.0, float(sigmas[0]))
    if not near:
        # One common offset moves the outline without turning it: its normals, and each offset's
        # cover, are the same whatever the blur, so each is rendered once and blurred by each sigma.
        cos = normal_cos(start)
        costs = np.empty((len(sigmas), len(COARSE_OFFSETS)))
        for j, d in enumerate(COARSE_OFFSETS):
            cover = square_cover(start - d, cos).astype(np.float32)
            for i, s in enumerate(sigmas):
                costs[i, j] = model.cost_of_cover(cover, float(s))
        i, j = np.unravel_index(int(np.argmin(costs)), costs.shape)  # the first of equals, blur by blur
        best = (float(costs[i, j]), float(COARSE_OFFSETS[j]), float(sigmas[i]))
    _, d0, sigma = best
    offsets = np.full(n, d0)
    prior = _smoothness(cut)
    free_sigma = sigma_hint is None
    damping = 1e-3
    cost, contrast, residual, level = model.solve(offsets, sigma)
    for _ in range(ITERATIONS):
        jac = model.jacobian(level, sigma, contrast, n)
        if free_sigma:
            jac = np.column_stack([jac, contrast * _sigma_slope(model, level, sigma)])
        weight = SMOOTHNESS * contrast**2
        normal = jac.T @ jac
        gradient = jac.T @ residual
        normal[:n, :n] += weight * prior
        gradient[:n] -= weight * prior @ offsets
        diagonal = np.diag(normal).copy()
        while True:
            trial_normal = normal + damping * np.diag(np.maximum(diagonal, 1e-6))
            try:
                delta = np.linalg.solve(trial_normal, gradient)
            except np.linalg.LinAlgError:
                delta = np.zeros(len(gradient))
            new_offsets = np.clip(offsets + delta[:n], -INNER, OUTER - 1)
            new_sigma = float(np.clip(sigma + delta[n], 0.3, 3.0)) if free_sigma else sigma
            trial = model.solve(new_offsets, new_sigma)
            penalty_old = weight * offsets @ prior @ offsets
            penalty_new = weight * new_offsets @ prior @ new_offsets
            if trial[0] + penalty_new <= cost + penalty_old or damping > 1e6:
                break
            damping *= 10
        if trial[0] + penalty_new > cost + penalty_old:
            break
        moved = float(np.max(np.abs(new_offsets - offsets)))
        offsets, sigma = new_offsets, new_sigma
        cost, contrast, residual, level = trial
        damping = max(damping / 10, 1e-6)
        if moved < 0.005:
            break
    jac = model.jacobian(level, sigma, contrast, n)
    extra = np.column_stack([contrast * _sigma_slope(model, level, sigma), model.linear,
                             model.rendered(level, sigma)[band]])
    full = np.column_stack([jac, extra])  # offsets, blur, then the linear levels
    dof = max(len(residual) - full.shape[1], 1)
    variance = cost / dof
    normal = full.T @ full
    normal[:n, :n] += SMOOTHNESS * contrast**2 * prior
    if not free_sigma:  # the blur was given: drop its column
        keep = np.r_[0:n, n + 1:normal.shape[0]]
        normal = normal[np.ix_(keep, keep)]
    try:
        cov = variance * np.linalg.inv(normal + 1e-9 * np.eye(len(normal)))
        offset_u = np.sqrt(np.clip(np.diag(cov)[:n], 0, None))
        sigma_u = math.sqrt(max(cov[n, n], 0.0)) if free_sigma else 0.0
    except np.linalg.LinAlgError:
        offset_u, sigma_u = np.full(n, math.inf), math.inf
    spread = float(np.var(model.values))
    explained = 1 - cost / len(residual) / spread if spread > 0 else 0.0
    return ProfileFit(offsets, offset_u, sigma, sigma_u, contrast, explained, math.sqrt(variance), len(residual),
                      cost)


def _sigma_slope(model: _Model, level: np.ndarray, sigma: float, step: float = 0.05) -> np.ndarray:
    """d(picture)/d(sigma) at the band's pixels, per unit contrast."""
    return (model.rendered(level, sigma + step)[model.band] - model.rendered(level, sigma)[model.band]) / step


def _smoothness(cut: Sectors) -> np.ndarray:
    """The quadratic form of the differences between neighbouring sectors, within each run."""
    n = cut.n
    prior = np.zeros((n, n))
    for first, k, closed in cut.runs:
        pairs = [(first + i, first + i + 1) for i in range(k - 1)]
        if closed and k > 2:
            pairs.append((first + k - 1, first))
        for a, b in pairs:
            prior[a, a] += 1
            prior[b, b] += 1
            prior[a, b] -= 1
            prior[b, a] -= 1
    return prior


def square_cover(level: np.ndarray, cos: np.ndarray) -> np.ndarray:
    """Share of a unit pixel inside a straight edge at signed distance ``level`` (negative inside).

    ``cos`` is the cosine of the edge normal's angle to the x axis. The share is the
    distribution function of the sum of two uniform variables of widths ``|cos|`` and
    ``|sin|``: a ramp for an edge along the pixel grid, rounded at the ends when slanted.
    """
    a, b = _sides(cos)
    t = np.clip((a + b) / 2 - level, 0, a + b)
    low = t * t / (2 * a * b)
    mid = (2 * t - b) / (2 * a)
    high = 1 - (a + b - t) ** 2 / (2 * a * b)
    return np.where(t < b, low, np.where(t <= a, mid, high))


def square_density(level: np.ndarray, cos: np.ndarray) -> np.ndarray:
    """How fast :func:`square_cover` grows as the edge moves outwards (per px): a trapezoid."""
    a, b = _sides(cos)
    t = (a + b) / 2 - level
    return np.clip(np.minimum(np.minimum(t, a + b - t) / (a * b), 1 / a), 0, None)


def normal_cos(level: np.ndarray) -> np.ndarray:
    """Cosine of the angle of a level field's gradient (an outline's normal) to the x axis."""
    gy, gx = np.gradient(level)
    return gx / np.maximum(np.hypot(gx, gy), 1e-9)


def _sides(cos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = np.abs(cos)
    s = np.sqrt(np.clip(1 - c * c, 0, None))
    return np.maximum(c, s), np.maximum(np.minimum(c, s), 1e-6)
