"""Coffee cherries on a sorting tray, ripe (red) and unripe (green), for colour classification.

Ground truth per cherry: centre, diameter in mm, ripeness and the base RGB the
shading was applied to.  Cherries do not touch, so a threshold or a detector
separates them and the colour node's verdict can be checked one by one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segflow.tools.synth import write_sample
from segflow.tools.synth.sprites import as_photographed, value_noise

MM_PER_PX = 0.25
RIPE_RGB = (172, 28, 36)
UNRIPE_RGB = (92, 150, 48)


def render_cherries(seed: int = 3, h: int = 480, w: int = 640, count: int = 18) -> tuple[np.ndarray, dict]:
    """Return (BGR image, ground truth) for one tray of cherries."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tray = np.array([214.0, 210.0, 200.0])
    img = tray[None, None, :] * (1.0 + 0.04 * value_noise(rng, h, w, 30.0))[..., None]
    img = img * (1.0 - 0.12 * ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (w * w / 4))[..., None]
    cherries: list[dict] = []
    for _ in range(count * 30):
        if len(cherries) == count:
            break
        d_mm = rng.uniform(12.0, 17.0)
        r = d_mm / MM_PER_PX / 2
        cx, cy = rng.uniform(r + 4, w - r - 4), rng.uniform(r + 4, h - r - 4)
        if any(np.hypot(cx - c["cx"], cy - c["cy"]) < r + c["r"] + 8 for c in cherries):
            continue
        ripe = bool(rng.random() < 0.55)
        rgb = np.array(RIPE_RGB if ripe else UNRIPE_RGB, np.float64) * rng.uniform(0.9, 1.1, 3)
        cherries.append({"cx": cx, "cy": cy, "r": r, "ripe": ripe, "rgb": np.clip(rgb, 0, 255), "d": d_mm})
    for c in cherries:
        dx, dy = (xx - c["cx"]) / c["r"], (yy - c["cy"]) / c["r"]
        r2 = dx * dx + dy * dy
        # soft shadow to the bottom-right, then the shaded sphere with a highlight
        sh = np.exp(-((((xx - c["cx"] - 4) ** 2 + (yy - c["cy"] - 5) ** 2) / (c["r"] * 1.05) ** 2) ** 4))
        img *= (1.0 - 0.35 * sh)[..., None]
        inside = r2 <= 1.0
        nz = np.sqrt(np.clip(1.0 - r2, 0, 1))
        lam = np.clip(-0.4 * dx - 0.45 * dy + 0.8 * nz, 0, 1)
        col = c["rgb"][None, :] * (0.35 + 0.75 * lam[inside])[:, None]
        spec = 120.0 * np.exp(-((dx + 0.35) ** 2 + (dy + 0.4) ** 2) / 0.03)[inside]
        img[inside] = col + spec[:, None]
    bgr = as_photographed(img, rng, 2.5, 0.7)
    truth = {
        "generator": "segflow.tools.synth.cherries.render_cherries",
        "seed": seed,
        "width": w,
        "height": h,
        "mm_per_px": MM_PER_PX,
        "count": len(cherries),
        "ripe": sum(c["ripe"] for c in cherries),
        "unripe": sum(not c["ripe"] for c in cherries),
        "reference_rgb": {"ripe": list(RIPE_RGB), "unripe": list(UNRIPE_RGB)},
        "cherries": [
            {
                "center_px": [round(c["cx"], 2), round(c["cy"], 2)],
                "diameter_mm": round(c["d"], 3),
                "ripeness": "ripe" if c["ripe"] else "unripe",
                "base_rgb": [int(round(v)) for v in c["rgb"]],
            }
            for c in cherries
        ],
    }
    return bgr, truth


def write_cherries(out_png: Path, seed: int = 3) -> dict:
    """Write the image and its ground truth (same name, .json)."""
    return write_sample(out_png, *render_cherries(seed))
