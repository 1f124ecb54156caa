"""A mask from a click or a box: SAM 2 when a checkpoint is there, GrabCut otherwise.

SAM 2 is loaded by the ``segment.sam2`` node's own ``setup`` (same checkpoint
lookup, config check and error messages as in a workflow) and then prompted
with points and/or a box on one image. Without a checkpoint (or without the
sam2 package) GrabCut does the job: the box is "maybe object", positive clicks
are "sure object", negative ones "sure background". Each result says which
one made it, so the user knows what to expect of its outline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel, Field

from segflow.engine.node import RunContext
from segflow.vision.grabcut import largest_part

log = logging.getLogger(__name__)

POINT_BOX_PX = 40  # a GrabCut box grown this far around clicks given without a box


class Prompt(BaseModel):
    """What the user drew on a frame: a box (x0, y0, x1, y1) and/or points (x, y, 1 = object / 0 = not)."""

    box: tuple[float, float, float, float] | None = None
    points: list[tuple[float, float, int]] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return self.box is None and not any(p[2] for p in self.points)


@dataclass
class MaskResult:
    mask: np.ndarray  # (H, W) bool
    method: str  # "SAM 2 (<checkpoint>)" or "GrabCut"
    score: float | None = None


def grabcut_prompt(image: np.ndarray, prompt: Prompt, iterations: int = 5) -> np.ndarray:
    """GrabCut seeded with a box and clicks; a full-frame bool mask (all False when it cannot fit)."""
    h, w = image.shape[:2]
    positives = [(x, y) for x, y, v in prompt.points if v]
    negatives = [(x, y) for x, y, v in prompt.points if not v]
    if prompt.box is not None:
        x0, y0, x1, y1 = prompt.box
    elif positives:
        xs, ys = [p[0] for p in positives], [p[1] for p in positives]
        x0, y0, x1, y1 = min(xs) - POINT_BOX_PX, min(ys) - POINT_BOX_PX, max(xs) + POINT_BOX_PX, max(ys) + POINT_BOX_PX
    else:
        return np.zeros((h, w), bool)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    x0, y0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    x1, y1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
    if x1 - x0 < 3 or y1 - y0 < 3:
        return np.zeros((h, w), bool)
    # Work in a crop with a background margin around the box (as segment.grabcut does).
    mx, my = max(4, (x1 - x0) // 4), max(4, (y1 - y0) // 4)
    cx0, cy0, cx1, cy1 = max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)
    crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1, :3])
    labels = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
    labels[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0] = cv2.GC_PR_FGD
    if (labels == cv2.GC_BGD).sum() < 16:
        labels[[0, -1], :] = cv2.GC_BGD
        labels[:, [0, -1]] = cv2.GC_BGD
    radius = max(2, min(x1 - x0, y1 - y0) // 20)
    for (x, y), value in [(p, cv2.GC_FGD) for p in positives] + [(p, cv2.GC_BGD) for p in negatives]:
        cv2.circle(labels, (int(x) - cx0, int(y) - cy0), radius, int(value), -1)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    mask = np.zeros((h, w), bool)
    try:
        cv2.grabCut(crop, labels, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return mask
    mask[cy0:cy1, cx0:cx1] = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    return largest_part(mask)


@dataclass
class Assistant:
    """Turns prompts into masks; holds SAM 2 once loaded (the load is the slow part)."""

    context: RunContext
    checkpoint: str | None = None  # a known name (sam2.1-tiny) or a path; None = GrabCut
    sam_params: dict[str, Any] = field(default_factory=dict)
    _sam: Any = None
    _sam_error: str = ""
    _image_key: Any = None

    @property
    def method(self) -> str:
        return f"SAM 2 ({Path(self.checkpoint).name})" if self.checkpoint and not self._sam_error else "GrabCut"

    @property
    def problem(self) -> str:
        """Why SAM 2 is not used although a checkpoint was named ('' when it is, or none was)."""
        return self._sam_error

    def _load_sam(self) -> Any:
        if self._sam is None and not self._sam_error:
            from segflow.engine import NodeError
            from segflow.nodes.models.sam2 import Sam2Segment

            try:
                params = Sam2Segment.Params(checkpoint=self.checkpoint, **self.sam_params)
                found = Sam2Segment.check_params(params, self.context)
                for warning in (p for p in found if p.warning):  # an unpinned checkpoint still loads
                    log.warning("labelling assistant: %s (%s)", warning.message, warning.hint)
                problems = [p for p in found if not p.warning]
                if problems:
                    raise NodeError(problems[0].message, problems[0].hint)
                node = Sam2Segment("label-assist", params, self.context)
                node.setup()
                self._sam = node
            except (NodeError, ValueError) as exc:
                self._sam_error = str(exc)
                log.warning("labelling assistant: SAM 2 unavailable, using GrabCut: %s", exc)
        return self._sam

    def segment(self, image: np.ndarray, prompt: Prompt) -> MaskResult:
        if prompt.is_empty():
            return MaskResult(np.zeros(image.shape[:2], bool), self.method)
        sam = self._load_sam() if self.checkpoint else None
        if sam is None:
            return MaskResult(grabcut_prompt(image, prompt), "GrabCut")
        return self._sam_segment(sam, image, prompt)

    def _sam_segment(self, sam: Any, image: np.ndarray, prompt: Prompt) -> MaskResult:
        import torch

        from segflow.nodes.models.sam2 import rgb

        predictor = sam.predictor
        key = (image.shape, hash(image[::17, ::17].tobytes()))
        with torch.inference_mode():
            if key != self._image_key:  # the embedding is the expensive step: once per frame
                predictor.set_image(rgb(image))
                self._image_key = key
            coords = np.array([[p[0], p[1]] for p in prompt.points], np.float32) if prompt.points else None
            point_labels = np.array([p[2] for p in prompt.points], np.int32) if prompt.points else None
            box = np.array(prompt.box, np.float32) if prompt.box is not None else None
            masks, scores, _ = predictor.predict(point_coords=coords, point_labels=point_labels, box=box,
                                                 multimask_output=prompt.box is None and len(prompt.points) == 1)
        best = int(np.argmax(scores))
        return MaskResult(np.asarray(masks[best]) > 0.5, self.method, float(scores[best]))

    def close(self) -> None:
        if self._sam is not None:
            self._sam.close()
            self._sam = None


def find_checkpoint(graph_params: list[dict[str, Any]], context: RunContext) -> tuple[str | None, dict[str, Any]]:
    """A SAM 2 checkpoint to use: the workflow's ``segment.sam2`` node's if its file exists, else a fetched one.

    ``graph_params`` are the params of the workflow's ``segment.sam2`` nodes.
    """
    from segflow.nodes.models.sam2 import checkpoint_path
    from segflow.vision.model_store import known, locate

    for params in graph_params:
        value = params.get("checkpoint")
        if value and checkpoint_path(str(value), context).is_file():
            extra = {k: params[k] for k in ("config", "device", "image_size", "mask_threshold") if params.get(k)}
            return str(value), extra
    for name in ("sam2.1-tiny", "sam2.1-small", "sam2.1-base-plus", "sam2.1-large"):
        found = locate(name, context.models_dir)
        if found is not None and Path(found).is_file():
            return name, {"config": known(name).config}
    return None, {}
