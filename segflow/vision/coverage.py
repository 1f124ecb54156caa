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
REACH = 4.0  # px: a point near an outline (within NEAR / 2 px, or split beside a corner) has its nearest side closer
FEW_SIDES = 12  # an outline with at most this many sides (a polygon) is compared whole with every point
ROW_SPAN = float(2**22)  # coordinates of points and outlines lie within a quarter of this, px


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
        sides = _Sides(loops)
        px, py = xs.astype(np.float64), ys.astype(np.float64)
        shares = _near_cover(sides, px, py)
        tips = sides.tips
        if len(tips):  # where two sides meet at an angle, each pixel in 4 x 4 parts (the nearer side's share errs)
            close = np.min(np.hypot(px[:, None] - tips[:, 0], py[:, None] - tips[:, 1]), axis=1) < 1.5
            if close.any():
                offsets = (np.arange(CORNER_SPLIT) + 0.5) / CORNER_SPLIT - 0.5
                sx, sy = np.meshgrid(offsets, offsets)
                fx = (px[close, None] + sx.ravel()).ravel()
                fy = (py[close, None] + sy.ravel()).ravel()
                parts = _near_cover(sides, fx, fy, CORNER_SPLIT)
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


def _next(loop: np.ndarray) -> np.ndarray:
    """Each point's successor around the closed loop (``np.roll(loop, -1, 0)``, without its overhead)."""
    return np.concatenate((loop[1:], loop[:1]))


def _previous(loop: np.ndarray) -> np.ndarray:
    return np.concatenate((loop[-1:], loop[:-1]))


class _Sides:
    """The loops' sides, with what every query about them needs, computed once per outline.

    A fit renders the same outline's cover at the pixels near it and again, split 4 x 4,
    beside its corners; each query is many small array operations, so what depends on the
    outline alone is worked out here once.
    """

    def __init__(self, loops: tuple[np.ndarray, ...]) -> None:
        self.a = np.concatenate(loops)
        self.b = np.concatenate([_next(loop) for loop in loops])
        d = self.b - self.a
        self.dx, self.dy = np.ascontiguousarray(d[:, 0]), np.ascontiguousarray(d[:, 1])
        self.length2 = np.maximum(self.dx * self.dx + self.dy * self.dy, 1e-12)
        self.norm = np.sqrt(self.length2)
        self.cos = -self.dy / self.norm  # each side's normal, x component
        self.low_x = np.minimum(self.a[:, 0], self.b[:, 0]) - REACH
        self.high_x = np.maximum(self.a[:, 0], self.b[:, 0]) + REACH
        self.low_y = np.minimum(self.a[:, 1], self.b[:, 1]) - REACH
        self.high_y = np.maximum(self.a[:, 1], self.b[:, 1]) + REACH
        self.slope = self.dx / np.where(self.dy == 0, 1e-12, self.dy)  # dx per unit y, for the crossing test
        turns = [_turns(loop) for loop in loops]
        orientation = [_orientation(loop) for loop in loops]
        turning = np.concatenate([np.full(len(loop), o) for loop, o in zip(loops, orientation, strict=True)])
        self.outward = np.column_stack([self.dy, -self.dx]) / self.norm[:, None] * turning[:, None]
        self.tips = np.concatenate([loop[np.degrees(np.abs(turn)) > CORNER_DEG]
                                    for loop, (turn, _) in zip(loops, turns, strict=True)])
        # curvature is the region's: a hole's outline, convex in its own right, is concave to the region around it
        region = [o * (-1.0 if _is_hole(loops, i) else 1.0) for i, o in enumerate(orientation)]
        self.bend = np.concatenate([_bend(turn, step, o) for (turn, step), o in zip(turns, region, strict=True)])


