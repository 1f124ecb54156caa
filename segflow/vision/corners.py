"""Sharp corners rebuilt on a fitted outline, kept only where the picture says they are there.

A lens rounds every corner: the half-level of a blurred square's corner runs
about a sigma inside the true one, and an acute triangle's tip retreats by
sigma / sin(half its angle). An outline fitted sector by sector follows the
straight faces to a tenth of a pixel but cannot follow a corner it has no
vertex for, so calipers (``feret_max``, the rectangle's length) and the
perimeter read short. Here every turn of the fitted outline sharper than
:data:`MIN_TURN_DEG` between two straight faces is rebuilt where the faces'
lines meet, the lines fitted to the faces away from the rounded zone. A
rebuilt corner is kept only if the outline with it, rendered as the camera
would see it (exact coverage, blurred), explains the grey levels better than
the rounded one: a stone's genuinely round end stays round.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from segflow.vision.coverage import exact_cover

MIN_TURN_DEG = 25.0  # turns gentler than this are curves, not corners
STRAIGHT_DEG = 12.0  # a polygon vertex turning less than this is a ripple on one face
SIMPLIFY_PX = 0.6  # tolerance of the polygon the faces are read from
MIN_FACE_PX = 3.0  # a face shorter than this cannot place a line
SUPERSAMPLE = 8  # sub-pixels per pixel side when rendering an outline's exact coverage


def rebuild_corners(loops: tuple[np.ndarray, ...], level: np.ndarray, g: np.ndarray, band: np.ndarray,
                    sigma: float) -> tuple[tuple[np.ndarray, ...], np.ndarray, tuple[np.ndarray, ...]]:
    """The outline with its corners rebuilt where the picture agrees, and its level field to match.

    Also the outline not chosen (``()`` when there were no corners to rebuild): a second
    estimate whose difference is part of each figure's uncertainty.
    """
    if not loops or not math.isfinite(sigma):
        return loops, level, ()
    sharpened = tuple(_sharpen(loop, sigma) for loop in loops)
    # a corner only adds to an outline: one that loses area crossed itself (faces too short to trust)
    sharpened = tuple(s if _area(s) >= _area(loop) else loop for s, loop in zip(sharpened, loops, strict=True))
    if all(len(a) == len(b) and np.allclose(a, b) for a, b in zip(loops, sharpened, strict=True)):
        return loops, level, ()
    if _misfit(sharpened, g, band, sigma) >= _misfit(loops, g, band, sigma):
        return loops, level, sharpened
    return sharpened, level_of(sharpened, level), loops


def level_of(loops: tuple[np.ndarray, ...], level: np.ndarray) -> np.ndarray:
    """A level field whose zero is ``loops``: each pixel's share inside them, ``level`` beyond their pixels."""
    cover = exact_cover(loops, level.shape)
    partial = (cover > 0) & (cover < 1)
    return np.where(partial, 0.5 - cover, np.where(cover >= 1, np.minimum(level, -0.5), np.maximum(level, 0.5)))


