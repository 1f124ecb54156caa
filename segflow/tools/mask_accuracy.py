"""A segmentation model's masks against the generator's exact truth, on held-out conveyor stills.

    python -m segflow.tools.mask_accuracy assets/models/coffee-stones-seg.pt [--seed 1] [--images 60]
        [--imgsz 320] [--confidence 0.35] [--offset PX] [--json]
    python -m segflow.tools.mask_accuracy --labels [--imgsz 320]

The stills are those of ``segflow generate dataset`` (:func:`segflow.tools.synth.dataset.render`)
drawn from a seed the model was not trained on (``--seed``, split ``val``): the
same kind of scene, none of its images. Every stone wholly in the frame is
matched to the model's mask that overlaps it best (IoU >= 0.5), predicted as the
flagship predicts (``retina_masks``, the given imgsz and confidence). Reported,
as medians over the matched stones: mask IoU, area ratio, how far the outline
runs outside the stone (area outside minus area missed, over the perimeter:
the mask's mean outward offset, px), and the error of the length (max Feret)
and area that ``measure.masks`` reads from the mask's edges, with the outline
moved in by ``--offset``. The length is also read from each stone's exact mask,
which splits its error into the measurement's own share (the stills' stones are
pasted pixel by pixel and their truth is the max Feret of those pixels' corners,
which an outline of the mask's edges cuts by a few tenths of a pixel) and the
model's.

The median outward offset is what a calibration of the model's mask edges
would remove (its standard uncertainty: the spread of the offsets over the
square root of their number, with a floor for what stills cannot tell about a
line's frames); ``--offset`` moves every outline in by it (sub-pixel, along the
signed distance) and shows what that does to lengths and areas. For the
shipped model it fixes areas and spoils lengths: its masks overreach the
stones' sides but cut their ends (assets/models/MODEL_CARD.md). Never measure
a calibration on the video a workflow is then judged on.

``--labels`` scores the training targets instead of the model: each stone's
label polygon rasterized as ``segflow train`` trains on it (at ``--imgsz``,
``--mask-ratio``, exact coverage) and decoded back to the frame as
``retina_masks`` decodes the model's. A model learns its targets' bias: this tells whether a fat mask
comes from the model or from its labels.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from segflow.tools.exact_targets import exact_polygon_mask
from segflow.tools.synth import MM_PER_PX
from segflow.tools.synth.dataset import render
from segflow.tools.synth.scene import clipped_mask
from segflow.vision.mask_geometry import boundary_length, measure
from segflow.vision.mask_refiner import MaskRefiner
from segflow.vision.outline import Outline, locate
from segflow.vision.yolo_dataset import mask_outline

MIN_IOU = 0.5
# What the stills cannot tell about a line's frames (motion blur, compression): the calibration's
# uncertainty is never below this, px.
OFFSET_U_FLOOR_PX = 0.1


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Each pixel centre's distance (px) to the mask's pixel-edge outline: negative inside, positive outside."""
    m = mask.astype(np.uint8)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(mask, 0.5 - inside, outside - 0.5).astype(np.float64)


def shift_outline(outline: Outline, offset_px: float) -> Outline:
    """A mask-edge ``outline`` moved ``offset_px`` inwards (negative: outwards, at most its crop's 3 px border).

    The level becomes the signed distance to the mask's outline plus the offset, so the
    coverage and the edge crossings of :func:`segflow.vision.mask_geometry.measure` follow
    the moved outline to a fraction of a pixel.
    """
    if offset_px == 0:
        return outline
    level = signed_distance(outline.fit.level < 0) + offset_px
    return dataclasses.replace(outline, fit=dataclasses.replace(outline.fit, level=level))


