"""A mask's outline as a smooth frame of reference: signed distance from it, and sectors along it.

A mask's outline is a staircase: along a slanted edge its pixels step by a whole
pixel every few pixels, and the distance from it ripples by a third of a pixel.
Measured from that, a refined edge would ripple too, and a caliper would catch
the outermost ripple. So the outline is traced (OpenCV contours through the
boundary pixels), cut at its corners, each run between corners smoothed along
its length (a Gaussian over :data:`SMOOTH` points; corners stay put, so a
rectangle keeps its corners), and the signed distance of every pixel is taken
from that smooth polyline. The outline is also cut into sectors of ~:data:`SECTOR`
pixels, never across a corner: :mod:`segflow.vision.edges` finds one offset per sector.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SECTOR = 8  # outline pixels per sector
SMOOTH = 2.0  # Gaussian sigma, in outline points, of the smoothing along the outline
CORNER_DEG = 35.0  # a turn of the simplified outline sharper than this is a corner
FINE = 4  # the image's half-level is traced on a grid this much finer than the pixels
FACE = 6  # outline points: turns closer than this are one corner; a face must be longer
STRAIGHT_PX = 0.4  # the faces beside a corner stay this close to a straight line over FACE + 3 points
SHARPEN_PX = 1.2  # a corner is rebuilt only this close to where the outline rounds it
EXACT_PX = 2.0  # distances are exact within this of the outline, approximate beyond
REACH = 3  # segments on either side of a pixel's nearest outline point searched for its distance


@dataclass(frozen=True)
class Sectors:
    """The outline cut into runs between its corners, each run into sectors of ~:data:`SECTOR` pixels.

    Every pixel belongs to its nearest outline point, and so to that point's sector. A
    straight face of the object may need a different offset from the mask than the next
    face (a threshold cuts each face at its own share of a pixel), so no sector and no
    smoothing reaches round a corner.
    """

    of_pixel: np.ndarray  # each pixel's sector
    point_of_pixel: np.ndarray  # each pixel's nearest outline point
    lower: np.ndarray  # per outline point: the sectors on either side of it and how far it is between them
    upper: np.ndarray
    between: np.ndarray
    runs: list[tuple[int, int, bool]]  # (first sector, sectors, closed loop) per run
    points: np.ndarray  # the smoothed outline points, (x, y)
    nxt: np.ndarray  # each point's neighbours along its outline
    prv: np.ndarray
    normal: np.ndarray  # per segment (point -> nxt), pointing out of the object
    label_point: np.ndarray  # each pixel's nearest raw outline point (where the distance search starts)
    corners: np.ndarray  # the outline points that are corners
    inset: float  # how far inside the edge the traced outline runs
    field: np.ndarray  # each pixel's signed distance from the traced outline

    @property
    def n(self) -> int:
        return sum(k for _, k, _ in self.runs)

    def per_pixel(self, values: np.ndarray) -> np.ndarray:
        """Per-sector ``values`` at every pixel, interpolated along the outline between sector centres."""
        at_points = values[self.lower] * (1 - self.between) + values[self.upper] * self.between
        return at_points[self.point_of_pixel]

    def moved(self, values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """The outline moved outwards by the per-sector ``values``: signed distances and outer loops.

        Returns each pixel's signed distance from the moved outline and its outer loops as
        closed polylines.

        A point inside a face moves along its normal by the face's offset; a corner moves to
        where its two faces' moved lines meet, so a rectangle stays a rectangle even when a
        threshold cut its faces at different shares of a pixel.
        """
        # The traced outline runs through boundary cells' centres, inside the region's edge.
        at_points = values[self.lower] * (1 - self.between) + values[self.upper] * self.between + self.inset
        moved = self.points + self.vertex_normal() * at_points[:, None]
        for c in self.corners:
            self._sharpen(moved, int(c))
        approx = self.field - self.per_pixel(values) - self.inset
        sd, _ = _distance(self.label_point, moved, self.nxt, self.prv, self.normal, approx)
        return sd, self.loops(moved)

    def loops(self, points: np.ndarray) -> list[np.ndarray]:
        """``points`` split into the closed outlines they belong to (outer ones: holes are left out)."""
        out, start = [], 0
        while start < len(points):
            end = start + 1
            while end < len(points) and self.nxt[end - 1] == end:
                end += 1
            loop = points[start:end]
            normals = self.normal[start:end]
            if float(np.mean(np.einsum("ij,ij->i", loop - loop.mean(axis=0), normals))) > 0:
                out.append(loop)
            start = end
        return out

    def vertex_normal(self) -> np.ndarray:
        both = self.normal + self.normal[self.prv]
        return both / np.maximum(np.hypot(*both.T), 1e-9)[:, None]

    def _sharpen(self, moved: np.ndarray, corner: int) -> None:
        """Put a corner where its two moved faces meet, and its neighbours on those faces."""
        a0, a1, b0, b1 = corner, corner, corner, corner
        for _ in range(FACE - 2):
            a0 = int(self.prv[a0])
            b1 = int(self.nxt[b1])
        for _ in range(2):
            a1 = int(self.prv[a1])
            b0 = int(self.nxt[b0])
        da, db = moved[a1] - moved[a0], moved[b1] - moved[b0]
        det = da[0] * -db[1] + db[0] * da[1]
        if abs(det) < 1e-6 * max(float(da @ da), 1e-9):
            return
        rhs = moved[b0] - moved[a1]
        t = (rhs[0] * -db[1] + db[0] * rhs[1]) / det
        meet = moved[a1] + t * da
        if np.hypot(*(meet - moved[corner])) > SHARPEN_PX:  # a rounded end, not a cut corner
            return
        moved[corner] = meet
        for side, start, direction in ((self.prv, a1, da), (self.nxt, b0, db)):
            k = int(side[corner])
            while k != start:  # the points between the corner and where its face was read
                unit = direction / max(float(np.hypot(*direction)), 1e-9)
                moved[k] = moved[start] + ((moved[k] - moved[start]) @ unit) * unit
                k = int(side[k])

    def smooth(self, values: np.ndarray) -> np.ndarray:
        """Each run's sector values smoothed with their neighbours (1-2-1, twice; ends held)."""
        out = values.copy()
        for start, k, closed in self.runs:
            part = values[start : start + k]
            for _ in range(2):
                before = np.roll(part, 1) if closed else np.concatenate([part[:1], part[:-1]])
                after = np.roll(part, -1) if closed else np.concatenate([part[1:], part[-1:]])
                part = (before + 2 * part + after) / 4
            out[start : start + k] = part
        return out


