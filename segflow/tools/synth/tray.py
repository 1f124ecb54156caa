"""A tray on a dark bench with red parts on it and beside it: ground truth for a dynamic zone.

The tray's pose changes with the seed (it moves between frames on a real
line), so a zone drawn once by hand would count the wrong parts; a workflow
that outlines the tray each frame (``polygon.from_mask``) counts the parts on
it. Ground truth: the tray's corners and, per part, its centre and whether
that centre is on the tray.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from segflow.tools.synth import write_sample

BENCH, TRAY, PART = (32, 30, 28), (168, 170, 172), (40, 36, 205)  # BGR: dark grey, light grey, red


def render_tray(seed: int = 31, h: int = 480, w: int = 640, parts: int = 12) -> tuple[np.ndarray, dict]:
    """Return (BGR image, ground truth): a rotated tray and ``parts`` discs that never touch its border."""
    rng = np.random.default_rng(seed)
    image = np.empty((h, w, 3), np.uint8)
    image[:] = BENCH
    centre = (float(rng.uniform(0.4, 0.6) * w), float(rng.uniform(0.4, 0.6) * h))
    size = (float(rng.uniform(0.45, 0.6) * w), float(rng.uniform(0.45, 0.6) * h))
    corners = cv2.boxPoints((centre, size, float(rng.uniform(-25, 25))))
    cv2.fillPoly(image, [np.round(corners).astype(np.int32)], TRAY)
    placed: list[dict] = []
    for _ in range(parts * 200):
        if len(placed) == parts:
            break
        r = float(rng.uniform(7, 12))
        x, y = float(rng.uniform(r + 2, w - r - 2)), float(rng.uniform(r + 2, h - r - 2))
        edge = cv2.pointPolygonTest(corners.reshape(-1, 1, 2), (x, y), True)
        if abs(edge) < r + 4 or any(np.hypot(x - p["x"], y - p["y"]) < r + p["r"] + 6 for p in placed):
            continue  # a part across the tray's edge would be in or out by a pixel: keep the count exact
        placed.append({"x": x, "y": y, "r": r, "on_tray": bool(edge > 0)})
    for p in placed:
        cv2.circle(image, (round(p["x"]), round(p["y"])), round(p["r"]), PART, -1, cv2.LINE_AA)
    truth = {"generator": "segflow.tools.synth.tray.render_tray", "seed": seed, "tray": corners.tolist(),
             "parts": placed, "on_tray": sum(p["on_tray"] for p in placed)}
    return image, truth


def write_tray(out_png: Path, seed: int = 31) -> dict:
    """Write the image and its ground truth (same name, .json)."""
    return write_sample(out_png, *render_tray(seed))
