"""Skeletons of masks: thinning, branches as polylines, length and the ribbon width of cracks.

Engine-free maths on binary masks, in pixels. :mod:`segflow.vision.mask_geometry`
measures skeleton length and mean width with it; :mod:`segflow.vision.edges`
uses the branches as the centre line of a thin object's profile model.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def zhang_suen_thinning(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide skeleton by Zhang & Suen's thinning (1984), vectorised with numpy.

    Implemented here so the core install needs no scikit-image or opencv-contrib.
    ``mask`` must have an empty one-pixel border.
    """
    img = mask.astype(np.uint8).copy()
    while True:
        changed = False
        for step in (0, 1):
            p = np.pad(img, 1)
            p2, p3, p4 = p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:]
            p5, p6, p7 = p[2:, 2:], p[2:, 1:-1], p[2:, :-2]
            p8, p9 = p[1:-1, :-2], p[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            neighbours = p2 + p3 + p4 + p5 + p6 + p7 + p8 + p9
            transitions = sum(
                ((a == 0) & (b == 1)).astype(np.uint8) for a, b in zip(ring, ring[1:], strict=False)
            )
            if step == 0:
                cond = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                cond = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (img == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & cond
            if remove.any():
                img[remove] = 0
                changed = True
        if not changed:
            return img.astype(bool)


_OFFSETS = [(0, 1), (1, 0), (1, 1), (1, -1)]  # right, down, down-right, down-left (y, x)


def skeleton_paths(skeleton: np.ndarray) -> list[np.ndarray]:
    """The skeleton's branches as polylines ((x, y) float rows), each simplified to within one pixel.

    The skeleton is split into branches between end and junction pixels; counting pixel
    steps (1 or sqrt 2 each) would overestimate lines at odd angles by up to 8 %, a
    simplified polyline does not. A single pixel is one one-point path.
    """
    ys, xs = np.nonzero(skeleton)
    if len(xs) == 0:
        return []
    points = np.column_stack([xs, ys]).astype(np.float32)
    if len(xs) == 1:
        return [points.astype(np.float64)]
    index = {(int(y), int(x)): i for i, (y, x) in enumerate(zip(ys, xs, strict=True))}
    adjacency: list[list[int]] = [[] for _ in range(len(xs))]
    for (y, x), i in index.items():
        for dy, dx in _OFFSETS:
            j = index.get((y + dy, x + dx))
            if j is None:
                continue
            if dy and dx and ((y, x + dx) in index or (y + dy, x) in index):
                continue  # a diagonal beside an L-corner would count the corner twice
            adjacency[i].append(j)
            adjacency[j].append(i)
    seen: set[tuple[int, int]] = set()

    def walk(start: int, nxt: int) -> np.ndarray:
        path = [start, nxt]
        seen.add((min(start, nxt), max(start, nxt)))
        prev, cur = start, nxt
        while len(adjacency[cur]) == 2 and cur != start:
            follow = adjacency[cur][0] if adjacency[cur][0] != prev else adjacency[cur][1]
            edge = (min(cur, follow), max(cur, follow))
            if edge in seen:
                break
            seen.add(edge)
            path.append(follow)
            prev, cur = cur, follow
        line = points[path].reshape(-1, 1, 2)
        if len(path) > 2:
            line = cv2.approxPolyDP(line, 1.0, False)
        return line.reshape(-1, 2).astype(np.float64)

    paths = []
    order = sorted(range(len(xs)), key=lambda k: len(adjacency[k]) == 2)  # branch ends first
    for i in order:
        for j in adjacency[i]:
            if (min(i, j), max(i, j)) not in seen:
                paths.append(walk(i, j))
    return paths


def skeleton_length(skeleton: np.ndarray) -> float:
    """Length of a one-pixel-wide skeleton: the summed length of its branches' polylines."""
    paths = skeleton_paths(skeleton)
    if len(paths) == 1 and len(paths[0]) == 1:
        return 1.0
    return float(sum(np.hypot(*np.diff(p, axis=0).T).sum() for p in paths))


def ribbon_mean_width(area: float, skeleton_px: float, ends: int) -> float:
    """Mean width of a ribbon (a crack) from its area, skeleton length and free ends.

    Thinning stops about half a width short of each free end, so area divided by
    skeleton length reads wide by that much: solve ``area = w * (skeleton + ends * w / 2)``.
    """
    if skeleton_px <= 0:
        return float("nan")
    if ends == 0:
        return area / skeleton_px
    return (math.sqrt(skeleton_px**2 + 2.0 * ends * area) - skeleton_px) / ends


def free_ends(skeleton: np.ndarray) -> np.ndarray:
    """(x, y) of the skeleton pixels with exactly one 8-neighbour, as float rows."""
    s = skeleton.astype(np.uint8)
    neighbours = cv2.filter2D(s, -1, np.ones((3, 3), np.float32), borderType=cv2.BORDER_CONSTANT) - s
    ys, xs = np.nonzero((s == 1) & (neighbours == 1))
    return np.column_stack([xs, ys]).astype(np.float64)


def tip_extension(cover: np.ndarray, paths: list[np.ndarray], ends: np.ndarray, reach: float = 20.0) -> float:
    """How far the outline reaches beyond the skeleton's free ends, summed over them (px).

    Thinning stops about half a width short of each free end, so a short bar's skeleton
    reads one width short. From each free end, along its branch's last direction, the
    coverage (bilinearly interpolated) is followed to where it falls below one half.
    """
    total = 0.0
    steps = np.arange(0.0, reach, 0.125)
    for p in paths:
        if len(p) < 2:
            continue
        for tip, before in ((0, 1), (-1, -2)):
            if not len(ends) or np.min(np.hypot(*(ends - p[tip]).T)) >= 0.5:
                continue
            direction = p[tip] - p[before]
            direction = direction / max(float(np.hypot(*direction)), 1e-9)
            ray = p[tip][None, :] + steps[:, None] * direction[None, :]
            values = cv2.remap(cover.astype(np.float32), ray[:, 0].astype(np.float32).reshape(1, -1),
                               ray[:, 1].astype(np.float32).reshape(1, -1), cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0.0).ravel()
            out = np.nonzero(values < 0.5)[0]
            if len(out) and out[0] > 0:
                k = out[0]  # the crossing between samples k-1 and k
                a, b = values[k - 1], values[k]
                total += float(steps[k - 1] + (a - 0.5) / max(a - b, 1e-9) * (steps[k] - steps[k - 1]))
    return total