def _turns(loop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far the outline turns at each point (radians, signed) and the mean length of its two sides there."""
    before, after = loop - _previous(loop), _next(loop) - loop
    cross = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
    turn = np.arctan2(cross, before[:, 0] * after[:, 0] + before[:, 1] * after[:, 1])
    step = 0.5 * (np.hypot(before[:, 0], before[:, 1]) + np.hypot(after[:, 0], after[:, 1]))
    return turn, step


def _is_hole(loops: tuple[np.ndarray, ...], index: int) -> bool:
    """Whether loop ``index`` lies inside an odd number of the others (even-odd: it bounds a hole)."""
    x, y = loops[index][0]
    inside = 0
    for j, loop in enumerate(loops):
        if j != index:
            after = _next(loop)
            crossing = (loop[:, 1] > y) != (after[:, 1] > y)
            dy = np.where(crossing, after[:, 1] - loop[:, 1], 1.0)
            x_at = loop[:, 0] + (y - loop[:, 1]) * (after[:, 0] - loop[:, 0]) / dy
            inside += int(np.count_nonzero(crossing & (x < x_at)) % 2)
    return inside % 2 == 1


def _bend(turn: np.ndarray, step: np.ndarray, orientation: float) -> np.ndarray:
    """Each side's curvature (1/px, positive where the outline is convex), 0 beside a corner."""
    at_vertex = np.where(np.abs(np.degrees(turn)) > CORNER_DEG, 0.0, orientation * turn / np.maximum(step, 1e-9))
    return 0.5 * (at_vertex + _next(at_vertex))  # side i joins vertex i to i + 1


def _near_cover(sides: _Sides, px: np.ndarray, py: np.ndarray, scale: int = 1) -> np.ndarray:
    """Share of the square of side ``1 / scale`` centred on each point inside the loops (the nearest side's)."""
    level, nearest, _ = _nearest(sides, px, py)
    level = level * scale
    cos = sides.cos[nearest]
    share = square_cover(level, cos)
    # A curved side bows in from the straight one by s^2 k / 2 at s along it: a pixel it crosses
    # holds k / 24 less (the whole of a convex outline 2 pi / 24 px^2 less), spread like the share's slope.
    return share - sides.bend[nearest] / (24.0 * scale) * square_density(level, cos)


def _nearest(sides: _Sides, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each point's signed distance from the loops (negative inside), its nearest side and where along it (0..1).

    A polygon's few sides are compared with every point. A longer outline's points are those
    near it, so each is compared only with the sides whose box reaches within :data:`REACH`
    of it (any point found farther is compared with every side), and which side of the
    outline it lies on comes from its row's crossings with the loops.
    """
    if len(sides.a) <= FEW_SIDES:
        return _nearest_of_all(sides, px, py)
    near = ((px[:, None] >= sides.low_x) & (px[:, None] <= sides.high_x)
            & (py[:, None] >= sides.low_y) & (py[:, None] <= sides.high_y))
    point, side = np.nonzero(near)
    count = len(px)
    if len(point):
        dist2, t = _to_sides(sides, px[point], py[point], side)
        start = np.searchsorted(point, np.arange(count))
        has = np.bincount(point, minlength=count) > 0
        least = np.full(count, np.inf)
        least[has] = np.minimum.reduceat(dist2, start[has])
        first = np.flatnonzero(dist2 == least[point])  # the lowest side of equals, as a full argmin would
        first = first[np.r_[True, point[first][1:] != point[first][:-1]]]
        nearest = np.zeros(count, np.intp)
        along = np.zeros(count)
        nearest[point[first]], along[point[first]] = side[first], t[first]
    else:
        least, nearest, along = np.full(count, np.inf), np.zeros(count, np.intp), np.zeros(count)
    far = np.flatnonzero(least > REACH**2)
    if len(far):  # farther than the boxes reach: every side
        all_sides = np.arange(len(sides.a))
        d2, t2 = _to_sides(sides, np.repeat(px[far], len(all_sides)), np.repeat(py[far], len(all_sides)),
                           np.tile(all_sides, len(far)))
        d2, t2 = d2.reshape(len(far), -1), t2.reshape(len(far), -1)
        best = np.argmin(d2, axis=1)
        rows = np.arange(len(far))
        least[far], nearest[far], along[far] = d2[rows, best], best, t2[rows, best]
    dist = np.sqrt(least)
    return np.where(_inside(sides, px, py), -dist, dist), nearest, along


def _nearest_of_all(sides: _Sides, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_nearest` by comparing every point with every side (a polygon's few)."""
    dist2, t = _to_sides(sides, px[:, None], py[:, None], np.arange(len(sides.a))[None, :])
    nearest = np.argmin(dist2, axis=1)
    rows = np.arange(len(px))
    rx, ry = px[:, None] - sides.a[:, 0], py[:, None] - sides.a[:, 1]
    crossing = (sides.a[:, 1] > py[:, None]) != (sides.b[:, 1] > py[:, None])
    within = np.count_nonzero(crossing & (rx < ry * sides.slope), axis=1) % 2 == 1
    dist = np.sqrt(dist2[rows, nearest])
    return np.where(within, -dist, dist), nearest, t[rows, nearest]


def _to_sides(sides: _Sides, px: np.ndarray, py: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared distance from each point to the side paired with it, and where along it (0..1) the nearest point is."""
    dx, dy = sides.dx[side], sides.dy[side]
    rx, ry = px - sides.a[side, 0], py - sides.a[side, 1]
    t = np.clip((rx * dx + ry * dy) / sides.length2[side], 0, 1)
    ex, ey = rx - t * dx, ry - t * dy
    return ex * ex + ey * ey, t


def _inside(sides: _Sides, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Even-odd: whether a ray from each point to +x crosses the loops an odd number of times.

    The crossings are worked out once per row of points (every pixel of a row shares them) and
    sorted; each point then counts those to its right by bisection.
    """
    rows, row_of = np.unique(py, return_inverse=True)
    ay, by = sides.a[:, 1], sides.b[:, 1]
    crossing = (ay > rows[:, None]) != (by > rows[:, None])
    x_at = sides.a[:, 0] + (rows[:, None] - ay) * sides.slope
    # rows laid end to end, each within its own span of ROW_SPAN: one bisection for all points
    keyed = np.sort(np.where(crossing, x_at, -ROW_SPAN / 4), axis=1) + (np.arange(len(rows)) * ROW_SPAN)[:, None]
    m = crossing.shape[1]
    right = (row_of + 1) * m - np.searchsorted(keyed.ravel(), px + row_of * ROW_SPAN, side="right")
    return right % 2 == 1


def _orientation(loop: np.ndarray) -> float:
    """The sign of the loop's signed (shoelace) area: which side of its sides is outward."""
    x, y = loop[:, 0], loop[:, 1]
    nx, ny = _next(x), _next(y)
    return float(np.sign(float(np.dot(x, ny) - np.dot(y, nx)))) or 1.0


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
    sides = _Sides((loop,))
    level, nearest, t = _nearest(sides, xs.astype(np.float64), ys.astype(np.float64))
    density = square_density(level, sides.cos[nearest])
    outward = sides.outward[nearest]
    after = (nearest + 1) % len(loop)
    move = (1 - t)[:, None, None] * point_jacobian[nearest] + t[:, None, None] * point_jacobian[after]
    slope[:, ys, xs] = (density[:, None] * np.einsum("nk,nkp->np", outward, move)).T
    return slope
