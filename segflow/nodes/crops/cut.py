"""``crop.detections`` and ``crop.tiles``: regions of a frame for a second model to look closer at.

Each crop records where it came from (its box in the frame, and when resized the
scale and letterbox border), so ``crop.stitch`` maps a model's results back to
the frame exactly. Crops around detections remember which detection they were
cut around (``Crop.parent``); tiles have none. Pixels of an unresized crop are a
view of the frame, not a copy.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from pydantic import Field, model_validator

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type
from segflow.engine.crops import Box, Crop, Crops
from segflow.engine.frame import Frame

FILL = Field(114, ge=0, le=255, description="Grey level of letterbox borders and blanked background "
             "(114: what YOLO pads with).")


def letterbox(region: np.ndarray, box: Box, size: int | None, fill: int, parent: int | None) -> Crop:
    """``region`` (the pixels of ``box`` in the frame) as a crop, resized into ``size`` x ``size`` keeping its shape."""
    if size is None:
        return Crop(region, box, parent=parent)
    w, h = box[2] - box[0], box[3] - box[1]
    ratio = size / max(w, h)
    new_w, new_h = max(1, round(w * ratio)), max(1, round(h * ratio))
    resized = cv2.resize(region, (new_w, new_h), interpolation=cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR)
    left, top = (size - new_w) // 2, (size - new_h) // 2
    out = np.full((size, size, *region.shape[2:]), fill, dtype=region.dtype)
    out[top:top + new_h, left:left + new_w] = resized
    return Crop(out, box, (new_w / w, new_h / h), (float(left), float(top)), parent)


class CropParams(Params):
    margin_px: int = Field(0, ge=0, le=10_000, description="Grow each box by this many pixels on every side.")
    margin_ratio: float = Field(0.0, ge=0, le=10, description="Grow each box by this fraction of its own width "
                                "(left and right) and height (top and bottom); adds to margin_px.")
    square: bool = Field(False, description="Grow the shorter side so the region is square (what classifiers "
                         "trained on square crops expect).")
    size: int | None = Field(None, ge=8, le=4096, description="Resize every crop into size x size, keeping its "
                             "shape (letterboxed): crops of one size batch together in a model call.")
    blank_background: bool = Field(False, description="Paint pixels outside the detection's mask with `fill` "
                                   "(needs masks), so the second model sees the object alone.")
    fill: int = FILL
    min_side: int = Field(2, ge=1, le=10_000, description="Skip detections whose region is narrower than this "
                          "(in frame pixels, after the margin).")


def region(xyxy: np.ndarray, p: CropParams, width: int, height: int) -> Box:
    """A detection's box grown by the margins (and squared), clipped to the frame, in whole pixels."""
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    dx = p.margin_px + p.margin_ratio * (x1 - x0)
    dy = p.margin_px + p.margin_ratio * (y1 - y0)
    x0, y0, x1, y1 = x0 - dx, y0 - dy, x1 + dx, y1 + dy
    if p.square:
        side = max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        x0, x1, y0, y1 = cx - side / 2, cx + side / 2, cy - side / 2, cy + side / 2
    return (max(0, int(np.floor(x0))), max(0, int(np.floor(y0))),
            min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1))))


@node_type("crop.detections")
class CropDetections(Node):
    """Cut a crop around each detection (margin, square, fixed size, blanked background) for a second model."""

    Params = CropParams
    params: CropParams
    inputs = {
        "image": Port(Kind.IMAGE, "The frame the detections were found in."),
        "detections": Port(Kind.DETECTIONS, "What to cut around (a crop per detection)."),
    }
    outputs = {"crops": Port(Kind.CROPS, "One crop per detection, each knowing its parent detection.",
                             traits=frozenset({"parents"}))}

    def process(self, inputs: Inputs) -> dict[str, Any]:
        frame: Frame = inputs["image"]
        detections = inputs["detections"]
        p = self.params
        pixels = frame.pixels
        height, width = pixels.shape[:2]
        masks = detections.mask
        if p.blank_background and masks is None and len(detections):
            raise NodeError(f"node '{self.node_id}': blank_background needs masks and these detections have none",
                            hint="feed detections from a segmentation model (or segment.sam2), or set "
                            "blank_background: false")
        crops = []
        for i in range(len(detections)):
            box = region(detections.xyxy[i], p, width, height)
            if box[2] - box[0] < p.min_side or box[3] - box[1] < p.min_side:
                continue
            x0, y0, x1, y1 = box
            part = pixels[y0:y1, x0:x1]
            if p.blank_background:
                part = part.copy()
                part[~masks[i][y0:y1, x0:x1]] = p.fill
            crops.append(letterbox(part, box, p.size, p.fill, i))
        return {"crops": Crops(frame, tuple(crops), detections)}


class TileParams(Params):
    size: int = Field(640, ge=32, le=8192, description="Tile side in frame pixels (the model's input size is "
                      "a good choice: tiles are then seen at full resolution).")
    overlap: float = Field(0.2, ge=0, lt=0.95, description="Fraction of a tile shared with its neighbour: at "
                           "least an object's size over the tile size, so every object is whole in some tile.")

    @model_validator(mode="after")
    def _overlap_leaves_a_step(self) -> TileParams:
        if int(self.size * (1 - self.overlap)) < 1:
            raise ValueError(f"overlap {self.overlap} leaves no step between tiles of {self.size} px")
        return self


def starts(length: int, size: int, step: int) -> list[int]:
    """Tile origins along one axis: every ``step``, the last one flush with the far edge."""
    if length <= size:
        return [0]
    found = list(range(0, length - size, step))
    found.append(length - size)
    return found


@node_type("crop.tiles")
class CropTiles(Node):
    """Slice a frame into overlapping tiles (SAHI), so a model finds objects too small for the whole frame."""

    Params = TileParams
    params: TileParams
    inputs = {"image": Port(Kind.IMAGE, "The frame to slice.")}
    outputs = {"crops": Port(Kind.CROPS, "Tiles covering the frame, left to right, top to bottom (no parents).")}

    def process(self, inputs: Inputs) -> dict[str, Any]:
        frame: Frame = inputs["image"]
        p = self.params
        height, width = frame.pixels.shape[:2]
        step = int(p.size * (1 - p.overlap))
        tiles = []
        for y in starts(height, p.size, step):
            for x in starts(width, p.size, step):
                box = (x, y, min(width, x + p.size), min(height, y + p.size))
                tiles.append(Crop(frame.pixels[box[1]:box[3], box[0]:box[2]], box))
        return {"crops": Crops(frame, tuple(tiles))}
