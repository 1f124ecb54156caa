"""Concrete surface with cracks of known length and width, for crack measurement.

Each crack is a random-walk polyline drawn with a constant stroke width, so its
true length is the polyline length and its width the stroke; both are in the
ground truth in mm.  The texture has aggregate and small pores (darker than the
paste but far smaller than a crack) so thresholding needs a minimum area.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from segflow.tools.synth import write_sample
from segflow.tools.synth.sprites import value_noise

MM_PER_PX = 0.1


def _walk(rng: np.random.Generator, start: np.ndarray, heading: float, length: float, step: float = 8.0):
    pts = [start.astype(np.float64)]
    travelled, base = 0.0, heading
    while travelled < length:
        heading = base + 0.7 * (heading - base) + rng.normal(0.0, 0.3)  # wanders, never curls
        s = min(step, length - travelled)
        pts.append(pts[-1] + s * np.array([np.cos(heading), np.sin(heading)]))
        travelled += s
    return np.array(pts)


def _band(pts: np.ndarray, width_px: int, h: int, w: int) -> np.ndarray:
    """Pixels within (width_px - 1) / 2 + 0.25 of the polyline: a stroke width_px wide along a row.

    Along a row or column only: at other angles it is narrower (a 3 px stroke paints 2.1 px at
    45 degrees, 2.5 px averaged over angles), so the truth's ``area_px`` says what was painted.

    (cv2.polylines' ``thickness`` draws strokes about two pixels wider than asked.)
    """
    centre = np.ones((h, w), np.uint8)
    cv2.polylines(centre, [pts], False, 0, thickness=1, lineType=cv2.LINE_8)
    dist = cv2.distanceTransform(centre, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (dist <= (width_px - 1) / 2 + 0.25).astype(np.uint8)


def render_concrete(seed: int = 5, h: int = 480, w: int = 640, n_cracks: int = 3) -> tuple[np.ndarray, dict]:
    """Return (BGR image, ground truth); cracks run roughly across separate horizontal bands."""
    rng = np.random.default_rng(seed)
    paste = np.full((h, w), 150.0) + 14.0 * value_noise(rng, h, w, 60.0) + 8.0 * value_noise(rng, h, w, 8.0)
    paste += rng.normal(0.0, 5.0, (h, w))
    for _ in range(260):  # aggregate: lighter/darker blotches
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(2, 9)), int(rng.integers(2, 7)))
        cv2.ellipse(paste, c, axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(120, 185)), -1)
    for _ in range(60):  # pores: small dark dots
        cv2.circle(
            paste,
            (int(rng.integers(0, w)), int(rng.integers(0, h))),
            int(rng.integers(1, 3)),
            float(rng.uniform(70, 100)),
            -1,
        )
    paste = cv2.GaussianBlur(paste.astype(np.float32), (0, 0), 0.8)
    cracks = []
    band = h / n_cracks
    for i in range(n_cracks):
        width_px = int(rng.choice([3, 5, 7, 9]))  # odd: centred on a pixel row
        length_px = float(rng.uniform(0.45, 0.8) * w)
        start = np.array(
            [
                rng.uniform(15, max(16.0, w - length_px - 15)),
                band * (i + 0.5) + rng.uniform(-15, 15),
            ]
        )
        pts = _walk(rng, start, rng.uniform(-0.3, 0.3), length_px)
        pts[:, 0] = np.clip(pts[:, 0], 10, w - 10)
        pts[:, 1] = np.clip(pts[:, 1], band * i + 10, band * (i + 1) - 10)
        ipts = np.round(pts).astype(np.int32)
        true_len = float(np.sum(np.hypot(*np.diff(ipts, axis=0).T)))
        mask = _band(ipts, width_px, h, w)
        depth = rng.uniform(35.0, 55.0)
        paste[mask.astype(bool)] = depth + rng.normal(0.0, 4.0, int(mask.sum()))
        cracks.append(
            {
                "id": i + 1,
                "length_mm": round(true_len * MM_PER_PX, 3),
                "width_mm": round(width_px * MM_PER_PX, 3),
                "width_px": width_px,
                "area_px": int(mask.sum()),
                "polyline_px": ipts.tolist(),
            }
        )
    img = cv2.GaussianBlur(paste, (0, 0), 0.5)
    img = np.clip(img, 0, 255).astype(np.uint8)
    bgr = cv2.merge([img, np.clip(img.astype(np.int16) + 2, 0, 255).astype(np.uint8), img])
    truth = {
        "generator": "segflow.tools.synth.concrete.render_concrete",
        "seed": seed,
        "width": w,
        "height": h,
        "mm_per_px": MM_PER_PX,
        "crack_count": len(cracks),
        "total_length_mm": round(sum(c["length_mm"] for c in cracks), 3),
        "length_definition": "length of the drawn centre polyline; width is the stroke width",
        "cracks": cracks,
    }
    return bgr, truth


def write_concrete(out_png: Path, seed: int = 5) -> dict:
    """Write the image and its ground truth (same name, .json)."""
    return write_sample(out_png, *render_concrete(seed))