def _corners(contour: np.ndarray) -> np.ndarray:
    """Indices of the contour points where the outline turns by more than :data:`CORNER_DEG`.

    A threshold or a model cuts a sharp corner with a short chamfer, two turns a few pixels
    apart: turns closer than :data:`FACE` points are one corner, in the middle. A face
    shorter than :data:`FACE` points is no face: such an outline is taken as smooth.
    """
    pts = contour.reshape(-1, 2)
    if len(pts) < 4 * FACE:
        return np.zeros(0, np.int64)
    simple = cv2.approxPolyDP(contour, 1.5, True).reshape(-1, 2)
    if len(simple) < 3:
        return np.zeros(0, np.int64)
    incoming = simple - np.roll(simple, 1, axis=0)
    outgoing = np.roll(simple, -1, axis=0) - simple
    turn = np.degrees(np.arctan2(incoming[:, 0] * outgoing[:, 1] - incoming[:, 1] * outgoing[:, 0],
                                 (incoming * outgoing).sum(axis=1)))
    where = {(float(x), float(y)): i for i, (x, y) in enumerate(pts)}
    index = np.array([where[(float(x), float(y))] for x, y in simple])
    order = np.argsort(index)
    index, turn = index[order], turn[order]
    n, groups = len(pts), []
    for i, t in zip(index, turn, strict=True):
        if groups and i - groups[-1][-1][0] < FACE:
            groups[-1].append((i, t))
        else:
            groups.append([(i, t)])
    if len(groups) > 1 and groups[0][0][0] + n - groups[-1][-1][0] < FACE:  # the loop closes on a chamfer
        groups[0] = [(i - n, t) for i, t in groups.pop()] + groups[0]
    corners = [round(np.mean([i for i, _ in g])) % n for g in groups if abs(sum(t for _, t in g)) > CORNER_DEG]
    corners = sorted(
        c for c in corners if _straight(pts, c - FACE - 3, c - 1) and _straight(pts, c + 1, c + FACE + 3)
    )
    if len(corners) == 1 or any((b - a) % n < FACE for a, b in zip(corners, corners[1:] + corners[:1], strict=True)):
        return np.zeros(0, np.int64)
    return np.array(corners, np.int64)


def _straight(pts: np.ndarray, start: int, end: int) -> bool:
    """Whether the outline runs straight (within :data:`STRAIGHT_PX`) from point ``start`` to ``end``."""
    run = pts[np.arange(start, end + 1) % len(pts)]
    chord = run[-1] - run[0]
    length = float(np.hypot(*chord))
    if length < 1e-9:
        return False
    off = np.abs((run[:, 0] - run[0, 0]) * chord[1] - (run[:, 1] - run[0, 1]) * chord[0]) / length
    return float(off.max()) <= STRAIGHT_PX


