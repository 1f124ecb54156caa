"""``detect.yolo``: YOLO detection or instance segmentation, micro-batched.

One ``predict`` call per group of same-sized frames in a micro-batch (four
cameras of one model -> one call), which is where a GPU earns its keep.
Frames of different sizes go in separate calls because ultralytics letterboxes
a mixed batch differently from a single frame; grouping keeps batched results
equal to one-at-a-time results.

Two runtimes (``runtime``, chosen by :func:`segflow.vision.yolo_onnx.choose_runtime`):
an ``.onnx`` export runs on the edge runtime (onnxruntime or OpenVINO, this
project's own pre- and post-processing, no torch); a ``.pt``, TensorRT
``.engine``, OpenVINO folder or ultralytics model name runs on ultralytics.
Output either way: ``supervision.Detections`` with masks at full frame
resolution when the model segments, and ``data['class_name']``.

On crops (``crops`` wired instead of ``image``, see :mod:`segflow.engine.on_crops`) each crop is
one image: ``batch_size`` counts crops, and each crop's result is its detections in
crop pixels. Crops of one size go in one call, so give ``crop.detections`` a fixed
``size`` (tiles have one already) to let crops of many frames share a call.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from segflow.engine import BatchParams, Inputs, Kind, Node, NodeError, Port, node_type
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.on_crops import CROPS_OUT, Item, OnCrops, run_items, subject_ports
from segflow.nodes.models import check_pin
from segflow.nodes.models import weights_problems as file_problems
from segflow.vision.model_files import load_error, sha256_field
from segflow.vision.model_names import class_names
from segflow.vision.shared_models import Lease, file_key, lease
from segflow.vision.ultralytics_refs import (
    DEVICE,
    SUPPORTED_TASKS,
    TASK_WORDS,
    UnknownClass,
    is_hub_name,
    model_problem,
    resolve_classes,
    torch_device,
)
from segflow.vision.yolo_onnx import EDGE_RUNTIMES, INSTALL, choose_runtime, runtime_problem

log = logging.getLogger(__name__)

RuntimeName = Literal["auto", "compiled", "onnxruntime", "openvino", "ultralytics"]
RUNTIME_HELP = ("What runs the model. auto: the fastest runtime here. An .onnx file runs on the edge runtime "
                "(OpenVINO when installed, else onnxruntime; no torch); a local .pt is compiled on first use "
                "(TensorRT on an NVIDIA GPU, else an ONNX graph on the edge runtime; cached in the model folder, "
                "a progress line while it compiles) and runs on ultralytics as it is where compiling is not "
                "faster (a GPU without TensorRT) or not possible; anything else runs on ultralytics. "
                "compiled: always compile a .pt (an error when it cannot). ultralytics: the .pt (or .onnx) "
                "as it is, for comparison.")


class UltralyticsParams(BatchParams):
    """What every ultralytics-backed model node takes: its weights, their pin, and what runs them where."""

    model: str  # each node type says in its own words which kind of model it takes
    device: str = Field("auto", pattern=DEVICE, description="auto (GPU when present), cpu, cuda:0, mps.")
    half: bool = Field(False, description="Half precision on CUDA (faster; ignored on CPU); on OpenVINO, "
                       "lets it compute in bf16/f16.")
    runtime: RuntimeName = Field("auto", description=RUNTIME_HELP)
    sha256: str | None = sha256_field()


class YoloParams(UltralyticsParams):
    model: str = Field(
        ...,
        description="Weights: a .pt, .onnx, .engine file or OpenVINO folder, or an ultralytics "
        "model name such as yolo11n-seg.pt (downloaded on first use where there is internet).",
    )
    confidence: float = Field(0.25, ge=0, le=1, description="Keep detections at least this sure.")
    iou: float = Field(0.7, ge=0, le=1, description="Non-maximum suppression: overlap above which boxes merge.")
    classes: list[str | int] | None = Field(None, description="Keep only these classes, by name or id (empty = all).")
    imgsz: int = Field(640, ge=32, le=8192, description="Inference size in pixels (long side).")
    max_det: int = Field(300, ge=1, le=10_000, description="Most detections per frame.")
    retina_masks: bool = Field(False, description="Compute masks at full image resolution (sharper, slower).")


def as_bgr(pixels: np.ndarray) -> np.ndarray:
    """Three-channel uint8 BGR, whatever the source gave (grey, BGRA)."""
    import cv2

    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    if pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
    return pixels


class UltralyticsModel(OnCrops, Node):
    """What every ultralytics-backed model node shares: frames or crops in, weights loaded one way.

    The weights (:class:`UltralyticsParams`) are checked, pinned, compiled on request and
    loaded the same way, so every such node refuses the same mistakes with the same words.
    A node type adds its ports, ``load`` (its model object for a runtime) and, in ``setup``,
    its check of the loaded model's task.
    """

    params: UltralyticsParams
    reload_params = frozenset({"model", "runtime", "device", "half", "sha256"})
    batchable = True
    lease: Lease[Any] | None = None  # the loaded model, shared when the run says so (set by setup)
    example_model: ClassVar[str]  # an ultralytics model name of the right kind, for hints
    model_words: ClassVar[str]  # what it loads, in an error: "classifier"
    export_kind: ClassVar[str]  # which ONNX export it takes, in a hint: "classification"

    @classmethod
    def weights_file(cls, params: Any, context: RunContext) -> Path:
        """The file (or folder) ``model`` names here; ``sha256`` pins it (``segflow models pin``)."""
        return context.resolve(params.model)

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        return ultralytics_weights_problems(params.model, cls.weights_file(params, context), params.runtime,
                                            params.sha256, cls.example_model)

    def load_weights(self) -> tuple[str, str, dict[Any, Any]]:
        """Load the pinned weights (compiled first where :func:`compiled_source` says so): what, its task and names."""
        p = self.params
        source = pinned_source(self.node_id, p.model, self.weights_file(p, self.context), p.sha256)
        weights = source
        source, self.runtime = compiled_source(self.node_id, source, p, self.context)
        try:
            # the weights' own key as well as the compiled file's: rewritten weights are loaded afresh
            key = (type(self).type_name, file_key(weights), file_key(source), self.runtime, p.device, p.half)
            self.lease = lease(self.context.share_models, key, lambda: self.load(source))
            self.model, self.turn = self.lease.model, self.lease.lock  # calls on a shared model take turns
            task, names = self.model.task, self.model.names  # a file that is no model fails here too
        except Exception as exc:
            raise NodeError(f"node '{self.node_id}': cannot load {self.model_words} {source}: {load_error(exc)}",
                            hint=load_hint(source, p.model, self.runtime, self.export_kind)) from exc
        return source, task, names

    def load(self, source: str) -> Any:
        """The model object for ``source`` on ``self.runtime``."""
        raise NotImplementedError

    def close(self) -> None:
        if self.lease is not None:
            self.lease.release()
        self.model = None


@node_type("detect.yolo")
class Yolo(UltralyticsModel):
    """Ultralytics YOLO detection or segmentation on frames or crops; one predict call per micro-batch."""

    Params = YoloParams
    params: YoloParams
    example_model = "yolo11n-seg.pt"
    model_words = "YOLO model"
    export_kind = "detection/segmentation"
    inputs = subject_ports("The frame to detect in")
    outputs = {"detections": Port(Kind.DETECTIONS, "Boxes, masks (segmentation models), class ids and class_name."),
               "crops": CROPS_OUT}

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset({"class_name"})

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        problems = super().check_params(params, context)
        if params.classes and not any(p.field == "model" and not p.warning for p in problems):
            problems += cls._class_problems(params.classes, cls.weights_file(params, context))
        return problems

    @staticmethod
    def _class_problems(classes: list[str | int], resolved: Path) -> list[ParamProblem]:
        """``classes`` the model does not have, when its file says its names without being loaded."""
        names = class_names(resolved)
        if names is None:
            return []  # checked when the model loads
        try:
            resolve_classes(classes, names)
        except UnknownClass as exc:
            return [ParamProblem("classes", str(exc), "fix `classes` or leave it empty for all")]
        return []

    def setup(self) -> None:
        source, task, names = self.load_weights()
        if task not in SUPPORTED_TASKS:
            raise NodeError(
                f"node '{self.node_id}' (detect.yolo): {source} is {TASK_WORDS.get(task, task)} "
                f"(task '{task}'); detect.yolo needs a detection or segmentation model",
                hint="use classify.yolo for a classifier" if task == "classify"
                else "use a detection or -seg model, e.g. yolo11n.pt or yolo11n-seg.pt",
            )
        log.info("detect '%s': %s (%s, %d classes) on %s", self.node_id, source, task, len(names), self.runtime)
        self.configure()

    def load(self, source: str) -> Any:
        if self.runtime in EDGE_RUNTIMES:
            from segflow.vision.yolo_onnx import EdgeYolo

            p = self.params
            model = EdgeYolo(Path(source), self.runtime, p.device, p.half)
            fixed = model.info.input_size
            if None not in fixed and "imgsz" in p.model_fields_set and fixed != (p.imgsz, p.imgsz):
                log.warning("detect '%s': %s was exported for %sx%s frames only: imgsz %d is not used",
                            self.node_id, source, fixed[1], fixed[0], p.imgsz)
            return model
        from ultralytics import YOLO

        return YOLO(source)

    def configure(self) -> None:
        """Prediction settings from the params: changing them needs no reload of the model."""
        p = self.params
        try:
            self.class_ids = resolve_classes(p.classes, self.model.names)
        except UnknownClass as exc:
            raise NodeError(f"node '{self.node_id}': {exc}", hint="fix `classes` or leave it empty for all") from exc
        self.predict_args = {
            "conf": p.confidence,
            "iou": p.iou,
            "classes": self.class_ids,
            "imgsz": p.imgsz,
            "device": torch_device(p.device),
            "max_det": p.max_det,
            "retina_masks": p.retina_masks,
            "verbose": False,
        }
        if p.half:  # ultralytics >= 8.4 spells half precision `quantize=16`
            self.predict_args["quantize"] = 16

    def process_batch(self, batch: list[Inputs]) -> list[dict[str, Any]]:
        return run_items(batch, self.detect, self.params.batch_size, "detections")

    def detect(self, items: list[Item]) -> list[Any]:
        """Detections per image, one predict call per image size."""
        import supervision as sv

        images = [as_bgr(item.pixels) for item in items]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            groups.setdefault(image.shape, []).append(i)
        outputs: list[Any] = [None] * len(items)
        edge = self.runtime in EDGE_RUNTIMES  # the edge runtime gives sv.Detections already
        for indices in groups.values():
            with self.turn:
                results = self.model.predict([images[i] for i in indices], **self.predict_args)
            for i, result in zip(indices, results, strict=True):
                outputs[i] = result if edge else to_detections(sv, result)
        return outputs


def to_detections(sv: Any, result: Any) -> Any:
    """Ultralytics result -> ``sv.Detections`` with ``class_name`` even when empty."""
    detections = sv.Detections.from_ultralytics(result)
    if len(detections) == 0:
        empty = sv.Detections.empty()
        empty.data = {"class_name": np.empty(0, dtype=str)}
        return empty
    return detections


# The weights checks of every ultralytics-backed model node (detect.yolo, classify.yolo): they load the
# same kinds of files the same ways, so they refuse the same mistakes with the same words.


def ultralytics_weights_problems(model: str, resolved: Path, runtime: str, sha256: str | None,
                                 example: str) -> list[ParamProblem]:
    """Every problem with an ultralytics model node's weights params; ``example`` names a model of the right kind."""
    problem = model_problem(model, resolved)
    if problem is not None:
        hint = (
            f"export it from the trained weights: segflow export MODEL.pt --format onnx --out {model}"
            if resolved.suffix.lower() == ".onnx"
            else f"give a .pt/.onnx/.engine file or an OpenVINO folder, or an ultralytics model "
            f"name such as {example} (downloaded on first use)"
        )
        return [ParamProblem("model", problem, hint)]
    problems = []
    wrong_runtime = runtime_problem(model, runtime)
    if wrong_runtime is not None:
        chosen = choose_runtime(model, runtime)
        fix = ("pip install 'segflow[yolo,edge]'" if runtime == "compiled"
               else "give an .onnx file or runtime: ultralytics" if chosen in EDGE_RUNTIMES else INSTALL[chosen])
        problems.append(ParamProblem("runtime", wrong_runtime, fix))
    if sha256 is not None and not resolved.exists():
        problems.append(ParamProblem("sha256", f"only a file can be checked; {model} is a model name",
                                     "give the path of the downloaded file, or drop `sha256`"))
    problems += file_problems(resolved, sha256, "model")
    if is_hub_name(model) and not resolved.exists() and sha256 is None:
        problems.append(ParamProblem(
            "model", f"{model} would be downloaded and loaded with no `sha256` pin (a .pt runs any code "
            "it holds)", "download it once, give its path, then `segflow models pin WORKFLOW`", warning=True))
    return problems