class LabelMasks:
    """Stands in for a model: each stone's training target, as ``segflow train`` builds it, decoded to the frame.

    The label is the polygon ``segflow generate dataset`` writes (the stone's pixel-edge
    outline); ultralytics letterboxes it to ``imgsz`` and ``segflow train`` fills it
    into a target 1/``mask_ratio`` that size (:mod:`segflow.tools.exact_targets`), the
    target the prototypes learn; here it is decoded as ``retina_masks`` decodes a logit.
    """

    def __init__(self, stones: list[np.ndarray], mask_ratio: int = 1) -> None:
        self.stones = stones
        self.mask_ratio = mask_ratio

    def predict(self, image: np.ndarray, imgsz: int, **_: Any) -> list[np.ndarray]:
        h, w = image.shape[:2]
        r = self.mask_ratio
        scale = imgsz / max(h, w)
        pad_y, pad_x = (imgsz - round(h * scale)) // 2, (imgsz - round(w * scale)) // 2
        masks = []
        for true in self.stones:
            polygon = mask_outline(true) * scale + [pad_x, pad_y]
            target = exact_polygon_mask((imgsz, imgsz), [polygon.reshape(-1)], downsample_ratio=r).astype(np.float32)
            content = target[pad_y // r : (imgsz - pad_y) // r, pad_x // r : (imgsz - pad_x) // r]
            masks.append(cv2.resize(2 * content - 1, (w, h), interpolation=cv2.INTER_LINEAR) > 0)
        return [np.array(masks, bool).reshape(-1, h, w)]


def predict_masks(model: Any, image: np.ndarray, imgsz: int, confidence: float) -> np.ndarray:
    """The model's masks for one BGR frame at the frame's size, as the flagship's detect node gets them."""
    if isinstance(model, LabelMasks):
        return model.predict(image, imgsz)[0]
    result = model.predict(image, imgsz=imgsz, conf=confidence, retina_masks=True, verbose=False)[0]
    if result.masks is None:
        return np.zeros((0, *image.shape[:2]), bool)
    return result.masks.data.cpu().numpy().astype(bool)


def stone_rows(model: Any, seed: int, images: int, imgsz: int, confidence: float,
               offset_px: float, refiner: MaskRefiner | None = None) -> list[dict[str, float]]:
    """One row per stone wholly in a still: IoU, area ratio, outward offset, length and area errors (px).

    ``model`` is ultralytics' YOLO, or None for the training targets (:class:`LabelMasks`);
    ``refiner`` redraws its masks first, as ``segment.refine`` does in a workflow.
    """
    rows = []
    for index in range(images):
        scene = render(seed, "val", index)
        h, w = scene.image.shape[:2]
        whole = [s for s in scene.stones() if min(s.bbox()[:2]) >= 0 and s.bbox()[2] <= w and s.bbox()[3] <= h]
        truths = [clipped_mask(stone, h, w) for stone in whole]  # a stone cut by the frame's edge is no whole stone
        masks = predict_masks(model or LabelMasks(truths), scene.image, imgsz, confidence)
        if refiner is not None:
            masks = np.array([refiner.refine(scene.image, m).mask for m in masks], bool).reshape(masks.shape)
        for stone, true in zip(whole, truths, strict=True):
            ious = [(true & m).sum() / (true | m).sum() for m in masks]
            if not ious or max(ious) < MIN_IOU:
                rows.append({"iou": 0.0})
                continue
            mine = masks[int(np.argmax(ious))]
            outline = locate(mine)
            measured = measure(shift_outline(outline, offset_px), skeleton=False) if outline else None
            if measured is None:
                continue
            exact = locate(true)
            reference = measure(exact, skeleton=False) if exact else None
            true_length = stone.sprite.info["length_mm"] / MM_PER_PX
            rows.append({
                "iou": float(max(ious)),
                "area_ratio": float(mine.sum() / true.sum()),
                "reach_px": float(((mine & ~true).sum() - (true & ~mine).sum()) / boundary_length(true)),
                "length_error_px": measured.feret_max - true_length,
                "area_error": measured.area / true.sum() - 1,
                **({"exact_length_error_px": reference.feret_max - true_length} if reference else {}),
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
    # The same measurement on each stone's exact mask: the method's own share of the length error,
    # so what is left is the model's.
    paired = [r for r in found if "exact_length_error_px" in r]
    exact = np.array([r["exact_length_error_px"] for r in paired])
    model_share = np.array([r["length_error_px"] - r["exact_length_error_px"] for r in paired])
    split = {
        "median_exact_mask_length_error_px": round(float(np.median(exact)), 3),
        "median_model_share_of_length_error_px": round(float(np.median(model_share)), 3),
    } if paired else {}
    return {
        "stones": len(rows), "matched": len(found),
        "median_iou": round(float(np.median(col("iou"))), 4),
        "p10_iou": round(float(np.percentile(col("iou"), 10)), 4),
        "median_area_ratio": round(float(np.median(col("area_ratio"))), 4),
        "offset_px": round(float(np.median(reach)), 3), "offset_u_px": round(u, 3),
        "offset_spread_px": round(spread, 3),
        "median_length_error_px": round(float(np.median(length)), 3),
        "p90_abs_length_error_px": round(float(np.percentile(np.abs(length), 90)), 3),
        **split,
        "median_area_error": round(float(np.median(area)), 4),
        "p90_abs_area_error": round(float(np.percentile(np.abs(area), 90)), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segflow.tools.mask_accuracy", description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="segmentation weights (.pt); none with --labels")
    parser.add_argument("--seed", type=int, default=1, help="stills' seed; not the one the model was trained on")
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--confidence", type=float, default=0.35)
    parser.add_argument("--offset", type=float, default=0.0, metavar="PX",
                        help="move each mask's outline in by PX before measuring (a calibration to check)")
    parser.add_argument("--labels", action="store_true",
                        help="score the training targets (the labels as segflow train rasterizes them), not the model")
    parser.add_argument("--refiner", metavar="ONNX",
                        help="redraw the model's masks with this refiner first (segment.refine's model)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.labels and (args.model is None or not Path(args.model).is_file()):
        what = "no model given" if args.model is None else f"the model file {args.model} does not exist"
        print(f"segflow mask_accuracy: {what}", file=sys.stderr)
        print("give a .pt file (e.g. assets/models/coffee-stones-seg.pt), or --labels to score the training targets",
              file=sys.stderr)
        return 2
    if args.refiner and not Path(args.refiner).is_file():
        print(f"segflow mask_accuracy: the refiner file {args.refiner} does not exist", file=sys.stderr)
        return 2
    from segflow.tools.ultralytics_offline import offline_ultralytics

    offline_ultralytics()
    from ultralytics import YOLO

    model = None if args.labels else YOLO(args.model)
    refiner = MaskRefiner(Path(args.refiner)) if args.refiner else None
    figures = summary(stone_rows(model, args.seed, args.images, args.imgsz, args.confidence, args.offset, refiner))
    figures.update(model="labels" if args.labels else args.model, seed=args.seed, images=args.images,
                   imgsz=args.imgsz, offset=args.offset, **({"refiner": args.refiner} if args.refiner else {}))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        width = max(map(len, figures))
        print("\n".join(f"{k:<{width}}  {v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
