"""End-on view of a stack of pipes: bright rims around dark bores, known diameters.

Ground truth per pipe: centre, outer and inner diameter in mm (the circles the
rim annulus was filled between), for circle-fitting measurement workflows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segflow.tools.synth import write_sample
from segflow.tools.synth.sprites import as_photographed, value_noise

MM_PER_PX = 0.5


def render_pipes(seed: int = 11, h: int = 480, w: int = 640, count: int = 7) -> tuple[np.ndarray, dict]:
    """Return (BGR image, ground truth) of ``count`` non-touching pipe ends on a dark backdrop."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 28.0) + 8.0 * value_noise(rng, h, w, 50.0)[..., None]
    pipes: list[dict] = []
    for _ in range(count * 60):
        if len(pipes) == count:
            break
        outer_mm = float(rng.choice([40.0, 50.0, 63.0, 75.0, 90.0, 110.0]))
        wall_mm = float(rng.uniform(0.06, 0.12) * outer_mm)
        ro = outer_mm / MM_PER_PX / 2
        cx, cy = rng.uniform(ro + 3, w - ro - 3), rng.uniform(ro + 3, h - ro - 3)
        if any(np.hypot(cx - p["cx"], cy - p["cy"]) < ro + p["ro"] + 6 for p in pipes):
            continue
        pipes.append(
            {
                "cx": cx,
                "cy": cy,
                "ro": ro,
                "ri": ro - wall_mm / MM_PER_PX,
                "outer": outer_mm,
                "wall": wall_mm,
            }
        )
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for p in pipes:
        d = np.hypot(xx - p["cx"], yy - p["cy"])
        rim = (d <= p["ro"]) & (d >= p["ri"])
        bore = d < p["ri"]
        tone = np.array([205.0, 200.0, 190.0]) * rng.uniform(0.8, 1.05)
        ang = np.arctan2(yy - p["cy"], xx - p["cx"])
        lit = 0.85 + 0.15 * np.cos(ang + 2.3)  # light from the top-left
        img[rim] = tone[None, :] * lit[rim][:, None]
        depth = np.clip(d / max(p["ri"], 1.0), 0, 1)
        img[bore] = (18.0 + 45.0 * depth[bore] ** 3)[:, None] * np.array([1.0, 1.0, 1.05])[None, :]
    bgr = as_photographed(img, rng, 3.0, 0.8)
    truth = {
        "generator": "segflow.tools.synth.pipes.render_pipes",
        "seed": seed,
        "width": w,
        "height": h,
        "mm_per_px": MM_PER_PX,
        "count": len(pipes),
        "pipes": [
            {
                "center_px": [round(p["cx"], 2), round(p["cy"], 2)],
                "outer_diameter_mm": round(p["outer"], 3),
                "inner_diameter_mm": round(p["outer"] - 2 * p["wall"], 3),
                "wall_mm": round(p["wall"], 3),
            }
            for p in pipes
        ],
    }
    return bgr, truth


def write_pipes(out_png: Path, seed: int = 11) -> dict:
    """Write the image and its ground truth (same name, .json)."""
    return write_sample(out_png, *render_pipes(seed))
