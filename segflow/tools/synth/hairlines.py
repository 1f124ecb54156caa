"""Two hairline cracks photographed through a soft lens, and a calibration card through the same lens.

A frame holding only a crack or two has no larger object whose edges show the
lens's blur, and a crack narrower than about 2.5 times that blur trades its
width for it. The card (flat dark and light rectangles, 30-60 px) is what
``segflow lens-blur`` measures the blur from; the workflow
``workflows/hairline_cracks.yaml`` then measures the cracks with it. Both are
rendered by :mod:`segflow.tools.synth.optics` (exact coverage, Gaussian lens
blur, shot and read noise, vignetting), so the cracks' widths and the blur are
known exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segflow.tools.synth import figures, write_sample
from segflow.tools.synth.optics import Optics, layout, render

MM_PER_PX = 0.05  # an inspection camera close to the wall: a 2.5 px crack is 0.125 mm
BLUR = 1.3  # px, the lens's Gaussian sigma


def render_hairlines(seed: int = 41) -> tuple[np.ndarray, dict]:
    """(BGR image, truth): two cracks 2.2-3.2 px wide, 60-90 px along, darker than the wall."""
    rng = np.random.default_rng(seed)
    shapes = layout(rng, figures.maker("crack", (60.0, 90.0), width=(2.2, 3.2)), 2, 110, 2)
    scene = render(rng, shapes, (110, 220), Optics(blur_sigma=BLUR), background=160.0, contrast=(45.0, 60.0),
                   dark=1.0)
    cracks = []
    for n, shape in enumerate(scene.shapes):
        true = figures.truth(shape)
        x0, y0, x1, y1 = shape.bounds()
        cracks.append({"id": n + 1, "mean_width_mm": round(true["mean_width"] * MM_PER_PX, 5),
                       "skeleton_length_mm": round(true["skeleton_length"] * MM_PER_PX, 4),
                       "centre_px": [round((x0 + x1) / 2, 2), round((y0 + y1) / 2, 2)]})
    truth = {"generator": "segflow.tools.synth.hairlines.render_hairlines", "seed": seed,
             "mm_per_px": MM_PER_PX, "lens_blur_px": BLUR, "cracks": cracks}
    return scene.image, truth


def render_card(seed: int = 42) -> tuple[np.ndarray, dict]:
    """(BGR image, truth): twelve flat rectangles 30-60 px on a card, through the same lens."""
    rng = np.random.default_rng(seed)
    shapes = layout(rng, figures.maker("rectangle", (30.0, 60.0)), 12, 80, 4)
    scene = render(rng, shapes, (240, 320), Optics(blur_sigma=BLUR))
    truth = {"generator": "segflow.tools.synth.hairlines.render_card", "seed": seed, "lens_blur_px": BLUR}
    return scene.image, truth


def write_hairlines(out_png: Path, seed: int = 41) -> dict:
    """Write the cracks' picture and truth, and the card (``lens_card.png``) beside them."""
    out_png = Path(out_png)
    write_sample(out_png.with_name("lens_card.png"), *render_card(seed + 1))
    return write_sample(out_png, *render_hairlines(seed))
