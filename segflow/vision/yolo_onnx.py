"""The edge runtime of ``detect.yolo``: an exported YOLO ``.onnx`` run without torch or ultralytics.

onnxruntime (or OpenVINO's runtime, when it is installed and chosen) runs the
graph; everything around it is this project's own numpy code
(:mod:`segflow.vision.yolo_boxes`, :mod:`segflow.vision.yolo_masks`). The file
says what it is: ultralytics writes ``names``, ``task``, ``stride``, ``imgsz``
into the ONNX metadata, read here with ``ast.literal_eval`` (data, never code).

``choose_runtime`` decides which runtime a model gets; it only looks at the file
name and at which packages are installed, so validation can call it.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segflow.vision.yolo_boxes import Candidates, Letterbox, select, to_tensor
from segflow.vision.yolo_masks import input_masks, input_masks_to_frame, retina_masks

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "compiled", "onnxruntime", "openvino", "ultralytics")
EDGE_RUNTIMES = ("onnxruntime", "openvino")
INSTALL = {
    "onnxruntime": "pip install 'segflow[edge]'",
    "openvino": "pip install 'segflow[openvino]'",
    "ultralytics": "pip install 'segflow[yolo]' (brings torch), or export the model to ONNX and run it "
    "on the edge runtime",
}


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def choose_runtime(model: str, runtime: str, is_installed: Callable[[str], bool] = installed) -> str:
    """The runtime that will run ``model``, as far as the file's name says: what validation checks.

    ``auto`` gives an ``.onnx`` file the edge runtime. ``compiled`` gives a ``.pt`` the edge
    runtime too, through an ONNX export made on first use (on an NVIDIA GPU with TensorRT the
    node builds an engine instead, see :func:`segflow.vision.compiled.compile_target`). ``auto``
    gives a ``.pt`` ultralytics here: it needs ultralytics either way (to export it, or to run
    it as it is), and the node decides at load time whether compiling is the faster path
    (:func:`segflow.vision.compiled.auto_compiles`). On the edge runtime OpenVINO wins when it
    is installed (it is the faster CPU runtime on Intel machines), else onnxruntime. Every
    other model (``.engine``, OpenVINO folders, ultralytics names) goes to ultralytics.
    """
    suffix = Path(model).suffix.lower()
    if runtime == "compiled" and suffix == ".pt":  # exported to ONNX on first use (segflow.vision.compiled)
        return "openvino" if is_installed("openvino") else "onnxruntime"
    if runtime not in ("auto", "compiled"):
        return runtime
    if suffix != ".onnx":
        return "ultralytics"
    return "openvino" if is_installed("openvino") else "onnxruntime"


def runtime_problem(model: str, runtime: str, is_installed: Callable[[str], bool] = installed) -> str | None:
    """Why ``runtime`` cannot run ``model`` here (a package missing, not an ONNX file), or ``None``."""
    chosen = choose_runtime(model, runtime, is_installed)
    suffix = Path(model).suffix.lower()
    if runtime == "compiled" and suffix == ".pt":
        missing = [p for p in ("ultralytics", "onnx", chosen) if not is_installed(p)]
        if missing:
            return f"runtime 'compiled' exports the .pt on first use, which needs {', '.join(missing)}: not installed"
        return None
    if chosen in EDGE_RUNTIMES and suffix != ".onnx":
        return f"runtime '{chosen}' runs .onnx files only, not {Path(model).name}"
    if not is_installed(chosen):  # each runtime is the package of the same name
        via = " (chosen by runtime: auto)" if runtime == "auto" else ""
        return f"runtime '{chosen}'{via} needs the '{chosen}' package, which is not installed"
    return None


@dataclass(frozen=True)
class ModelInfo:
    """What an exported YOLO graph is, from its metadata and its input and output shapes."""

    names: dict[int, str]
    task: str
    stride: int
    input_size: tuple[int | None, int | None]  # (h, w); None where the graph takes any size
    batch: int | None  # None: any batch size
    end2end: bool  # NMS is inside the graph: the output is (batch, max_det, 6 + coefficients)

    @classmethod
    def read(cls, metadata: dict[str, str], input_shape: list[Any], outputs: list[list[Any]]) -> ModelInfo:
        def literal(key: str, default: Any) -> Any:
            try:
                return ast.literal_eval(metadata[key]) if key in metadata else default
            except (ValueError, SyntaxError):
                return default

        masks = outputs[1][1] if len(outputs) > 1 and isinstance(outputs[1][1], int) else 0
        args = literal("args", {})
        end2end = bool(literal("end2end", False) or (isinstance(args, dict) and args.get("nms")))
        names = literal("names", None)
        if not isinstance(names, dict):
            channels = outputs[0][1]
            count = channels - 4 - masks if isinstance(channels, int) and not end2end else 0
            names = {i: str(i) for i in range(max(count, 0))}
        dims = [d if isinstance(d, int) and d > 0 else None for d in input_shape]
        return cls(
            names={int(k): str(v) for k, v in names.items()},
            task=str(metadata.get("task") or ("segment" if len(outputs) > 1 else "detect")),
            stride=int(metadata.get("stride") or 32),
            input_size=(dims[2], dims[3]),
            batch=dims[0],
            end2end=end2end,
        )


class OnnxRuntimeGraph:
    """The graph on onnxruntime; CUDA when asked for (or ``auto`` and onnxruntime-gpu is installed)."""

    def __init__(self, path: Path, device: str) -> None:
        import onnxruntime as ort

        available = ort.get_available_providers()
        if device[:1].isdigit():  # ultralytics' spelling of GPU ids ("0", "0,1"): the first one
            device = f"cuda:{device.split(',')[0]}"
        cuda = device.startswith("cuda") or (device == "auto" and "CUDAExecutionProvider" in available)
        if cuda and "CUDAExecutionProvider" not in available:
            raise ValueError(f"device '{device}' needs onnxruntime-gpu (this onnxruntime has {', '.join(available)})")
        if device == "mps":
            raise ValueError("device 'mps' is not available on onnxruntime; use cpu or auto")
        providers: list[Any] = ["CPUExecutionProvider"]
        if cuda:
            device_id = int(device.split(":")[1]) if ":" in device else 0
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device_id}))
        # onnxruntime's worker threads spin while they wait for work by default, which takes the cores
        # that tracking, measuring and the sinks run on between frames: the coffee graph ran at 14 FPS
        # with spinning and 23 FPS without on a 2-core box (bench/compiled.py).
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.input_shape = list(self.session.get_inputs()[0].shape)
        self.output_shapes = [list(o.shape) for o in self.session.get_outputs()]
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        return list(self.session.run(None, {self.input_name: batch}))


class OpenVinoGraph:
    """The graph on OpenVINO's runtime, which reads ONNX files directly."""

    def __init__(self, path: Path, device: str, half: bool) -> None:
        import openvino as ov

        if device not in ("auto", "cpu"):
            raise ValueError(f"device '{device}' is not an OpenVINO device here; use cpu or auto")
        core = ov.Core()
        model = core.read_model(str(path))
        # OpenVINO computes in bf16 on CPUs that have it unless told otherwise: f32 keeps results equal
        # to the other runtimes; `half` lets it choose (bf16/f16, faster, boxes off by a pixel or two).
        config = {} if half else {"INFERENCE_PRECISION_HINT": "f32"}
        self.compiled = core.compile_model(model, "AUTO" if device == "auto" else "CPU", config)
        self.input_shape = [d.get_length() if d.is_static else None for d in model.inputs[0].get_partial_shape()]
        self.output_shapes = [[d.get_length() if d.is_static else None for d in o.get_partial_shape()]
                              for o in model.outputs]
        framework = model.get_rt_info()["framework"] if model.has_rt_info(["framework"]) else {}
        self.metadata = {key: value.astype(str) for key, value in framework.items()}  # the ONNX metadata_props

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        result = self.compiled(batch)
        return [np.asarray(result[o]) for o in self.compiled.outputs]


