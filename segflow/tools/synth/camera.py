"""A pinhole camera with lens distortion looking at a plane: calibration boards and tilted scenes.

Every pixel is rendered by tracing its sub-pixel sample points back through the
lens (OpenCV's distortion model, inverted iteratively) onto the plane and asking
whether each lands inside the drawn shapes — so the ground truth is the shapes
themselves, in millimetres on the plane, and the camera that saw them (its
intrinsics, distortion and pose) is known exactly. ``segflow calibrate`` is
tested on boards rendered here, and the tilted-camera sample is rendered here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

Inside = Callable[[np.ndarray, np.ndarray], np.ndarray]  # plane mm (x, y arrays) -> bool array

# Poses of a 9 x 6 board of 20 mm squares that reach every part of a 640 x 480 frame: tilt, yaw,
# roll (degrees), distance (mm), the board point looked at (mm).
BOARD_VIEWS = [
    (0, 0, 0, 260, (90, 60)),
    (25, 0, 5, 280, (80, 60)),
    (-25, 0, -5, 280, (100, 60)),
    (0, 25, 10, 280, (90, 50)),
    (0, -25, -10, 280, (90, 70)),
    (20, 20, 0, 300, (70, 50)),
    (-20, -20, 15, 300, (110, 70)),
    (30, 10, 0, 320, (90, 60)),
]


@dataclass(frozen=True)
class Camera:
    """Intrinsics ``k`` (3x3), distortion ``dist`` (k1 k2 p1 p2 k3) and the image size (w, h)."""

    k: np.ndarray
    dist: np.ndarray
    size: tuple[int, int]


def default_camera(size: tuple[int, int] = (640, 480)) -> Camera:
    """A small-sensor camera with visible barrel distortion (about 6 px at the corners)."""
    w, h = size
    k = np.array([[620.0, 0, (w - 1) / 2 + 3.5], [0, 618.0, (h - 1) / 2 - 2.5], [0, 0, 1]])
    return Camera(k, np.array([-0.12, 0.05, 0.0006, -0.0004, 0.0]), size)


def pose(
    tilt_deg: float, yaw_deg: float, roll_deg: float, distance_mm: float, centre_mm: tuple[float, float]
) -> np.ndarray:
    """3x3 matrix [r1 r2 t]: plane mm (x, y, 1) -> camera coordinates, looking at ``centre_mm``."""
    a, b, c = (math.radians(v) for v in (tilt_deg, yaw_deg, roll_deg))
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    r = rx @ ry @ rz
    t = np.array([0.0, 0.0, distance_mm]) - r @ np.array([centre_mm[0], centre_mm[1], 0.0])
    return np.column_stack([r[:, 0], r[:, 1], t])


def _plane_points(
    camera: Camera, plane_pose: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where image points (distorted pixels) land on the plane, in mm."""
    pts = np.column_stack([x.ravel(), y.ravel()]).reshape(-1, 1, 2)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-9)
    ideal = cv2.undistortPoints(pts, camera.k, camera.dist, None, None, None, criteria).reshape(-1, 2)
    back = np.linalg.inv(plane_pose) @ np.vstack([ideal.T, np.ones(len(ideal))])
    return (back[0] / back[2]).reshape(x.shape), (back[1] / back[2]).reshape(x.shape)


def render(inside: Inside, camera: Camera, plane_pose: np.ndarray, samples: int = 6) -> np.ndarray:
    """Fraction of each pixel covered by the shapes (anti-aliased), as float64 0..1.

    Pixels whose own and eight neighbours' centres agree are wholly in or out;
    the rest are sub-sampled ``samples`` x ``samples``.
    """
    w, h = camera.size
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
    centre = inside(*_plane_points(camera, plane_pose, gx, gy))
    padded = np.pad(centre, 1, mode="edge")
    window = [padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    mixed = np.logical_or.reduce(window) & ~np.logical_and.reduce(window)
    out = centre.astype(np.float64)
    ys, xs = np.nonzero(mixed)
    offsets = (np.arange(samples) + 0.5) / samples - 0.5
    sub_x = np.repeat(xs[:, None, None] + offsets[None, None, :], samples, axis=1)
    sub_y = np.repeat(ys[:, None, None] + offsets[None, :, None], samples, axis=2)
    out[ys, xs] = inside(*_plane_points(camera, plane_pose, sub_x, sub_y)).reshape(len(xs), -1).mean(axis=1)
    return out


def to_picture(
    cover: np.ndarray, seed: int, dark: float = 40.0, bright: float = 220.0, noise: float = 2.0
) -> np.ndarray:
    """8-bit BGR picture of a coverage map, with seeded sensor noise."""
    rng = np.random.default_rng(seed)
    grey = np.clip(dark + (bright - dark) * cover + rng.normal(0.0, noise, cover.shape), 0, 255)
    return np.repeat(grey.round().astype(np.uint8)[..., None], 3, axis=2)


def _cells(bits: np.ndarray, x0: float, y0: float, side: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Black cells of a marker bitmap (one entry per cell) placed at [x0, x0 + side] on the plane."""
    n = bits.shape[0]
    i = np.floor((y - y0) / side * n).astype(int)
    j = np.floor((x - x0) / side * n).astype(int)
    within = (i >= 0) & (i < n) & (j >= 0) & (j < n)
    out = np.zeros(x.shape, bool)
    out[within] = bits[i[within], j[within]] == 0
    return out


def marker_bits(dictionary: str, marker_id: int) -> np.ndarray:
    """A marker's cells, border included: 0 black, 1 white."""
    d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary))
    size = d.markerSize + 2
    return (cv2.aruco.generateImageMarker(d, marker_id, size) // 255).astype(np.uint8)


def board_white(
    kind: str, squares: tuple[int, int], square_mm: float, marker_mm: float = 0.0, dictionary: str = "DICT_4X4_50"
) -> Inside:
    """White parts of a checkerboard or ChArUco board (origin at its top-left corner) on white paper.

    The paper reaches one square beyond the board; the square at the top-left is
    black, and ChArUco markers sit in the white squares in row-major order, as
    ``cv2.aruco.CharucoBoard`` numbers them.
    """
    cols, rows = squares
    bits = [marker_bits(dictionary, i) for i in range((cols * rows + 1) // 2)] if kind == "charuco" else []

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        paper = (x >= -square_mm) & (x <= (cols + 1) * square_mm) & (y >= -square_mm) & (y <= (rows + 1) * square_mm)
        j, i = np.floor(x / square_mm), np.floor(y / square_mm)
        on_board = (j >= 0) & (j < cols) & (i >= 0) & (i < rows)
        black = on_board & ((i + j) % 2 == 0)
        if bits:
            pad = (square_mm - marker_mm) / 2
            index = 0
            for r in range(rows):
                for c in range(cols):
                    if (r + c) % 2 == 1:
                        here = (i == r) & (j == c)
                        if here.any():
                            black[here] = _cells(
                                bits[index], c * square_mm + pad, r * square_mm + pad, marker_mm, x[here], y[here]
                            )
                        index += 1
        return paper & ~black

    return inside


def board_views(
    kind: str, camera: Camera, views: list[tuple] = BOARD_VIEWS, square_mm: float = 20.0, marker_mm: float = 15.0
) -> list[np.ndarray]:
    """Pictures of a 9 x 6 board seen by ``camera`` from each of ``views``."""
    inside = board_white(kind, (9, 6), square_mm, marker_mm)
    return [to_picture(render(inside, camera, pose(*view)), seed=n) for n, view in enumerate(views)]
