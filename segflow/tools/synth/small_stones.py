"""A wide, high-resolution conveyor still of small stones: the SAHI (tiled detection) sample.

A line camera over a wide belt: 3200 x 960 px at 0.5 mm per pixel, so a stone
5-10 mm long is 10-20 px across, among coffee beans, with the blur, lighting
and noise of the other conveyor scenes. Shrunk whole into a detector's 640 px
input a stone is 2-4 px and lost; cut into 640 px tiles it is seen at the size
the shipped model was trained on. The truth lists every stone's box.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from segflow.tools.synth import write_sample
from segflow.tools.synth.scene import Camera, Occupancy, belt, paste, scatter
from segflow.tools.synth.sprites import bean, stone

WIDTH, HEIGHT, MM_PER_PX = 3200, 960, 0.5


def render_small_stones(seed: int = 31, stones: int = 30, beans: int = 300) -> tuple[np.ndarray, dict[str, Any]]:
    """The BGR image and its truth: every stone's box (x0, y0, x1, y1, in pixels) and length."""
    rng = np.random.default_rng(seed)
    occ = Occupancy(HEIGHT, WIDTH, gap=4)
    inside = (8, WIDTH - 8), (8, HEIGHT - 8)  # whole in the frame: the truth is one box per stone
    placed = scatter(rng, occ, lambda r: stone(r, MM_PER_PX, length_mm=float(r.uniform(5.0, 10.0))), stones,
                     *inside)
    distractors = scatter(rng, occ, lambda r: bean(r, MM_PER_PX), beans, *inside)
    canvas = belt(rng, HEIGHT, WIDTH)
    paste(canvas, placed + distractors)
    image = Camera.random(rng, HEIGHT, WIDTH).shoot(rng, canvas)
    truth = {
        "seed": seed, "width": WIDTH, "height": HEIGHT, "mm_per_px": MM_PER_PX, "stone_count": len(placed),
        "stones": [{"box": list(p.bbox()), "length_mm": round(float(p.sprite.info["length_mm"]), 3)}
                   for p in placed],
    }
    return image, truth


def write_small_stones(out: Path, seed: int = 31) -> dict[str, Any]:
    """Write the image (JPEG: a lossless 3-megapixel noisy frame would be ~9 MB) and its truth."""
    return write_sample(out, *render_small_stones(seed))