def _smoothed(pts: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The contour points smoothed along the outline; runs end at corners, which stay put."""
    n = len(pts)
    radius = int(3 * SMOOTH)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / SMOOTH) ** 2)
    kernel /= kernel.sum()
    if n < 2 * radius + 1 or (len(corners) and np.min(np.diff(np.append(corners, corners[0] + n))) < radius + 2):
        return pts.astype(np.float64)
    if len(corners) == 0:
        wrapped = np.vstack([pts[-radius:], pts, pts[:radius]]).astype(np.float64)
        return np.column_stack([np.convolve(wrapped[:, d], kernel, "valid") for d in (0, 1)])
    out = pts.astype(np.float64).copy()
    cuts = list(corners) + [corners[0] + n]
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        run = pts[np.arange(a, b + 1) % n].astype(np.float64)
        # Mirrored through the corners (odd reflection), so a straight face stays straight to its end.
        padded = np.vstack([2 * run[0] - run[radius:0:-1], run, 2 * run[-1] - run[-2 : -radius - 2 : -1]])
        smooth = np.column_stack([np.convolve(padded[:, d], kernel, "valid") for d in (0, 1)])
        out[np.arange(a + 1, b) % n] = smooth[1:-1]
    return out


def traced(region: np.ndarray, fine: int = 1) -> tuple[list[np.ndarray], float]:
    """The outlines of a binary ``region`` drawn on a grid ``fine`` times the pixel grid, in pixels.

    Returns the contours (float (n, 1, 2), about one point per pixel) and how far inside the
    region's edge they run: through the boundary cells' centres, half a cell in.
    """
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    out = []
    for contour in contours:
        pts = (contour.reshape(-1, 2)[::fine].astype(np.float64) + 0.5) / fine - 0.5
        if len(pts) >= 3:
            out.append(pts.astype(np.float32).reshape(-1, 1, 2))
    return out, 0.5 / fine


def outline_field(mask: np.ndarray, fine: np.ndarray | None = None,
                  sector: float = SECTOR) -> tuple[np.ndarray, Sectors]:
    """Each pixel's signed distance from a smoothed outline (negative inside), and its sectors.

    The outline is the mask's, or that of ``fine``: a region drawn on a grid :data:`FINE`
    times finer (the image's own half-level, which has no staircase to smooth away).
    """
    contours, inset = traced(mask) if fine is None else traced(fine, FINE)
    if not contours:
        contours, inset = traced(mask)
    h, w = mask.shape
    seeds = np.ones(mask.shape, np.uint8)
    index = np.full(mask.shape, -1, np.int64)
    first, total = 0, 0
    runs: list[tuple[int, int, bool]] = []
    owners, lowers, uppers, betweens, smooth_pts, nexts, prevs, all_corners = [], [], [], [], [], [], [], []
    for contour in contours:
        pts = contour.reshape(-1, 2).astype(np.float64)
        n = len(pts)
        corners = _corners(contour)
        smooth_pts.append(_smoothed(pts, corners))
        nexts.append(total + (np.arange(n) + 1) % n)
        prevs.append(total + (np.arange(n) - 1) % n)
        closed = len(corners) == 0
        start = 0 if closed else int(corners[0])
        cuts = [0] if closed else [int(c - start) % n for c in corners]
        cuts.append(n)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            m, k = b - a, max(1, round((b - a) / sector))
            position = (np.arange(m) + 0.5) * k / m - 0.5  # in sector units; sector j is centred on j
            low = np.floor(position).astype(np.int64)
            owners.append(first + (np.arange(m) * k) // m)
            if closed:
                lowers.append(first + low % k)
                uppers.append(first + (low + 1) % k)
                betweens.append(position - low)
            else:  # held at the run's ends: nothing is interpolated round a corner
                lowers.append(first + np.clip(low, 0, k - 1))
                uppers.append(first + np.clip(low + 1, 0, k - 1))
                betweens.append(np.clip(position - low, 0.0, 1.0) * ((low >= 0) & (low + 1 <= k - 1)))
            runs.append((first, k, closed))
            first += k
        # Points are numbered from the run's start, so that sector order follows point order.
        order = (np.arange(n) + start) % n
        all_corners.append(total + (corners - start) % n)
        pixel = np.clip(np.round(pts).astype(np.int64), 0, [w - 1, h - 1])
        index[pixel[order, 1], pixel[order, 0]] = total + np.arange(n)
        smooth_pts[-1] = smooth_pts[-1][order]
        seeds[pixel[:, 1], pixel[:, 0]] = 0
        total += n
    _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    point_of_label = np.zeros(labels.max() + 1, np.int64)
    point_of_label[labels[seeds == 0]] = index[seeds == 0]
    pts, nxt, prv = np.concatenate(smooth_pts), np.concatenate(nexts), np.concatenate(prevs)
    normal = _outward_normals(mask, pts, nxt)
    label_point = point_of_label[labels]
    coarse = mask if fine is None else cv2.resize(fine.astype(np.float32), mask.shape[::-1],
                                                  interpolation=cv2.INTER_AREA) >= 0.5
    sd, point = _distance(label_point, pts, nxt, prv, normal, approximate_distance(coarse) + inset)
    owner = np.concatenate(owners)
    cut = Sectors(owner[point], point, np.concatenate(lowers), np.concatenate(uppers),
                  np.concatenate(betweens), runs, pts, nxt, prv, normal, label_point,
                  np.concatenate(all_corners).astype(np.int64), inset, sd)
    return sd - inset, cut


def approximate_distance(region: np.ndarray) -> np.ndarray:
    """Signed distance of each pixel centre from a binary region's pixel edges (Euclidean transform)."""
    m = region.astype(np.uint8)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(m > 0, 0.5 - inside, outside - 0.5).astype(np.float64)


def _outward_normals(mask: np.ndarray, pts: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """Unit normals of the segments point -> next, turned to point away from the mask (by a vote)."""
    h, w = mask.shape
    seg_dir = pts[nxt] - pts
    normal = np.stack([seg_dir[:, 1], -seg_dir[:, 0]], -1) / np.maximum(np.hypot(*seg_dir.T), 1e-9)[:, None]
    probe = np.round(pts + normal * 1.5).astype(np.int64)
    ok = (probe[:, 0] >= 0) & (probe[:, 0] < w) & (probe[:, 1] >= 0) & (probe[:, 1] < h)
    outward = ~mask[probe[ok, 1], probe[ok, 0]]
    return normal if outward.mean() >= 0.5 else -normal


def _distance(point: np.ndarray, pts: np.ndarray, nxt: np.ndarray, prv: np.ndarray, normal: np.ndarray,
              approx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance of each pixel centre from closed polylines, and its nearest segment's first point.

    Exact only where it decides anything: within :data:`EXACT_PX` of the outline by ``approx``
    (a pixel further in or out is wholly in or out whatever the offset); ``approx`` elsewhere.
    ``nxt``/``prv`` are each point's neighbours; the nearest segment is the face a pixel
    looks at, even beside a corner. Only the segments within :data:`REACH` of a pixel's
    nearest outline point (``point``) are searched. The sign comes from the nearest
    segment's outward ``normal``, or, where the nearest point is a vertex, from the mean
    normal of its two segments (a pseudo-normal, right at corners).
    """
    ys, xs = np.nonzero(np.abs(approx) < EXACT_PX)
    p = np.stack([xs, ys], -1).astype(np.float64)
    nearest = point[ys, xs]
    seg_dir = pts[nxt] - pts
    seg_len_sq = np.maximum((seg_dir**2).sum(axis=1), 1e-12)
    vertex_normal = normal + normal[prv]
    vertex_normal /= np.maximum(np.hypot(*vertex_normal.T), 1e-9)[:, None]
    best = np.full(len(p), np.inf)
    sign = np.ones(len(p))
    owner = nearest.copy()
    seg = nearest
    for _ in range(REACH):
        seg = prv[seg]
    for _ in range(2 * REACH):
        a, d = pts[seg], seg_dir[seg]
        rel = p - a
        t = np.clip((rel[:, 0] * d[:, 0] + rel[:, 1] * d[:, 1]) / seg_len_sq[seg], 0.0, 1.0)
        off = rel - t[:, None] * d
        dist = np.hypot(off[:, 0], off[:, 1])
        closer = dist < best
        direction = np.where((t <= 0)[:, None], vertex_normal[seg],
                             np.where((t >= 1)[:, None], vertex_normal[nxt[seg]], normal[seg]))
        side = np.where(off[:, 0] * direction[:, 0] + off[:, 1] * direction[:, 1] >= 0, 1.0, -1.0)
        best = np.where(closer, dist, best)
        sign = np.where(closer, side, sign)
        owner = np.where(closer, seg, owner)
        seg = nxt[seg]
    field, owners = approx.astype(np.float64).copy(), point.copy()
    field[ys, xs] = sign * best
    owners[ys, xs] = owner
    return field, owners