def _area(loop: np.ndarray) -> float:
    x, y = loop[:, 0], loop[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _sharpen(loop: np.ndarray, sigma: float) -> np.ndarray:
    """One closed outline with every clear corner moved to where its faces' lines meet.

    The faces are the long edges of the outline's simplified polygon; a blurred corner
    shows as a few short edges between two of them, each turning a little.
    """
    m = len(loop)
    if m < 12:
        return loop
    simple = cv2.approxPolyDP(loop.astype(np.float32).reshape(-1, 1, 2), SIMPLIFY_PX, True).reshape(-1, 2)
    if len(simple) < 3:
        return loop
    index = _straightened(loop, np.sort(np.array([int(np.argmin(np.hypot(*(loop - p).T))) for p in simple])))
    k = len(index)
    if k < 3:
        return loop
    ends = [(index[j], index[(j + 1) % k]) for j in range(k)]
    lengths = [float(np.hypot(*(loop[b] - loop[a]))) for a, b in ends]
    face_min = max(MIN_FACE_PX, 2.0 * sigma + 1.0)
    # a face must hold enough points to place a line: a blurred tip cut off by one short chord
    # is part of the rounded zone between two faces, not a face of its own
    faces = [j for j in range(k) if lengths[j] >= face_min
             and _face_points(loop, *ends[j], math.inf, lengths[j]) is not None]
    if len(faces) < 2:
        return loop
    out = loop.copy()
    for f1, f2 in zip(faces, faces[1:] + faces[:1], strict=True):
        (a1, b1), (a2, b2) = ends[f1], ends[f2]
        d1, d2 = loop[b1] - loop[a1], loop[b2] - loop[a2]
        turn = math.degrees(math.atan2(d1[0] * d2[1] - d1[1] * d2[0], float(d1 @ d2)))
        if abs(turn) < MIN_TURN_DEG:
            continue
        half_angle = math.radians(180 - abs(turn)) / 2
        skip = (2.0 * sigma + 1.0) / max(math.sin(half_angle), 0.2)
        p1 = _face_points(loop, a1, b1, skip, lengths[f1])
        p2 = _face_points(loop, a2, b2, skip, lengths[f2])
        if p1 is None or p2 is None:
            continue
        corner = _meet(p1, p2)
        if corner is None:
            continue
        between = np.arange(b1, a2 + (m if a2 < b1 else 0) + 1) % m  # the rounded zone's points
        reach = float(np.max(np.hypot(*(loop[between] - corner).T)))
        if reach > 3 * skip:
            continue
        zone = np.arange(a1, b2 + (m if b2 < a1 else 0) + 1) % m
        near = zone[np.hypot(*(loop[zone] - corner).T) <= reach]
        out[near] = corner
    return out


def _straightened(loop: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The polygon's vertices less those where it hardly turns (one face split in two by a ripple)."""
    keep = list(index)
    changed = True
    while changed and len(keep) > 3:
        changed = False
        for j in range(len(keep)):
            a, b, c = loop[keep[j - 1]], loop[keep[j]], loop[keep[(j + 1) % len(keep)]]
            u, v = b - a, c - b
            if abs(math.degrees(math.atan2(u[0] * v[1] - u[1] * v[0], float(u @ v)))) < STRAIGHT_DEG:
                del keep[j]
                changed = True
                break
    return np.array(keep)


def _face_points(loop: np.ndarray, start: int, end: int, skip: float, length: float) -> np.ndarray | None:
    """The outline's points along one face, less a little at either end."""
    m = len(loop)
    idx = np.arange(start, end + (m if end <= start else 0) + 1) % m
    pts = loop[idx]
    trim = min(skip, 0.25 * length, 1.5)  # the polygon already cut the rounded zone into short edges
    d0, d1 = np.hypot(*(pts - loop[start]).T), np.hypot(*(pts - loop[end]).T)
    keep = pts[(d0 >= trim) & (d1 >= trim)]
    return keep if len(keep) >= 3 else None


def _meet(p: np.ndarray, q: np.ndarray) -> np.ndarray | None:
    """Where the total-least-squares lines through ``p`` and through ``q`` cross."""
    lines = []
    for pts in (p, q):
        centre = pts.mean(axis=0)
        _, _, vt = np.linalg.svd(pts - centre)
        lines.append((centre, vt[0]))
    (c1, d1), (c2, d2) = lines
    det = d1[0] * -d2[1] + d2[0] * d1[1]
    if abs(det) < 0.1:  # nearly parallel: no corner to place
        return None
    rhs = c2 - c1
    t = (rhs[0] * -d2[1] + d2[0] * rhs[1]) / det
    return c1 + t * d1


def render_cover(loops: tuple[np.ndarray, ...], shape: tuple[int, ...], scale: int = 1) -> np.ndarray:
    """Each pixel's share inside the closed outlines (pixel (x, y) is centred on x, y).

    ``scale``: the grid is that many times finer than the pixels the outlines are in.
    """
    s = SUPERSAMPLE
    h, w = shape[:2]
    fine = np.zeros((h * s, w * s), np.uint8)
    polys = [np.round(((loop + 0.5) * scale * s - 0.5) * 16).astype(np.int32) for loop in loops]
    cv2.fillPoly(fine, polys, 1, lineType=cv2.LINE_8, shift=4)
    return fine.reshape(h, s, w, s).mean(axis=(1, 3))


def _misfit(loops: tuple[np.ndarray, ...], g: np.ndarray, band: np.ndarray, sigma: float) -> float:
    """Residual sum of squares of the outline's blurred picture (levels and a gradient fitted) over ``band``."""
    cover = render_cover(loops, g.shape)
    picture = cv2.GaussianBlur(cover.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    ys, xs = np.nonzero(band)
    a = np.column_stack([np.ones(len(xs)), xs / max(g.shape[1], 1), ys / max(g.shape[0], 1), picture[band]])
    values = g[band]
    params, *_ = np.linalg.lstsq(a, values, rcond=None)
    residual = values - a @ params
    return float(residual @ residual)


def hidden_tip(loops: tuple[np.ndarray, ...], point: np.ndarray, arc: float) -> float:
    """How far a corner the lens may have rounded off could reach beyond ``point`` on the outline.

    The outline's directions ``arc`` px either side of ``point`` (beyond a blurred corner's
    rounding) are extended until they meet: for a corner rebuilt sharp, or a gentle curve,
    that is at or next to ``point``; for a tip the blur rounded and nothing rebuilt (a small
    triangle's), it is where the tip may really be. 0 where the outline is nearly straight,
    folds back on itself (a flat end), or is too short to read.
    """
    loop = min(loops, key=lambda lp: float(np.min(np.hypot(*(lp - point).T))), default=None)
    if loop is None or len(loop) < 4:
        return 0.0
    steps = np.hypot(*(np.roll(loop, -1, axis=0) - loop).T)
    total = float(steps.sum())
    if total < 2 * arc + 2:
        return 0.0
    i = int(np.argmin(np.hypot(*(loop - point).T)))
    along = np.concatenate([[0.0], np.cumsum(np.roll(steps, -i))])  # arc from `point` onwards
    closed = np.vstack([np.roll(loop, -i, axis=0), loop[i:i + 1]])

    def at(s: float) -> np.ndarray:
        s %= total
        return np.array([np.interp(s, along, closed[:, 0]), np.interp(s, along, closed[:, 1])])

    before, after = at(-arc), at(arc)
    d1, d2 = before - at(-arc - 1), at(arc + 1) - after  # the outline's direction there, towards and away
    n1, n2 = float(np.hypot(*d1)), float(np.hypot(*d2))
    if n1 < 1e-9 or n2 < 1e-9:
        return 0.0
    d1, d2 = d1 / n1, d2 / n2
    cross = float(d1[0] * d2[1] - d1[1] * d2[0])
    turn = math.degrees(math.atan2(cross, float(d1 @ d2)))
    if abs(turn) < 10 or abs(turn) > 150:
        return 0.0
    t = ((after - before)[0] * d2[1] - (after - before)[1] * d2[0]) / cross
    tip = before + t * d1
    return float(np.hypot(*(tip - point)))


def hidden_perimeter(loops: tuple[np.ndarray, ...], arc: float, step: float = 0.5) -> float:
    """Perimeter the outline may lack at corners the lens rounded and nothing rebuilt, px.

    At each place the outline turns most (over ``arc`` either side, more than
    :data:`MIN_TURN_DEG`), the tip :func:`hidden_tip` finds is taken as the corner and the
    rounding as a circle tangent to both faces: it is shorter than the two straight
    pieces to the tip by ``r (2 tan(t/2) - t)`` for a turn ``t``. A corner rebuilt sharp
    has no rounding and adds nothing.
    """
    total = 0.0
    for loop in loops:
        steps = np.hypot(*(np.roll(loop, -1, axis=0) - loop).T)
        length = float(steps.sum())
        if len(loop) < 4 or length < 2 * arc + 2:
            continue
        along = np.concatenate([[0.0], np.cumsum(steps)])
        closed = np.vstack([loop, loop[:1]])
        s = np.arange(0.0, length, step)

        def at(t: np.ndarray, closed: np.ndarray = closed, along: np.ndarray = along,
               length: float = length) -> np.ndarray:
            t = t % length
            return np.column_stack([np.interp(t, along, closed[:, 0]), np.interp(t, along, closed[:, 1])])

        d1, d2 = at(s - arc) - at(s - arc - 1), at(s + arc + 1) - at(s + arc)
        turn = np.abs(np.arctan2(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0], (d1 * d2).sum(1)))
        peak = (turn >= np.roll(turn, 1)) & (turn > np.roll(turn, -1)) & (turn > math.radians(MIN_TURN_DEG))
        for k in np.flatnonzero(peak):
            t = float(turn[k])
            d = hidden_tip((loop,), at(s[k:k + 1])[0], arc)
            if d > 0 and t < math.radians(150):
                r = d / (1 / math.cos(t / 2) - 1)
                total += r * (2 * math.tan(t / 2) - t)
    return total