Graph = OnnxRuntimeGraph | OpenVinoGraph


def open_graph(path: Path, runtime: str, device: str, half: bool) -> Graph:
    """The exported graph at ``path`` on the chosen edge runtime."""
    return OpenVinoGraph(path, device, half) if runtime == "openvino" else OnnxRuntimeGraph(path, device)


def run_graph(graph: Graph, tensor: np.ndarray, size: int | None) -> list[np.ndarray]:
    """The graph over the whole batch, in one call where its batch axis is dynamic (``size`` None).

    A graph exported for a fixed batch runs in chunks of ``size``, the last one padded with zeros.
    """
    if size is None or size == len(tensor):
        return graph(tensor)
    parts = []
    for start in range(0, len(tensor), size):
        chunk = tensor[start : start + size]
        filled = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)])
        parts.append([out[: len(chunk)] for out in graph(filled)])
    return [np.concatenate(column) for column in zip(*parts, strict=True)]


class EdgeYolo:
    """An exported YOLO graph with ultralytics' pre- and post-processing in numpy."""

    def __init__(self, path: Path, runtime: str, device: str, half: bool) -> None:
        self.graph = open_graph(path, runtime, device, half)
        self.info = ModelInfo.read(self.graph.metadata, self.graph.input_shape, self.graph.output_shapes)
        self.names = self.info.names
        self.task = self.info.task

    def predict(self, images: list[np.ndarray], conf: float, iou: float, classes: list[int] | None, imgsz: int,
                max_det: int, retina_masks: bool, **_ultralytics_only: Any) -> list[Any]:
        """Detections for same-sized BGR frames: one graph call per batch the graph accepts."""
        fixed = self.info.input_size
        target = (fixed[0] or imgsz, fixed[1] or imgsz)
        box = Letterbox.fit(images[0].shape[:2], target, self.info.stride, rect=None in fixed)
        tensor = to_tensor([box.apply(image) for image in images])
        outputs = run_graph(self.graph, tensor, self.info.batch)
        detections = []
        for i in range(len(images)):
            found = self.candidates(outputs[0][i], conf, iou, classes, max_det)
            protos = outputs[1][i] if len(outputs) > 1 else None
            detections.append(self.to_detections(found, protos, box, retina_masks))
        return detections

    def candidates(self, output: np.ndarray, conf: float, iou: float, classes: list[int] | None,
                   max_det: int) -> Candidates:
        if not self.info.end2end:
            return select(output, len(self.names), conf, iou, max_det, classes)
        keep = output[:, 4] > conf  # NMS ran inside the graph: rows are (x1, y1, x2, y2, score, class, coeffs)
        if classes is not None:
            keep &= np.isin(output[:, 5].astype(int), classes)
        rows = output[keep][:max_det]
        return Candidates(rows[:, :4].astype(np.float32), rows[:, 4].astype(np.float32),
                          rows[:, 5].astype(int), rows[:, 6:].astype(np.float32))

    def to_detections(self, found: Candidates, protos: np.ndarray | None, box: Letterbox, retina: bool) -> Any:
        import supervision as sv

        frame_boxes = box.boxes_to_frame(found.xyxy)
        masks = None
        if protos is not None:
            if retina:
                masks = retina_masks(protos, found.coefficients, frame_boxes, box.frame)
            else:
                masks = input_masks(protos, found.coefficients, found.xyxy, box)
            kept = masks.any(axis=(1, 2))  # as ultralytics: a box whose mask is empty is dropped
            found, frame_boxes, masks = found.take(kept), frame_boxes[kept], masks[kept]
            if not retina:
                masks = input_masks_to_frame(masks, box)
        if len(found) == 0:
            empty = sv.Detections.empty()
            empty.data = {"class_name": np.empty(0, dtype=str)}
            return empty
        return sv.Detections(
            xyxy=frame_boxes,
            mask=masks,
            confidence=found.confidence,
            class_id=found.class_id,
            data={"class_name": np.array([self.names.get(int(c), str(c)) for c in found.class_id])},
        )
