"""A small object's outline fitted whole, as a few-parameter shape, to its blurred picture.

Sector by sector (:mod:`segflow.vision.edge_model`) an outline follows straight
faces and gentle curves to a tenth of a pixel, but on a small object the lens
blurs across most of it: an acute triangle's tips retreat by sigma / sin(half
their angle) and no face is long enough to rebuild them from, and a 4 x 6 px
ellipse's half-level reads rounder than the ellipse. Neither is in the picture
itself, which still holds where the corners and ends are. Here whole shapes
with few parameters are fitted to the grey levels, each rendered as the camera
would see it (exact pixel coverage, blurred, over a background that may
drift; levels solved exactly at every step):

* polygons of 3 and 4 vertices, started from the outline's own polygon, the best of
  them also with every corner rounded to one fitted radius (a moulded or worn part);
  (5 and 6 were tried: a hex nut's corners came right, but a lumpy pebble won as a
  hexagon, with corners nothing showed, and its calipers' _u covered 64 %);
* polygons of 5 and 6 vertices where the outline has a notch deeper than the lens
  fills (an L-bracket, a step: see ``NOTCHED``);
* closed curves ``x(t) = cx + sum_k a_k cos kt + b_k sin kt`` (and ``y`` alike),
  elliptic Fourier series of order 1 (an ellipse) and 2, started from the
  outline's own coefficients.

Each candidate and the sector outline are scored by the Bayesian information
criterion on the same pixels (misfit over the sensor noise, plus the number of
parameters times log of the pixels), so a shape replaces the sector outline
only where the picture says it is the better account of the object; a stone's
irregular outline keeps its sectors. The next best account is returned too: the
difference between the two is part of every figure's uncertainty.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from segflow.vision.coverage import cover_slope, exact_cover
from segflow.vision.edge_model import Background

MAX_EXTENT = 40.0  # px: larger objects have faces long enough for the sector fit and corner rebuild
CURVE_POINTS = 40  # points on a fitted curve's outline
ORDERS = (1, 2)  # elliptic Fourier orders of the curves tried (1: an ellipse; 3 was never chosen on the truth bench)
VERTICES = (3, 4)  # polygons tried
# Polygons of 5 and 6 vertices are tried only on an outline with a notch (an L-bracket, a step),
# and kept only if their own notch reaches in at least NOTCH_BLURS times their blur from the
# convex hull: a shallower dip is one the lens fills, and a curve tells it as well. Convex ones
# would claim corners on lumpy pebbles (max Feret +9.9 %, 64-78 % within 2u, at 121bcfa); on
# bench/measure_other_shapes.py's pebbles the notches of 5-6 vertex fits reached 1.4 blurs at
# most, on its L-shapes 3.3 at least.
NOTCHED = (5, 6)
NOTCH_BLURS = 2.0
FILLET_POINTS = 9  # points on each rounded corner's arc
FILLET_START = 1.5  # px: the corner radius a rounded polygon's fit starts from
# BIC units a rounded polygon must beat its sharp one by, beyond its radius's own charge (strong
# evidence: chi-square(1) of 10.6 or more, 1 in 1,000 by chance): a fillet under ~0.5 px is not in
# the picture (its area goes as r squared) and fits wherever the noise puts it, and at an acute
# tip it moves the calipers by 3r (one 40 px triangle of the truth test's: max Feret -2.1 %)
FILLET_EVIDENCE = 4.0
ITERATIONS = 25
POLISH = 8  # finite-difference iterations that finish a polygon's fit
STEP = 0.02  # px: their step
START_BLURS = (0.8, 1.3)  # px: blurs the ellipse is also fitted from when the frame's is not known
CORNER_EVIDENCE = 10.0  # BIC units a polygon must beat the curves by (very strong evidence, as SECTORS_EVIDENCE)
MIN_SIDE = 1.0  # px: a polygon side shorter than this has lost a vertex (the fit degenerated)
_NOTCHED_NAMES = tuple(f"polygon{k}" for k in NOTCHED)
# A rectangle is a quadrilateral held to right angles and equal opposite sides (3 constraints): kept
# only where the quadrilateral fits better by less than chi-square(3) at 99 % in misfit over noise.
# (BIC, which charges 3 ln N for the freedom, preferred a rectangle on a 7 px blob whose
# quadrilateral it misfitted: width -17 % at 4.5 u.)
RIGHT_ANGLES = 11.34
# BIC units by which the sector outline must beat the best whole shape to be kept: short of this
# ("very strong" evidence, Kass and Raftery 1995) the whole shape is taken (fit_shapes says why)
SECTORS_EVIDENCE = 10.0


@dataclass(frozen=True)
class ShapeFit:
    """One account of the object: its outline (closed, crop px), parameters, blur and misfit."""

    name: str  # "sectors", "polygon3", "polygon4", "rectangle", "rounded_<polygon>", "curve1" (an ellipse), "curve2"
    loop: np.ndarray
    parameters: int
    sigma: float
    cost: float  # residual sum of squares over the band, grey levels squared
    score: float  # BIC: cost / noise^2 + parameters * log(pixels); lower is better
    params: np.ndarray | None = None  # the shape's own parameters (None for the sector outline)
    spread: tuple[tuple[np.ndarray, np.ndarray], ...] = ()  # outlines one standard deviation either way


class _Picture:
    """The crop's grey levels in the band and the renderer that compares an outline with them."""

    def __init__(self, g: np.ndarray, band: np.ndarray) -> None:
        h, w = band.shape
        self.shape = (h, w)
        self.band = band.ravel()
        self.values = g.ravel()[self.band]
        by, bx = np.nonzero(band)
        self.background = Background(bx, by, (h, w), self.values)
        self.linear = self.background.linear
        self._cover: tuple[bytes, np.ndarray] | None = None  # the last outline rendered, and its cover

    def picture(self, loop: np.ndarray, sigma: float) -> np.ndarray:
        """The blurred exact-coverage picture of the closed outline ``loop``, at the band's pixels."""
        key = loop.tobytes()
        if self._cover is None or self._cover[0] != key:  # a blur's derivative renders the same outline again
            self._cover = (key, exact_cover((loop,), self.shape))
        cover = self._cover[1]
        blurred = cv2.GaussianBlur(cover, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        return blurred.ravel()[self.band].astype(np.float64)

    def residual(self, loop: np.ndarray, sigma: float) -> np.ndarray:
        return self.solve(loop, sigma)[0]

    def solve(self, loop: np.ndarray, sigma: float) -> tuple[np.ndarray, float]:
        """Residuals with the background, its gradient and the object's contrast solved; and the contrast."""
        return self.background.solve(self.picture(loop, sigma))

    def jacobian(self, loop: np.ndarray, sigma: float, point_jacobian: np.ndarray, contrast: float) -> np.ndarray:
        """d(picture)/d(parameter) at the band's pixels: the coverage's slope, blurred, times the contrast."""
        slope = cover_slope(loop, self.shape, point_jacobian)
        columns = [cv2.GaussianBlur(layer, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE).ravel()[self.band]
                   for layer in slope]
        return contrast * np.column_stack(columns).astype(np.float64)


def _curve(params: np.ndarray, order: int) -> np.ndarray:
    """The closed curve of elliptic Fourier coefficients ``cx, cy, (a_k, b_k, c_k, d_k) for k = 1..order``."""
    t = np.linspace(0, 2 * math.pi, CURVE_POINTS, endpoint=False)
    x, y = np.full_like(t, params[0]), np.full_like(t, params[1])
    for k in range(1, order + 1):
        a, b, c, d = params[4 * k - 2:4 * k + 2]
        x += a * np.cos(k * t) + b * np.sin(k * t)
        y += c * np.cos(k * t) + d * np.sin(k * t)
    return np.column_stack([x, y])


def _curve_start(loop: np.ndarray, order: int) -> np.ndarray:
    """The outline's own elliptic Fourier coefficients, its points spaced by arc length."""
    steps = np.hypot(*(np.roll(loop, -1, axis=0) - loop).T)
    t = 2 * math.pi * np.concatenate([[0.0], np.cumsum(steps)[:-1]]) / max(float(steps.sum()), 1e-9)
    columns = [np.ones_like(t)]
    for k in range(1, order + 1):
        columns += [np.cos(k * t), np.sin(k * t)]
    basis = np.column_stack(columns)
    cx, *xs = np.linalg.lstsq(basis, loop[:, 0], rcond=None)[0]
    cy, *ys = np.linalg.lstsq(basis, loop[:, 1], rcond=None)[0]
    coef = [v for k in range(order) for v in (xs[2 * k], xs[2 * k + 1], ys[2 * k], ys[2 * k + 1])]
    return np.array([cx, cy, *coef])


def _polygon_start(loop: np.ndarray, k: int) -> np.ndarray | None:
    """The outline's own polygon of ``k`` vertices (the tolerance that simplifies it to exactly that many)."""
    contour = loop.astype(np.float32).reshape(-1, 1, 2)
    low, high = 0.05, float(np.ptp(loop, axis=0).max())
    for _ in range(30):
        eps = (low + high) / 2
        simple = cv2.approxPolyDP(contour, eps, True)
        if len(simple) == k:
            return simple.reshape(-1, 2).astype(np.float64).ravel()
        low, high = (eps, high) if len(simple) > k else (low, eps)
    return None


def _fit(picture: _Picture, make: Callable[[np.ndarray], np.ndarray], point_jacobian: np.ndarray, start: np.ndarray,
         sigma: float, free_sigma: bool, numeric: bool = False,
         iterations: int = ITERATIONS) -> tuple[np.ndarray, float, float]:
    """Levenberg-Marquardt on the shape parameters (and the blur): parameters, blur and misfit.

    The shape's columns of the Jacobian are analytic (:func:`segflow.vision.coverage.cover_slope`)
    or, with ``numeric``, finite differences (exact where pixels straddle a sharp corner, where the
    analytic slope is the nearer side's only); the blur's is always a finite difference.
    """
    params = start.copy()
    r, contrast = picture.solve(make(params), sigma)
    cost = float(r @ r)
    damping = 1e-3
    for _ in range(iterations):
        if numeric:
            columns = []
            for j in range(len(params)):
                p = params.copy()
                p[j] += STEP
                columns.append(-(picture.residual(make(p), sigma) - r) / STEP)
            jac = np.column_stack(columns)
        else:
            jac = picture.jacobian(make(params), sigma, point_jacobian, contrast)
        if free_sigma:
            jac = np.column_stack([jac, -(picture.residual(make(params), sigma + 0.02) - r) / 0.02])
        normal, gradient = jac.T @ jac, jac.T @ r
        diagonal = np.maximum(np.diag(normal), 1e-9)
        improved = False
        while damping < 1e6:
            try:
                delta = np.linalg.solve(normal + damping * np.diag(diagonal), gradient)
            except np.linalg.LinAlgError:
                break
            move = np.clip(delta[:len(params)], -2.0, 2.0)
            new_params = params + move
            new_sigma = float(np.clip(sigma + delta[-1], 0.3, 3.0)) if free_sigma else sigma
            new_r, new_contrast = picture.solve(make(new_params), new_sigma)
            new_cost = float(new_r @ new_r)
            if new_cost < cost:
                improved = True
                break
            damping *= 10
        if not improved:
            break
        gain = cost - new_cost
        params, sigma, r, cost, contrast = new_params, new_sigma, new_r, new_cost, new_contrast
        damping = max(damping / 10, 1e-6)
        if float(np.max(np.abs(move))) < 0.002 or gain < 1e-4 * cost:
            break
    return params, sigma, cost


def fit_shapes(loop: np.ndarray, g: np.ndarray, band: np.ndarray, sigma: float, noise: float,
               free_sigma: bool, sectors: int) -> list[ShapeFit]:
    """The sector outline ``loop`` and every shape fitted from it, best account (lowest score) first.

    ``band``: the pixels compared (the sector fit's); ``noise``: the sensor's grey-level
    noise, which weighs misfit against parameters; ``sectors``: the sector fit's offsets.
    """
    if float(np.ptp(loop, axis=0).max()) > MAX_EXTENT or len(loop) < 8:  # no picture rendered for it
        return [ShapeFit("sectors", loop, sectors, sigma, math.nan, math.nan)]
    picture = _Picture(g, band)
    pixels = len(picture.values)
    weight = 1.0 / max(noise, 0.5) ** 2
    log_n = math.log(max(pixels, 2))
    base = picture.residual(loop, sigma)
    # the sector fit freed the blur too wherever the shapes may: each account pays for what it fitted
    charged = sectors + int(free_sigma)
    out = [ShapeFit("sectors", loop, charged, sigma, float(base @ base), weight * float(base @ base) + charged * log_n)]
    models = {}
    for name, make, point_jacobian, starts in _candidates(picture, loop, sigma, max(noise, 0.5), free_sigma, out):
        models[name] = (make, point_jacobian)
        cornered = name.startswith(("polygon", "rectangle", "rounded"))
        sharp = name.startswith(("polygon", "rectangle"))
        if point_jacobian is None:  # its points move non-linearly (a rectangle's turn): finite differences
            fits = [_fit(picture, make, _points_jacobian(make, start), start, s0, free_sigma, numeric=True)
                    for start, s0 in starts]
        else:
            # from a blur other than the sector fit's, the shape first settles at that blur: freed at
            # once it drifts back to the blur the start came with (a 8 x 5 px blob's fat model mask
            # brought sigma 1.9 to an ellipse that, settled at 1.3 first, found the lens's 1.2)
            fits = []
            for start, s0 in starts:
                if free_sigma and s0 != sigma:
                    start = _fit(picture, make, point_jacobian, start, s0, False)[0]
                fits.append(_fit(picture, make, point_jacobian, start, s0, free_sigma))
        params, s, cost = min(fits, key=lambda f: f[2])
        if name.startswith("polygon"):  # a few exact steps: the analytic slope is only near right at a tip
            params, s, cost = _fit(picture, make, point_jacobian, params, s, free_sigma, numeric=True,
                                   iterations=POLISH)
        shape = make(params)
        sides = np.hypot(*(np.roll(shape, -1, axis=0) - shape).T)
        if (sharp and sides.min() < MIN_SIDE) or _self_crossing(shape):
            continue  # a polygon that lost a vertex, or an outline that folds over itself
        if name in _NOTCHED_NAMES and _notch_depth(shape) < NOTCH_BLURS * s:
            continue  # a notch the lens fills: no claim a curve cannot make as well
        quad = next((f for f in out if f.name == "polygon4"), None)
        if name == "rectangle" and quad is not None and weight * (cost - quad.cost) > RIGHT_ANGLES:
            continue  # the picture refuses the right angles (a likelihood-ratio test against the quadrilateral)
        count = len(params) + int(free_sigma)
        # corners are a claim (they move calipers and perimeter): a polygon must beat the curves clearly
        penalty = (CORNER_EVIDENCE if cornered else 0.0) + (FILLET_EVIDENCE if name.startswith("rounded") else 0.0)
        out.append(ShapeFit(name, shape, count, s, cost, weight * cost + count * log_n + penalty, params))
    out.sort(key=lambda f: f.score)
    if len(out) > 1 and out[0].name == "sectors" and out[1].score - out[0].score <= SECTORS_EVIDENCE:
        # Sectors start from the image's half-level, which the lens rounds inwards at a small
        # object's tips, and their offsets move that outline without sharpening it: on the truth
        # bench's 6-15 px blobs (seeds 0-3) the sector outline read max Feret 0.15 px short on
        # average where it won (-0.35 px at worst; a 9.8 px blob's length -4.4 %), the whole
        # curves +0.02 px. Unless the picture clearly prefers the sectors, the whole shape is the
        # account without that bias; the sectors stay the second, so their difference is in u.
        out[0], out[1] = out[1], out[0]
    best = out[0]
    if best.params is not None:
        out[0] = dataclasses.replace(best, spread=_spread(picture, *models[best.name], best, free_sigma))
    return out


def outline_score(loop: np.ndarray, g: np.ndarray, band: np.ndarray, sigma: float, noise: float,
                  parameters: int) -> float:
    """The score (BIC) :func:`fit_shapes` would give an outline fitted by another model (a stroke's).

    Same pixels, same renderer, same charge per parameter: so a thin object's stroke and the
    whole shapes are accounts of one picture, and the better one can be told.
    """
    picture = _Picture(g, band)
    residual = picture.residual(loop, sigma)
    return float(residual @ residual) / max(noise, 0.5) ** 2 + parameters * math.log(max(len(picture.values), 2))


def _spread(picture: _Picture, make: Callable[[np.ndarray], np.ndarray], point_jacobian: np.ndarray | None,
            fit: ShapeFit, free_sigma: bool) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The outline moved one standard deviation either way along each principal axis of the fit's covariance.

    The covariance holds the blur and the linear levels too, so what they trade with the shape
    (a small object's size with its unknown contrast, a width with the blur) is in it. A figure's
    standard uncertainty is then the root sum of squares of half its change over the pairs.
    """
    assert fit.params is not None
    params = fit.params
    if point_jacobian is None:
        point_jacobian = _points_jacobian(make, params)
    residual, contrast = picture.solve(make(params), fit.sigma)
    columns = [picture.jacobian(make(params), fit.sigma, point_jacobian, contrast)]
    if free_sigma:
        step = 0.02
        columns.append(-(picture.residual(make(params), fit.sigma + step) - residual)[:, None] / step)
    columns += [picture.linear, picture.picture(make(params), fit.sigma)[:, None]]
    full = np.column_stack(columns)
    dof = max(len(residual) - full.shape[1], 1)
    try:
        cov = float(residual @ residual) / dof * np.linalg.inv(full.T @ full + 1e-9 * np.eye(full.shape[1]))
    except np.linalg.LinAlgError:
        return ()
    count = len(params)
    values, vectors = np.linalg.eigh((cov[:count, :count] + cov[:count, :count].T) / 2)
    out = []
    for value, vector in zip(values, vectors.T, strict=True):
        if value > 0:
            step_vector = math.sqrt(value) * vector
            out.append((make(params + step_vector), make(params - step_vector)))
    return tuple(out)


def _candidates(picture: _Picture, loop: np.ndarray, sigma: float, noise: float, free_sigma: bool,
                done: list[ShapeFit]) -> Iterator[tuple[str, Callable[[np.ndarray], np.ndarray], np.ndarray | None,
                                                        list]]:
    """Each shape to fit: name, outline maker and starts (parameters, blur); a generator, as curves build on curves.

    Size and blur trade off on a small object, and a sector fit on a mask 1-3 px off (a model's)
    brings a blur far from the lens's: started there a shape settles in the wrong place. So when
    the frame's blur is not known the ellipse is also fitted from a few other blurs (each start
    settled at its blur before the blur is freed, :func:`fit_shapes`), and every later shape
    starts from the blur it found. A curve of order k starts from the outline's own
    coefficients and from the highest-order curve fitted so far (higher terms 0).
    """
    blurs = (sigma, *(b for b in START_BLURS if abs(b - sigma) > 0.15)) if free_sigma else (sigma,)
    previous: ShapeFit | None = None
    for order in ORDERS:
        def make(p: np.ndarray, o: int = order) -> np.ndarray:
            return _curve(p, o)

        start = _curve_start(loop, order)
        jacobian = _curve_jacobian(order)
        if previous is None or previous.params is None:
            yield f"curve{order}", make, jacobian, [(start, b) for b in blurs]
        else:
            grown = np.concatenate([previous.params, np.zeros(2 + 4 * order - len(previous.params))])
            yield f"curve{order}", make, jacobian, [(start, previous.sigma), (grown, previous.sigma)]
        previous = next((f for f in done if f.name == f"curve{order}"), None) or previous
    lens = min(done, key=lambda f: f.cost).sigma  # the blur of the best account so far
    notched = _notch_depth(loop) >= NOTCH_BLURS * min(sigma, lens)
    for k in VERTICES + (NOTCHED if notched else ()):
        corners = _polygon_start(loop, k)
        if corners is not None:
            starts = [(corners, b) for b in ((sigma, lens) if abs(lens - sigma) > 0.1 else (sigma,))]
            yield f"polygon{k}", _vertices, _polygon_jacobian(k), starts
    # A rectangle: four right angles are one claim fewer than a quadrilateral's eight free
    # coordinates, and the min-area rectangle of a quadrilateral whose corners scatter reaches
    # the outermost of them (a 13 x 6 px rectangle under sigma 1.3 read 0.16 px long, 0.08 wide).
    # Only where the picture shows corners (the quadrilateral beat every curve): on a blob
    # a few pixels across, four right angles cost fewer parameters than an ellipse and
    # would claim corners nothing shows.
    quad = next((f for f in done if f.name == "polygon4"), None)
    curves = [f.score for f in done if f.name.startswith("curve")]
    if quad is not None and quad.params is not None and quad.score < min(curves, default=math.inf):
        box = _rectangle_start(quad.loop)
        yield "rectangle", _rectangle, None, [(box, quad.sigma)]
    # The best polygon again with its corners rounded to one radius (a fillet, a worn or moulded
    # edge): one parameter more. A rounded rectangle's picture is told better by sharp corners
    # than by any curve, and sharp corners reach past it (a 17.6 px one read max Feret +10.7 %
    # at 22u); a sharp one's fillet fits to nothing and does not earn its parameter. Convex
    # polygons only: a fillet's arc turns the way its corner does.
    polygons = [f for f in done if f.name.startswith(("polygon", "rectangle")) and f.params is not None
                and _convex(f.loop)]
    if polygons:
        best = min(polygons, key=lambda f: f.score)
        base = _rectangle if best.name == "rectangle" else _vertices

        def rounded(p: np.ndarray, base: Callable[[np.ndarray], np.ndarray] = base) -> np.ndarray:
            return _filleted(base(p[:-1]), abs(float(p[-1])))

        yield f"rounded_{best.name}", rounded, None, [(np.append(best.params, FILLET_START), best.sigma)]


def _vertices(p: np.ndarray) -> np.ndarray:
    return p.reshape(-1, 2)


def _filleted(corners: np.ndarray, radius: float) -> np.ndarray:
    """The convex polygon ``corners`` with each corner replaced by an arc of ``radius`` tangent to both sides.

    :data:`FILLET_POINTS` points per arc, so the outline's points keep their count (and their
    Jacobian its shape) at any radius; at 0 they sit on the corner. The radius is held to what
    the shortest side allows.
    """
    k = len(corners)
    if _signed_area(corners) < 0:
        corners = corners[::-1]
    ahead = np.roll(corners, -1, axis=0) - corners
    lengths = np.maximum(np.hypot(*ahead.T), 1e-9)
    unit = ahead / lengths[:, None]
    behind = -np.roll(unit, 1, axis=0)  # from each corner back along the side before it
    cos_turn = np.clip((unit * behind).sum(1), -1.0, 1.0)
    half = np.arccos(cos_turn) / 2  # half the interior angle
    reach = 1.0 / np.maximum(np.tan(half), 1e-6)  # tangent point's distance from the corner per unit radius
    radius = min(radius, float(np.min(lengths / np.maximum(reach + np.roll(reach, -1), 1e-9))))
    out = np.empty((k * FILLET_POINTS, 2))
    for i in range(k):
        bisector = unit[i] + behind[i]
        bisector /= max(float(np.hypot(*bisector)), 1e-9)
        centre = corners[i] + bisector * radius / max(math.sin(half[i]), 1e-6)
        start = math.atan2(behind[i][0], -behind[i][1])  # the side before's outward normal (counter-clockwise)
        sweep = math.pi - 2 * half[i]
        angles = start + np.linspace(0.0, sweep, FILLET_POINTS)
        out[i * FILLET_POINTS:(i + 1) * FILLET_POINTS] = centre + radius * np.column_stack([np.cos(angles),
                                                                                            np.sin(angles)])
    return out


def _notch_depth(points: np.ndarray) -> float:
    """How far the outline reaches in from its convex hull (px): 0 for a convex one."""
    hull = cv2.convexHull(points.astype(np.float32))
    return max(0.0, *(cv2.pointPolygonTest(hull, (float(x), float(y)), True) for x, y in points))


def _convex(points: np.ndarray) -> bool:
    ahead = np.roll(points, -1, axis=0) - points
    turns = ahead[:, 0] * np.roll(ahead, -1, axis=0)[:, 1] - ahead[:, 1] * np.roll(ahead, -1, axis=0)[:, 0]
    return bool((turns >= 0).all() or (turns <= 0).all())


def _signed_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _rectangle(p: np.ndarray) -> np.ndarray:
    """The rectangle centred at (p0, p1), half-sides p2 and p3, turned p4 radians."""
    cx, cy, half_l, half_w, turn = p
    u, v = np.array([math.cos(turn), math.sin(turn)]), np.array([-math.sin(turn), math.cos(turn)])
    c = np.array([cx, cy])
    return np.array([c + half_l * u + half_w * v, c - half_l * u + half_w * v,
                     c - half_l * u - half_w * v, c + half_l * u - half_w * v])


def _rectangle_start(loop: np.ndarray) -> np.ndarray:
    (cx, cy), (w, h), angle = cv2.minAreaRect(loop.astype(np.float32))
    return np.array([cx, cy, w / 2, h / 2, math.radians(angle)])


def _points_jacobian(make: Callable[[np.ndarray], np.ndarray], params: np.ndarray) -> np.ndarray:
    """How the outline's points move with each parameter, by central differences (points x 2 x parameters)."""
    columns = []
    for j in range(len(params)):
        step = np.zeros(len(params))
        step[j] = 1e-4
        columns.append((make(params + step) - make(params - step)) / 2e-4)
    return np.stack(columns, axis=-1)


def _polygon_jacobian(k: int) -> np.ndarray:
    """How a polygon's vertices move with its parameters (their own coordinates)."""
    jac = np.zeros((k, 2, 2 * k))
    for j in range(k):
        jac[j, 0, 2 * j] = jac[j, 1, 2 * j + 1] = 1.0
    return jac


def _curve_jacobian(order: int) -> np.ndarray:
    """How a curve's points (:func:`_curve`) move with its coefficients: they are linear in them."""
    t = np.linspace(0, 2 * math.pi, CURVE_POINTS, endpoint=False)
    jac = np.zeros((CURVE_POINTS, 2, 2 + 4 * order))
    jac[:, 0, 0] = jac[:, 1, 1] = 1.0
    for k in range(1, order + 1):
        jac[:, 0, 4 * k - 2], jac[:, 0, 4 * k - 1] = np.cos(k * t), np.sin(k * t)
        jac[:, 1, 4 * k], jac[:, 1, 4 * k + 1] = np.cos(k * t), np.sin(k * t)
    return jac


def _cost(residual: np.ndarray) -> float:
    return float(residual @ residual)


def _self_crossing(poly: np.ndarray) -> bool:
    """Whether two non-adjacent sides of a closed outline cross (a bow tie, a loop: not an outline)."""
    a, b = poly, np.roll(poly, -1, axis=0)
    k = len(poly)

    def side(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        return (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])

    ai, bi, aj, bj = a[:, None], b[:, None], a[None, :], b[None, :]
    crossing = (side(ai, bi, aj) * side(ai, bi, bj) < 0) & (side(aj, bj, ai) * side(aj, bj, bi) < 0)
    i, j = np.triu_indices(k, 2)
    apart = ~((i == 0) & (j == k - 1))
    return bool(crossing[i[apart], j[apart]].any())
