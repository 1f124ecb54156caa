"""A segmentation model's masks against the generator's exact truth, on held-out conveyor stills.

    python -m segflow.tools.mask_accuracy assets/models/coffee-stones-seg.pt [--seed 1] [--images 60]
        [--imgsz 320] [--confidence 0.35] [--offset PX] [--json]

The stills are those of ``segflow generate dataset`` (:func:`segflow.tools.synth.dataset.render`)
drawn from a seed the model was not trained on (``--seed``, split ``val``): the
same kind of scene, none of its images. Every stone wholly in the frame is
matched to the model's mask that overlaps it best (IoU >= 0.5), predicted as the
flagship predicts (``retina_masks``, the given imgsz and confidence). Reported,
as medians over the matched stones: mask IoU, area ratio, how far the outline
runs outside the stone (area outside minus area missed, over the perimeter:
the mask's mean outward offset, px), and the error of the length (max Feret)
and area that ``measure.masks`` reads from the mask's edges, with the outline
moved in by ``--offset``.

The median outward offset is the model's mask-edge calibration (its standard
uncertainty: the spread of the offsets over the square root of their number,
with a floor for the difference between these stills and a line's frames):
:mod:`segflow.vision.mask_offset` applies it (``measure.masks`` ``mask_offset_px``).
Never measure it on the video a workflow is then judged on.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import numpy as np

from segflow.tools.synth import MM_PER_PX
from segflow.tools.synth.dataset import render
from segflow.tools.synth.scene import clipped_mask
from segflow.vision.mask_geometry import boundary_length, measure
from segflow.vision.mask_offset import shift_outline
from segflow.vision.outline import locate

MIN_IOU = 0.5
# What the stills cannot tell about a line's frames (motion blur, compression): the calibration's
# uncertainty is never below this, px.
OFFSET_U_FLOOR_PX = 0.1


def predict_masks(model: Any, image: np.ndarray, imgsz: int, confidence: float) -> np.ndarray:
    """The model's masks for one BGR frame at the frame's size, as the flagship's detect node gets them."""
    result = model.predict(image, imgsz=imgsz, conf=confidence, retina_masks=True, verbose=False)[0]
    if result.masks is None:
        return np.zeros((0, *image.shape[:2]), bool)
    return result.masks.data.cpu().numpy().astype(bool)


def stone_rows(model: Any, seed: int, images: int, imgsz: int, confidence: float,
               offset_px: float) -> list[dict[str, float]]:
    """One row per stone wholly in a still: IoU, area ratio, outward offset, length and area errors (px)."""
    rows = []
    for index in range(images):
        scene = render(seed, "val", index)
        h, w = scene.image.shape[:2]
        masks = predict_masks(model, scene.image, imgsz, confidence)
        for stone in scene.stones():
            x0, y0, x1, y1 = stone.bbox()
            if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
                continue  # cut by the frame's edge: not a whole stone to compare
            true = clipped_mask(stone, h, w)
            ious = [(true & m).sum() / (true | m).sum() for m in masks]
            if not ious or max(ious) < MIN_IOU:
                rows.append({"iou": 0.0})
                continue
            mine = masks[int(np.argmax(ious))]
            outline = locate(mine)
            measured = measure(shift_outline(outline, offset_px), skeleton=False) if outline else None
            if measured is None:
                continue
            rows.append({
                "iou": float(max(ious)),
                "area_ratio": float(mine.sum() / true.sum()),
                "reach_px": float(((mine & ~true).sum() - (true & ~mine).sum()) / boundary_length(true)),
                "length_error_px": measured.feret_max - stone.sprite.info["length_mm"] / MM_PER_PX,
                "area_error": measured.area / true.sum() - 1,
            })
    return rows


def summary(rows: list[dict[str, float]]) -> dict[str, Any]:
    """Medians, tenth percentiles and the calibration (median outward offset and its uncertainty)."""
    found = [r for r in rows if "reach_px" in r]
    if not found:
        return {"stones": len(rows), "matched": 0}

    def col(name: str) -> np.ndarray:
        return np.array([r[name] for r in found])

    reach = col("reach_px")
    spread = 1.4826 * float(np.median(np.abs(reach - np.median(reach))))  # robust standard deviation
    # The median's standard error (1.25 sigma / sqrt n), with the floor for stills vs a line's frames.
    u = math.hypot(1.2533 * spread / math.sqrt(len(reach)), OFFSET_U_FLOOR_PX)
    length, area = col("length_error_px"), col("area_error")
    return {
        "stones": len(rows), "matched": len(found),
        "median_iou": round(float(np.median(col("iou"))), 4),
        "p10_iou": round(float(np.percentile(col("iou"), 10)), 4),
        "median_area_ratio": round(float(np.median(col("area_ratio"))), 4),
        "offset_px": round(float(np.median(reach)), 3), "offset_u_px": round(u, 3),
        "offset_spread_px": round(spread, 3),
        "median_length_error_px": round(float(np.median(length)), 3),
        "p90_abs_length_error_px": round(float(np.percentile(np.abs(length), 90)), 3),
        "median_area_error": round(float(np.median(area)), 4),
        "p90_abs_area_error": round(float(np.percentile(np.abs(area), 90)), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segflow.tools.mask_accuracy", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="segmentation weights (.pt)")
    parser.add_argument("--seed", type=int, default=1, help="stills' seed; not the one the model was trained on")
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--confidence", type=float, default=0.35)
    parser.add_argument("--offset", type=float, default=0.0, metavar="PX",
                        help="move each mask's outline in by PX before measuring (a calibration to check)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from segflow.tools.ultralytics_offline import offline_ultralytics

    offline_ultralytics()
    from ultralytics import YOLO

    figures = summary(stone_rows(YOLO(args.model), args.seed, args.images, args.imgsz, args.confidence, args.offset))
    figures.update(model=args.model, seed=args.seed, images=args.images, imgsz=args.imgsz, offset=args.offset)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print("\n".join(f"{k:<24} {v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