def pinned_source(node_id: str, model: str, resolved: Path, sha256: str | None) -> str:
    """What to load at setup: the local file, or the model name ultralytics downloads; the pin checked again."""
    check_pin(node_id, resolved, sha256)
    return str(resolved) if resolved.exists() or not is_hub_name(model) else model


def compiled_source(node_id: str, source: str, params: Any, context: RunContext) -> tuple[str, str]:
    """What to load and on which runtime: a local ``.pt`` file's compiled export where that is faster.

    ``runtime: compiled`` always compiles a ``.pt`` (and fails, located, when it cannot);
    ``runtime: auto`` compiles it where that is the faster path (:func:`segflow.vision.compiled.auto_compiles`:
    on a CPU, or on an NVIDIA GPU with TensorRT) and otherwise, or when compiling fails, runs the
    ``.pt`` on ultralytics as it is, saying why. The export is made on first use and cached
    (:mod:`segflow.vision.compiled`): a TensorRT engine run by ultralytics on an NVIDIA GPU, else
    a dynamic ONNX graph on the edge runtime.
    """
    runtime = choose_runtime(params.model, params.runtime)
    weights = Path(source)
    if params.runtime not in ("auto", "compiled") or weights.suffix.lower() != ".pt" or not weights.is_file():
        return source, runtime
    from segflow.vision.compiled import CompileSpec, auto_compiles, compile_target, compiled
    from segflow.vision.yolo_export import ExportFailed

    if params.runtime == "auto" and not auto_compiles(params.device):
        return source, runtime
    target = compile_target(params.device)
    try:
        spec = CompileSpec.of(weights, target, params.device, params.imgsz, params.half)
        entry = compiled(weights, spec, context.models_dir,
                         progress=lambda line: print(f"{node_id}: {line}", file=sys.stderr, flush=True))
    except (ExportFailed, OSError) as exc:
        if params.runtime == "auto":  # the .pt still runs: slower, never broken by the cache
            print(f"{node_id}: cannot compile {weights.name} for {target} ({exc}); running the .pt on "
                  "ultralytics as it is (runtime: ultralytics skips the attempt)", file=sys.stderr, flush=True)
            return source, "ultralytics"
        raise NodeError(f"node '{node_id}': cannot compile {weights} for {target}: {exc}",
                        hint="runtime: ultralytics runs the .pt as it is") from exc
    return str(entry), "ultralytics" if target == "tensorrt" else target


def load_hint(source: str, model: str, runtime: str, export_kind: str) -> str:
    """The hint for a model that would not load: no internet, or not the export it was taken for."""
    if source == model and is_hub_name(model):
        return ("ultralytics downloads named models on first use, which needs internet; "
                "offline, copy the .pt file here and give its path")
    if runtime in EDGE_RUNTIMES:
        return f"is it a YOLO {export_kind} ONNX export (segflow export MODEL.pt --format onnx)?"
    return "is it an ultralytics model or export (.pt/.onnx/.engine/OpenVINO folder)?"
