"""Seeded, deterministic generators of synthetic scenes with exact ground truth.

The project ships no downloaded data or weights; everything the example
workflows and the shipped coffee-stones model need is rendered here, so the
ground truth (masks, counts, lengths in mm, colours) is known by construction.
"""

import json
from pathlib import Path
from typing import Any

MM_PER_PX = 0.25
"""Scale of every generated conveyor scene: 0.25 mm per pixel (640 px = 160 mm)."""


def write_sample(out_png: str | Path, image: Any, truth: dict[str, Any]) -> dict[str, Any]:
    """Write a rendered image and its ground truth beside it (same name, .json)."""
    import cv2

    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_png), image):
        raise OSError(f"could not write {out_png}")
    out_png.with_suffix(".json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth
