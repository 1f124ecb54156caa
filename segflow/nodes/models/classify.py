"""``classify.yolo``: an ultralytics image classifier, micro-batched.

On a frame it says what the whole frame shows: the ``classification`` output
is a :class:`~segflow.engine.crops.Classification` (top class, confidence and
the ``top_k`` best) on a ``value`` port, which sinks write as its fields.
On crops (``crops`` wired instead of ``image``, see :mod:`.on_crops`) each
crop's ``result`` is its Classification and the crops go out on ``crops``;
``batch_size`` counts crops, so the crops of many frames and cameras share a
call (a stitch node attaches each result to its parent detection).

Two runtimes, chosen as ``detect.yolo`` chooses (:func:`segflow.vision.yolo_onnx.choose_runtime`):
an ``.onnx`` export runs on the edge runtime (onnxruntime or OpenVINO, no
torch) with this project's own copy of ultralytics' classify preprocessing
(:mod:`segflow.vision.yolo_classify`); a ``.pt`` or an ultralytics model name
runs on ultralytics' predictor (``runtime: compiled``: exported to ONNX on first
use and run on the edge runtime, see :func:`segflow.nodes.models.yolo.compiled_source`).
Both give one row of probabilities per image, turned into a Classification the same way. Images of any sizes share one
call: the classifier resizes each to ``imgsz`` first.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from segflow.engine import BatchParams, Inputs, Kind, Node, NodeError, Port, node_type
from segflow.engine.crops import Classification
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.on_crops import CROPS_OUT, Item, OnCrops, run_items, subject_ports
from segflow.nodes.models.yolo import (
    RUNTIME_HELP,
    RuntimeName,
    as_bgr,
    compiled_source,
    load_hint,
    pinned_source,
    ultralytics_weights_problems,
)
from segflow.vision.model_files import load_error, sha256_field
from segflow.vision.shared_models import Lease, file_key, lease
from segflow.vision.ultralytics_refs import DEVICE, TASK_WORDS, torch_device
from segflow.vision.yolo_onnx import EDGE_RUNTIMES

log = logging.getLogger(__name__)


class ClassifyParams(BatchParams):
    model: str = Field(
        ...,
        description="Classifier weights: a .pt or .onnx file (e.g. from `segflow train --task classify`), "
        "or an ultralytics model name such as yolo11n-cls.pt (downloaded on first use where there is internet).",
    )
    imgsz: int | None = Field(None, ge=16, le=4096, description="Input size in pixels (short side resized, "
                              "centre crop). Empty = the size the model was trained at.")
    top_k: int = Field(5, ge=1, le=100, description="How many of the best classes each result lists.")
    device: str = Field("auto", pattern=DEVICE, description="auto (GPU when present), cpu, cuda:0, mps.")
    half: bool = Field(False, description="Half precision on CUDA (faster; ignored on CPU); on OpenVINO, "
                       "lets it compute in bf16/f16.")
    runtime: RuntimeName = Field("auto", description=RUNTIME_HELP)
    sha256: str | None = sha256_field()


@node_type("classify.yolo")
class YoloClassifier(OnCrops, Node):
    """Ultralytics classification model on frames or crops; one call per micro-batch of images."""

    Params = ClassifyParams
    params: ClassifyParams
    reload_params = frozenset({"model", "runtime", "device", "half", "sha256"})
    lease: Lease[Any] | None = None  # the loaded model, shared when the run says so (set by setup)
    batchable = True
    inputs = subject_ports("The frame to classify")
    outputs = {"classification": Port(Kind.VALUE, "Classification of the frame: class_id, class_name, "
                                      "confidence and top (the top_k best as (class_name, confidence))."),
               "crops": CROPS_OUT}

    @classmethod
    def weights_file(cls, params: Any, context: RunContext) -> Path:
        """The file ``model`` names here; ``sha256`` pins it (``segflow models pin``)."""
        return context.resolve(params.model)

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        return ultralytics_weights_problems(params.model, cls.weights_file(params, context), params.runtime,
                                            params.sha256, "yolo11n-cls.pt")

    def setup(self) -> None:
        p = self.params
        source = pinned_source(self.node_id, p.model, self.weights_file(p, self.context), p.sha256)
        source, self.runtime = compiled_source(self.node_id, source, p, self.context)
        try:
            key = (type(self).type_name, file_key(source), self.runtime, p.device, p.half)
            self.lease = lease(self.context.share_models, key, lambda: self.load(source))
            self.model, self.turn = self.lease.model, self.lease.lock  # calls on a shared model take turns
            task, names = self.model.task, self.model.names  # a file that is no model fails here too
        except Exception as exc:
            raise NodeError(f"node '{self.node_id}': cannot load classifier {source}: {load_error(exc)}",
                            hint=load_hint(source, p.model, self.runtime, "classification")) from exc
        if task != "classify":
            raise NodeError(
                f"node '{self.node_id}' (classify.yolo): {source} is {TASK_WORDS.get(task, task)} "
                f"(task '{task}'); classify.yolo needs an image classifier",
                hint="use detect.yolo for detection and segmentation models; classifiers are named *-cls",
            )
        self.names = {int(k): str(v) for k, v in names.items()}
        self.imgsz = p.imgsz or self.trained_size()
        log.info("classify '%s': %s (%d classes, %d px) on %s", self.node_id, source, len(names), self.imgsz,
                 self.runtime)

    def load(self, source: str) -> Any:
        if self.runtime in EDGE_RUNTIMES:
            from segflow.vision.yolo_classify import EdgeClassifier

            return EdgeClassifier(Path(source), self.runtime, self.params.device, self.params.half)
        from ultralytics import YOLO

        return YOLO(source)

    def trained_size(self) -> int:
        """The size the model was trained (or exported) at; ultralytics' default 224 when it does not say."""
        if self.runtime in EDGE_RUNTIMES:
            return int(self.model.imgsz)
        size = self.model.overrides.get("imgsz") or 224
        return int(size[0] if isinstance(size, (list, tuple)) else size)

    def probabilities(self, images: list[np.ndarray]) -> np.ndarray:
        """(N, classes) probabilities for BGR images of any sizes, in one model call."""
        if not images:
            return np.zeros((0, len(self.names)), np.float32)
        if self.runtime in EDGE_RUNTIMES:
            with self.turn:
                return self.model.probabilities(images, self.imgsz)
        predict_args: dict[str, Any] = {"imgsz": self.imgsz, "device": torch_device(self.params.device),
                                        "verbose": False}
        if self.params.half:
            predict_args["quantize"] = 16
        with self.turn:
            results = self.model.predict(images, **predict_args)
        return np.stack([result.probs.data.float().cpu().numpy() for result in results])

    def classifications(self, images: list[np.ndarray]) -> list[Any]:
        probs = self.probabilities([as_bgr(image) for image in images])
        return [top_classes(row, self.names, self.params.top_k) for row in probs]

    def classify(self, items: list[Item]) -> list[Any]:
        return self.classifications([item.pixels for item in items])

    def process_batch(self, batch: list[Inputs]) -> list[dict[str, Any]]:
        return run_items(batch, self.classify, self.params.batch_size, "classification")

    def close(self) -> None:
        if self.lease is not None:
            self.lease.release()
        self.model = None


def top_classes(probs: np.ndarray, names: dict[int, str], k: int) -> Classification:
    """The best class of one row of probabilities and the ``k`` best (class name, confidence), best first."""
    order = np.argsort(-probs, kind="stable")[: max(k, 1)]
    best = int(order[0])
    return Classification(
        class_id=best,
        class_name=names.get(best, str(best)),
        confidence=float(probs[best]),
        top=tuple((names.get(int(i), str(int(i))), float(probs[i])) for i in order),
    )
