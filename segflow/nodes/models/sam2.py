"""``segment.sam2``: SAM 2 masks for a detector's boxes, with Meta's ``sam2`` package.

The detector says *what* and roughly *where*; SAM 2 draws the outline. All
boxes of a frame go to SAM in one prompt call, and the frames of a micro-batch
are embedded together (``set_image_batch``), the expensive step. Detections
keep everything they had (class ids, names, tracker ids, fields); only the
masks are SAM's, plus ``data['sam_score']`` (SAM's own quality estimate).
Frames without detections are passed through without touching the model.

On crops (``crops`` wired instead of ``image`` and ``detections``; see
:mod:`segflow.engine.on_crops`) each crop is prompted with its parent detection's box mapped
into the crop, and its result is that detection with SAM's mask, in crop pixels:
``crop.stitch`` (mode ``attach``) puts the refined mask back on the parent.
``batch_size`` then counts crops, so small parts are segmented at the crop's
resolution, many per call.

The module is not called ``sam2.py`` so that it never shadows the package.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from segflow.engine import BatchParams, Inputs, Kind, Node, NodeError, Port, node_type
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.on_crops import CROPS_OUT, Item, OnCrops, run_items, subject_ports
from segflow.engine.paths import readable_file_problem
from segflow.nodes.models import check_pin, weights_problems
from segflow.vision.model_files import sha256_field
from segflow.vision.model_store import fetch_command, known, locate
from segflow.vision.shared_models import Lease, file_key, lease

log = logging.getLogger(__name__)

DEVICE = r"^(auto|cpu|mps|cuda|cuda:\d+)$"
INSTALL = "SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2  (after torch)"
CHECKPOINT_HINT = (
    "name a known one (`segflow models list`), e.g. `checkpoint: sam2.1-tiny` after "
    "`segflow models fetch sam2.1-tiny`; official checkpoints come from Meta's sam2 release "
    "(github.com/facebookresearch/sam2), each with its config: sam2.1_hiera_tiny.pt with "
    "configs/sam2.1/sam2.1_hiera_t.yaml (also _small/_s, _base_plus/_b+, _large/_l)"
)


class Sam2Params(BatchParams):
    checkpoint: str = Field(
        ...,
        description="A known checkpoint, fetched into the model folder by `segflow models fetch NAME` "
        "(sam2.1-tiny, -small, -base-plus, -large), or a checkpoint file's path.",
    )
    config: str = Field(
        "configs/sam2.1/sam2.1_hiera_t.yaml",
        description="Model config inside the sam2 package that matches the checkpoint "
        "(configs/sam2.1/sam2.1_hiera_{t,s,b+,l}.yaml).",
    )
    device: str = Field("auto", pattern=DEVICE, description="auto (GPU when present), cpu, cuda:0.")
    mask_threshold: float = Field(0.0, ge=-20, le=20, description="Mask logit threshold: higher gives tighter masks.")
    multimask: bool = Field(False, description="Ask SAM for three masks per box and keep its best-scored one.")
    image_size: int | None = Field(
        None,
        ge=128,
        le=4096,
        multiple_of=64,
        description="Embedding resolution; empty = the config's (1024, as trained). "
        "512 is about 4x faster on CPU, with coarser masks.",
    )
    sha256: str | None = sha256_field()


def sam2_config_dir() -> Path | None:
    """Where the installed sam2 package keeps its configs, found without importing it."""
    spec = importlib.util.find_spec("sam2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def checkpoint_path(value: str, context: RunContext) -> Path:
    """A known checkpoint's name means its file in the model folder; anything else is a path."""
    return locate(value, context.models_dir) or context.resolve(value)


