"""Each pixel's share inside closed outlines, as a camera's square pixels see them.

Filling a polygon on a finer grid (``cv2.fillPoly``) counts the fine pixels its
outline touches as inside: half a fine pixel of extra width all round, +1 % on
the area of a 20 px rectangle at 8 sub-pixels a side, and steps of a fine pixel
as the outline moves. Here pixels more than a pixel from every outline are in or
out by their centre, and those near one take the share of a unit square inside
a straight edge at their signed distance from the nearest side (at its angle,
:func:`segflow.vision.edge_model.square_cover`): exact along straight faces and
smooth as the outline moves (a fit can take its derivatives). Beside a corner
the nearest side alone overstates the share (the other side cuts it too), so
pixels there are split 4 x 4 first: within a few thousandths of a pixel's area.
"""

from __future__ import annotations

import cv2
import numpy as np

from segflow.vision.edge_model import square_cover, square_density

SHIFT = 8  # fractional bits of the vertices given to OpenCV's fill
NEAR = 3  # px: the strip along an outline whose pixels take their share from it (partial ones: within 0.71 px)
CORNER_DEG = 20.0  # a turn sharper than this is a corner whose pixels are split
CORNER_SPLIT = 4  # parts per pixel side there


def exact_cover(loops: tuple[np.ndarray, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Share of each pixel (pixel (x, y) centred on x, y) inside ``loops``, even-odd (a loop in a loop is a hole)."""
    h, w = shape[:2]
    loops = tuple(loop for loop in loops if len(loop) >= 3)
    cover = np.zeros((h, w), np.float32)
    if not loops:
        return cover
    points = [_fixed(loop) for loop in loops]
    near = _near_mask(points, (h, w))
    inside = np.zeros((h, w), np.uint8)
    for p in points:  # even-odd: each loop flips what it encloses
        one = np.zeros((h, w), np.uint8)
        cv2.fillPoly(one, [p], 1, lineType=cv2.LINE_8, shift=SHIFT)
        inside ^= one
    cover[:] = inside
    ys, xs = np.nonzero(near)
    if len(xs):
        px, py = xs.astype(np.float64), ys.astype(np.float64)
        shares = _near_cover(loops, px, py)
        tips = _sharp_vertices(loops)
        if len(tips):  # where two sides meet at an angle, each pixel in 4 x 4 parts (the nearer side's share errs)
            close = np.min(np.hypot(px[:, None] - tips[:, 0], py[:, None] - tips[:, 1]), axis=1) < 1.5
            if close.any():
                offsets = (np.arange(CORNER_SPLIT) + 0.5) / CORNER_SPLIT - 0.5
                sx, sy = np.meshgrid(offsets, offsets)
                fx = (px[close, None] + sx.ravel()).ravel()
                fy = (py[close, None] + sy.ravel()).ravel()
                parts = _near_cover(loops, fx, fy, CORNER_SPLIT)
                shares[close] = parts.reshape(-1, CORNER_SPLIT**2).mean(axis=1)
        cover[ys, xs] = shares
    return cover


def _fixed(loop: np.ndarray) -> np.ndarray:
    """A loop's points in OpenCV's fixed point (:data:`SHIFT` fractional bits)."""
    return np.round(loop * (1 << SHIFT)).astype(np.int32).reshape(-1, 1, 2)


def _near_mask(points: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """The pixels within :data:`NEAR` / 2 px of the outlines (fixed-point ``points``)."""
    near = np.zeros(shape, np.uint8)
    cv2.polylines(near, points, True, 1, thickness=NEAR, lineType=cv2.LINE_8, shift=SHIFT)
    return near


def _sharp_vertices(loops: tuple[np.ndarray, ...]) -> np.ndarray:
    """The outline points where it turns by more than :data:`CORNER_DEG`."""
    out = []
    for loop in loops:
        before, after = loop - np.roll(loop, 1, axis=0), np.roll(loop, -1, axis=0) - loop
        turn = np.degrees(np.abs(np.arctan2(before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0],
                                            (before * after).sum(1))))
        out.append(loop[turn > CORNER_DEG])
    return np.concatenate(out) if out else np.zeros((0, 2))


def _near_cover(loops: tuple[np.ndarray, ...], px: np.ndarray, py: np.ndarray, scale: int = 1) -> np.ndarray:
    """Share of the square of side ``1 / scale`` centred on each point inside the loops (the nearest side's)."""
    level, cos, nearest, _, _ = _nearest(loops, px, py)
    level = level * scale
    share = square_cover(level, cos)
    # A curved side bows in from the straight one by s^2 k / 2 at s along it: a pixel it crosses
    # holds k / 24 less (the whole of a convex outline 2 pi / 24 px^2 less), spread like the share's slope.
    bend = np.concatenate([_curvature(loop) for loop in loops])
    return share - bend[nearest] / (24.0 * scale) * square_density(level, cos)


def _nearest(loops: tuple[np.ndarray, ...], px: np.ndarray,
             py: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each point's signed distance from the loops (negative inside), and its nearest side.

    Also that side's normal cosine, its index, where along it the nearest point lies (0..1)
    and its outward normal.
    """
    a = np.concatenate(loops)
    b = np.concatenate([np.roll(loop, -1, axis=0) for loop in loops])
    d = b - a
    length2 = np.maximum((d**2).sum(1), 1e-12)
    rx, ry = px[:, None] - a[:, 0], py[:, None] - a[:, 1]
    t = np.clip((rx * d[:, 0] + ry * d[:, 1]) / length2, 0, 1)
    dist2 = (rx - t * d[:, 0]) ** 2 + (ry - t * d[:, 1]) ** 2
    nearest = np.argmin(dist2, axis=1)
    rows = np.arange(len(nearest))
    dist = np.sqrt(dist2[rows, nearest])
    crossing = (a[:, 1] > py[:, None]) != (b[:, 1] > py[:, None])
    x_at = a[:, 0] + (py[:, None] - a[:, 1]) * d[:, 0] / np.where(d[:, 1] == 0, 1e-12, d[:, 1])
    within = (crossing & (px[:, None] < x_at)).sum(1) % 2 == 1
    norm = np.sqrt(length2)
    cos = -d[nearest, 1] / norm[nearest]  # the nearest side's normal, x component
    turning = np.concatenate([np.full(len(loop), _orientation(loop)) for loop in loops])
    outward = np.column_stack([d[:, 1], -d[:, 0]]) / norm[:, None] * turning[:, None]
    return np.where(within, -dist, dist), cos, nearest, t[rows, nearest], outward[nearest]


def _orientation(loop: np.ndarray) -> float:
    x, y = loop[:, 0], loop[:, 1]
    return float(np.sign(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))) or 1.0


def cover_slope(loop: np.ndarray, shape: tuple[int, ...], point_jacobian: np.ndarray) -> np.ndarray:
    """How each pixel's share inside the closed ``loop`` changes with each parameter of the loop's points.

    ``point_jacobian`` (points x 2 x parameters) says how each point moves with each
    parameter; a pixel's share grows with the outward move of the outline's nearest point,
    at the slope of :func:`square_cover`. Returns parameters x h x w.
    """
    h, w = shape[:2]
    count = point_jacobian.shape[2]
    slope = np.zeros((count, h, w), np.float32)
    ys, xs = np.nonzero(_near_mask([_fixed(loop)], (h, w)))
    if not len(xs):
        return slope
    level, cos, nearest, t, outward = _nearest((loop,), xs.astype(np.float64), ys.astype(np.float64))
    density = square_density(level, cos)
    after = (nearest + 1) % len(loop)
    move = (1 - t)[:, None, None] * point_jacobian[nearest] + t[:, None, None] * point_jacobian[after]
    slope[:, ys, xs] = (density[:, None] * np.einsum("nk,nkp->np", outward, move)).T
    return slope


def _curvature(loop: np.ndarray) -> np.ndarray:
    """Each side's curvature (1/px, positive where the outline is convex), 0 beside a corner."""
    before, after = loop - np.roll(loop, 1, axis=0), np.roll(loop, -1, axis=0) - loop
    turn = np.arctan2(before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0], (before * after).sum(1))
    step = 0.5 * (np.hypot(*before.T) + np.hypot(*after.T))
    at_vertex = np.where(np.abs(np.degrees(turn)) > CORNER_DEG, 0.0, _orientation(loop) * turn / np.maximum(step, 1e-9))
    return 0.5 * (at_vertex + np.roll(at_vertex, -1))  # side i joins vertex i to i + 1
