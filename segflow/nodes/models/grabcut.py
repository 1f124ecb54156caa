"""``segment.grabcut``: box-prompted masks with OpenCV's GrabCut, no weights at all.

Same ports as ``segment.sam2`` (image + detections in, the same detections
with masks out), so a CPU-only box swaps one word in its YAML. Each box is
segmented in a crop around it: the box (grown by ``box_padding``) is "maybe
object", a margin of ``context`` around it is "sure background" that teaches
GrabCut the background's colours.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np
from pydantic import Field

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type
from segflow.vision.grabcut import grabcut_box, largest_part


class GrabCutParams(Params):
    iterations: int = Field(5, ge=1, le=50, description="GrabCut iterations per box.")
    box_padding: int = Field(
        4, ge=0, le=500, description="Pixels added around each box, for boxes cut too tight."
    )
    context: float = Field(
        0.25,
        gt=0,
        le=4,
        description="Background margin around the box, as a fraction of its size, from which "
        "GrabCut learns the background colours.",
    )
    keep_largest: bool = Field(
        True, description="Keep only the largest connected part of each mask."
    )
    # segment.sam2's params, accepted and unused, so that swapping the two types is a one-word
    # change in YAML (GrabCut needs no model, device or batching).
    checkpoint: str | None = Field(None, description="Ignored here (segment.sam2's model checkpoint).")
    config: str | None = Field(None, description="Ignored here (segment.sam2's model config).")
    device: str | None = Field(None, description="Ignored here: GrabCut runs on the CPU.")
    mask_threshold: float | None = Field(None, description="Ignored here (segment.sam2's mask logit threshold).")
    multimask: bool | None = Field(None, description="Ignored here (segment.sam2's multimask output).")
    image_size: int | None = Field(None, description="Ignored here (segment.sam2's embedding size).")
    batch_size: int | None = Field(None, description="Ignored here: GrabCut works one frame at a time.")
    max_wait_ms: float | None = Field(None, description="Ignored here: GrabCut works one frame at a time.")


@node_type("segment.grabcut")
class GrabCutSegmenter(Node):
    """Masks for boxes with OpenCV GrabCut: weight-free, CPU-only, drop-in for segment.sam2."""

    Params = GrabCutParams
    params: GrabCutParams
    inputs = {
        "image": Port(Kind.IMAGE, "The frame the boxes were found in."),
        "detections": Port(Kind.DETECTIONS, "Boxes to segment (existing masks are replaced)."),
    }
    outputs = {"detections": Port(Kind.DETECTIONS, "The same detections, each with a mask.")}

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset()

    def process(self, inputs: Inputs) -> dict[str, Any]:
        detections = inputs["detections"]
        image = inputs["image"].pixels
        if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
            image = cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] < 3:
            raise NodeError(
                f"segment.grabcut '{self.node_id}': needs an 8-bit colour or gray image, got "
                f"{image.dtype} {image.shape}",
                hint="connect the source's image output",
            )
        image = np.ascontiguousarray(image[:, :, :3])
        p = self.params
        masks = np.zeros((len(detections), *image.shape[:2]), bool)
        for i, box in enumerate(detections.xyxy):
            mask = grabcut_box(image, box, p.iterations, p.box_padding, p.context)
            masks[i] = largest_part(mask) if p.keep_largest else mask
        return {"detections": dataclasses.replace(detections, mask=masks if len(masks) else None)}