@node_type("segment.sam2")
class Sam2Segment(OnCrops, Node):
    """SAM 2 masks for each detection's box; detections keep their classes, ids and fields."""

    Params = Sam2Params
    params: Sam2Params
    lease: Lease[Any] | None = None  # the SAM 2 model, shared when the run says so (set by setup)
    batchable = True
    inputs = {
        **subject_ports("The frame the detections were found in"),
        "detections": Port(Kind.DETECTIONS, "Boxes to segment (their masks are replaced); with image, not crops.",
                           required=False),
    }
    outputs = {"detections": Port(Kind.DETECTIONS, "The same detections with SAM 2's masks."), "crops": CROPS_OUT}

    @classmethod
    def check_wiring(cls, params: Any, origins: Mapping[str, Port]) -> list[ParamProblem]:
        if "image" in origins and "detections" not in origins:
            return [ParamProblem("image", "SAM 2 on a frame needs the boxes to segment",
                                 "wire `detections: <detector>.detections`")]
        if "crops" in origins and "detections" in origins:
            return [ParamProblem("detections", "on crops the boxes come from each crop's parent detection",
                                 "remove the detections input")]
        made = origins.get("crops")
        if made is not None and "parents" not in made.traits:
            return [ParamProblem("crops", "SAM 2 is prompted with each crop's parent box, and these crops "
                                 "have no parent detections (tiles)", "cut the crops with crop.detections")]
        return []

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset({"sam_score"})

    @classmethod
    def weights_file(cls, params: Any, context: RunContext) -> Path:
        """The checkpoint file ``checkpoint`` names here; ``sha256`` pins it (``segflow models pin``)."""
        return checkpoint_path(params.checkpoint, context)

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        problems = []
        checkpoint = cls.weights_file(params, context)
        entry = known(params.checkpoint)
        problem = readable_file_problem(checkpoint, "SAM 2 checkpoint")
        if problem:
            if entry is None or not problem.endswith("does not exist"):
                problems.append(ParamProblem("checkpoint", problem, CHECKPOINT_HINT))
            else:
                where = context.models_dir if params.checkpoint == entry.name else checkpoint.parent
                problems.append(
                    ParamProblem(
                        "checkpoint",
                        f"SAM 2 checkpoint {params.checkpoint} is not fetched yet ({checkpoint} does not exist)",
                        f"fetch it: {fetch_command(entry, where)}",
                    )
                )
        if entry is not None and params.config != entry.config:
            problems.append(
                ParamProblem(
                    "config",
                    f"{entry.file} goes with config {entry.config}, not {params.config}",
                    f"config: {entry.config}",
                )
            )
        problems += weights_problems(checkpoint, params.sha256, "checkpoint", CHECKPOINT_HINT)
        package = sam2_config_dir()
        if package is None:
            problems.append(ParamProblem("config", "the sam2 package is not installed", INSTALL))
        elif not (package / params.config).is_file():
            configs = sorted(str(p.relative_to(package)) for p in package.glob("configs/**/*.yaml"))
            problems.append(
                ParamProblem(
                    "config",
                    f"no config {params.config!r} in the sam2 package",
                    f"one of: {', '.join(configs)}",
                )
            )
        return problems

    def setup(self) -> None:
        p = self.params
        try:
            from sam2.build_sam import build_sam2
            from sam2.sam2_image_predictor import SAM2ImagePredictor
        except ImportError as exc:
            raise NodeError(f"node '{self.node_id}': cannot import sam2: {exc}", INSTALL) from exc
        checkpoint = self.weights_file(p, self.context)
        check_pin(self.node_id, checkpoint, p.sha256)
        overrides = [f"++model.image_size={p.image_size}"] if p.image_size else []
        self.device = resolve_device(p.device)
        # The weights may be shared (the editor's browser sessions); the predictor, which holds the
        # embedding of the image being prompted, is this node's own. Inference only reads the weights.
        key = (self.type_name, file_key(checkpoint), p.config, p.image_size, str(self.device))
        try:
            self.lease = lease(self.context.share_models, key, lambda: build_sam2(
                p.config, str(checkpoint), device=self.device, hydra_overrides_extra=overrides))
            model = self.lease.model
        except Exception as exc:  # sam2 raises a bare RuntimeError on key mismatches
            detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
            if "ultralytics" in str(exc) or "weights_only" in str(exc):
                # torch's unpickling advice (weights_only=False) is the wrong fix for the wrong file
                detail = "this is not a SAM 2 checkpoint (it looks like an ultralytics/YOLO model)"
            raise NodeError(
                f"node '{self.node_id}': cannot build SAM 2 from {p.config} with {checkpoint}: {detail}",
                hint="the checkpoint must match the config (sam2.1_hiera_tiny.pt with "
                "sam2.1_hiera_t.yaml, ...); " + CHECKPOINT_HINT,
            ) from exc
        with warnings.catch_warnings():  # its transforms use torch.jit.script (deprecated)
            warnings.simplefilter("ignore", FutureWarning)
            self.predictor = SAM2ImagePredictor(model, mask_threshold=p.mask_threshold)
        size = model.image_size  # the predictor assumes 1024; follow the model's own size
        self.predictor._bb_feat_sizes = [(size // 4,) * 2, (size // 8,) * 2, (size // 16,) * 2]
        log.info("segment '%s': SAM 2 %s at %d px on %s", self.node_id, p.config, size, self.device)

    def process_batch(self, batch: list[Inputs]) -> list[dict[str, Any]]:
        return run_items(batch, self.segment, self.params.batch_size, "detections")

    def segment(self, items: list[Item]) -> list[Any]:
        """Per image, its detections with SAM's masks: a frame's detections, or a crop's parent (crop pixels)."""
        prompts = [prompt(item) for item in items]
        results: list[Any] = list(prompts)
        todo = [i for i, d in enumerate(prompts) if len(d) > 0]
        if not todo:
            return results
        import torch

        with torch.inference_mode():
            self.predictor.set_image_batch([rgb(items[i].pixels) for i in todo])
            masks, scores, _ = self.predictor.predict_batch(
                box_batch=[np.asarray(prompts[i].xyxy, dtype=np.float32) for i in todo],
                multimask_output=self.params.multimask)
        for i, image_masks, image_scores in zip(todo, masks, scores, strict=True):
            detections = prompts[i]
            chosen, best = pick_masks(image_masks, image_scores, len(detections))
            data = {**detections.data, "sam_score": best}
            results[i] = dataclasses.replace(detections, mask=chosen, data=data)
        return results

    def close(self) -> None:
        if self.lease is not None:
            self.lease.release()
        self.predictor = None


def prompt(item: Item) -> Any:
    """The detections to segment in one image: the frame's, or the crop's parent with its box in crop pixels."""
    if item.crop is None:
        return item.inputs["detections"]
    assert item.crops is not None and item.crop.parent is not None  # check_wiring: crops with parents
    parent = item.crops.parents[item.crop.parent : item.crop.parent + 1]
    h, w = item.pixels.shape[:2]
    box = item.crop.from_frame(np.asarray(parent.xyxy, dtype=float).reshape(-1, 2)).reshape(-1, 4)
    box[:, [0, 2]] = box[:, [0, 2]].clip(0, w)
    box[:, [1, 3]] = box[:, [1, 3]].clip(0, h)
    return dataclasses.replace(parent, xyxy=box.astype(np.float32), mask=None)


def rgb(pixels: np.ndarray) -> np.ndarray:
    """SAM wants RGB HxWx3; frames are BGR (or grey)."""
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, 2::-1])


def pick_masks(masks: np.ndarray, scores: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (N, H, W) masks and their scores from SAM's (N, C, H, W) output.

    ``predict_batch`` drops the box axis when a frame has one box, so it is put
    back; with several candidates per box (multimask) the best-scored one wins.
    """
    masks = masks.reshape(count, -1, *masks.shape[-2:])
    scores = scores.reshape(count, -1)
    best = scores.argmax(axis=1)
    rows = np.arange(count)
    return masks[rows, best] > 0.5, scores[rows, best].astype(np.float32)
