"""``segment.refine``: each detection's mask redrawn at the frame's pixels by a refiner trained for its model.

A YOLO-seg mask is decoded from a coarse prototype grid (4-8 frame pixels a
cell), so it rounds tips off and sits a pixel outside an object's sides; this
node redraws each mask from the frame around it (:mod:`segflow.vision.mask_refiner`),
with the model's own mask as the starting point, before measuring. A refiner is
trained for one model and one kind of object (``segflow train --task refine``);
the shipped one, for the coffee-stone model, is described in
``assets/models/MODEL_CARD.md``.

Detections keep everything else they had. ``mask_refined`` says per detection
whether its mask is the refiner's; where it is not, ``refine_fallback`` says why
(no mask, or a refined mask that hardly overlaps the model's: the refiner was
not trained for that object, and the model's mask is kept).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.paths import readable_file_problem
from segflow.nodes.models import check_pin, weights_problems
from segflow.nodes.models.yolo import as_bgr
from segflow.vision.mask_refiner import MaskRefiner, Runtime, onnxruntime_installed
from segflow.vision.model_files import load_error, sha256_field

ONNXRUNTIME_HINT = "pip install onnxruntime (the yolo and edge extras have it), or set runtime: opencv or auto"
TRAIN_HINT = ("a refiner's .onnx file, made by `segflow train --task refine DATA.yaml --model MODEL.pt` "
              "for the model whose masks it refines")


class RefineParams(Params):
    model: str = Field(..., description="The refiner: an .onnx file from `segflow train --task refine`, trained "
                       "for the model whose masks it gets.")
    margin_px: int = Field(12, ge=4, le=64, description="Pixels of the frame around each mask that the refiner "
                           "sees: more than the model's masks are ever off by.")
    min_iou: float = Field(0.5, ge=0, le=1, description="A refined mask overlapping the model's by less than this "
                           "is refused, and the model's kept (refine_fallback says so).")
    runtime: Runtime = Field(
        "auto", description="What runs the refiner: onnxruntime (the yolo and edge extras install it; about 1.7x "
        "faster here), OpenCV's DNN module (always installed), or auto: onnxruntime where installed.")
    tip_logit: float | None = Field(
        None, le=0, description="Near the two ends of each mask's length, count pixels as the object from this "
        "logit rather than from 0 (e.g. -1.5): a refiner less sure of an object's dark ends than of its sides "
        "reads lengths short. None: 0 everywhere.")
    tip_radius_px: float = Field(2.0, gt=0, le=8, description="How near an end of the length a pixel must be for "
                                 "tip_logit to apply.")
    sha256: str | None = sha256_field()


@node_type("segment.refine")
class RefineMasks(Node):
    """Redraw each detection's mask at the frame's pixels with a refiner trained for its model."""

    Params = RefineParams
    params: RefineParams
    inputs = {
        "image": Port(Kind.IMAGE, "The frame the detections were found in."),
        "detections": Port(Kind.DETECTIONS, "Detections with masks (a segmentation model's)."),
    }
    outputs = {"detections": Port(Kind.DETECTIONS, "The same detections with refined masks.")}
    # 1-5 ms a mask: its own worker, so that it runs beside the detector and the nodes after it
    # (onnxruntime and OpenCV's DNN let go of the GIL), not inline behind the tracker and the measurement.
    threaded = True
    refiner: MaskRefiner | None = None

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset({"mask_refined", "refine_fallback"})

    @classmethod
    def weights_file(cls, params: Any, context: RunContext) -> Path:
        """The refiner's file; ``sha256`` pins it (``segflow models pin``)."""
        return context.resolve(params.model)

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        if params.runtime == "onnxruntime" and not onnxruntime_installed():
            return [ParamProblem("runtime", "onnxruntime is not installed here", ONNXRUNTIME_HINT)]
        path = cls.weights_file(params, context)
        problem = readable_file_problem(path, "refiner")
        if problem:
            return [ParamProblem("model", problem, TRAIN_HINT)]
        if path.suffix.lower() != ".onnx":
            return [ParamProblem("model", f"{path.name} is not an .onnx file", TRAIN_HINT)]
        return weights_problems(path, params.sha256, "model", TRAIN_HINT)

    def setup(self) -> None:
        p = self.params
        path = self.weights_file(p, self.context)
        check_pin(self.node_id, path, p.sha256)
        try:
            self.refiner = MaskRefiner(path, p.margin_px, p.min_iou, p.runtime, p.tip_logit, p.tip_radius_px)
        except ImportError as exc:
            raise NodeError(f"node '{self.node_id}': runtime onnxruntime is not installed ({exc})",
                            hint=ONNXRUNTIME_HINT) from exc
        except Exception as exc:  # OpenCV raises cv2.error with its own C++ trace, onnxruntime its own
            raise NodeError(f"node '{self.node_id}': cannot load the refiner {path}: {load_error(exc)}",
                            hint=TRAIN_HINT) from exc

    def process(self, inputs: Inputs) -> dict[str, Any]:
        detections = inputs["detections"]
        count = len(detections)
        refined = np.zeros(count, bool)
        fallback = np.full(count, "no mask", dtype=object)
        if detections.mask is None or count == 0:
            data = {**detections.data, "mask_refined": refined, "refine_fallback": fallback}
            return {"detections": dataclasses.replace(detections, data=data)}
        image = as_bgr(inputs["image"].pixels)
        if image.dtype != np.uint8 or image.shape[:2] != detections.mask.shape[1:]:
            raise NodeError(
                f"segment.refine '{self.node_id}': the image ({image.dtype} {image.shape[1]}x{image.shape[0]}) is "
                f"not the 8-bit frame of these masks ({detections.mask.shape[2]}x{detections.mask.shape[1]})",
                hint="wire `image` to the frame the detector ran on (e.g. `image: <source>.image`)",
            )
        assert self.refiner is not None
        masks = np.empty_like(detections.mask)
        for i in range(count):
            result = self.refiner.refine(image, detections.mask[i])
            masks[i] = result.mask
            refined[i] = result.refused is None
            fallback[i] = result.refused or ""
        data = {**detections.data, "mask_refined": refined, "refine_fallback": fallback}
        return {"detections": dataclasses.replace(detections, mask=masks, data=data)}
