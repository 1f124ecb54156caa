"""A model's mask redrawn at the frame's own pixels by a small network this project trains.

Why: a YOLO-seg mask is decoded from prototypes on a grid 4 to 8 frame pixels
wide, so however well the model is trained its masks round an object's tips off
and sit a pixel or so outside its sides (the flagship's stones: lengths up to
0.86 mm short, areas up to 15 % large at 0.25 mm/px). Measuring from the grey
levels does not help where an object's rim is shaded: the half-level edge is
then not the object's edge. A network that sees the frame's pixels around one
object, with the model's mask as its prior, learns where that kind of object
really ends, the way it was labelled.

The network (:mod:`segflow.tools.refiner_training`) is a three-level U-Net of
63 k weights on a window around each mask (the mask's box grown by
``margin`` px); it runs as ONNX on onnxruntime where that is installed (the
``yolo`` and ``edge`` extras have it: 1.6-1.9x faster than OpenCV on these
windows, with the same logits), else on OpenCV's DNN module, so it needs no
torch and runs on the core install too. Its input is the window's
BGR pixels scaled to -0.5..0.5 and the model's mask as +-1; its output is a
logit per pixel, positive inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import cv2
import numpy as np

MULTIPLE = 4  # the network halves the window twice


@dataclass(frozen=True)
class Window:
    """Where a mask's window lies in the frame (x1, y1 exclusive)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def window(mask: np.ndarray, margin: int) -> Window | None:
    """The mask's box grown by ``margin`` and to a multiple of 4 px, inside the frame; None if it cannot be."""
    h, w = mask.shape
    left, top, width, height = cv2.boundingRect(np.ascontiguousarray(mask, dtype=np.uint8))
    if width == 0 or h < MULTIPLE or w < MULTIPLE:
        return None
    x0, y0 = max(0, left - margin), max(0, top - margin)
    x1, y1 = min(w, left + width + margin), min(h, top + height + margin)
    width, height = -(-(x1 - x0) // MULTIPLE) * MULTIPLE, -(-(y1 - y0) // MULTIPLE) * MULTIPLE
    width, height = min(width, w // MULTIPLE * MULTIPLE), min(height, h // MULTIPLE * MULTIPLE)
    x0, y0 = min(x0, w - width), min(y0, h - height)
    return Window(x0, y0, x0 + width, y0 + height)


def net_input(pixels: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """(N, 4, H, W) float32 from BGR uint8 windows (N, H, W, 3) and their masks (N, H, W)."""
    image = pixels.astype(np.float32).transpose(0, 3, 1, 2) / 255.0 - 0.5
    prior = coarse.astype(np.float32)[:, None] * 2.0 - 1.0
    return np.ascontiguousarray(np.concatenate([image, prior], axis=1))


def keep_overlapping(refined: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """The refined mask's part that overlaps the model's mask most: pieces of neighbours are dropped."""
    count, labels = cv2.connectedComponents(refined.astype(np.uint8), connectivity=8)
    if count <= 2:
        return refined
    overlap = np.bincount(labels[coarse], minlength=count)
    overlap[0] = 0
    return labels == int(np.argmax(overlap))


def length_ends(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The two pixel centres (x, y) of ``mask`` farthest apart: the ends of its length (max Feret)."""
    ys, xs = np.nonzero(mask)
    if len(xs) < 2:
        return None
    hull = cv2.convexHull(np.stack([xs, ys], 1).astype(np.float32))[:, 0]
    apart = ((hull[:, None] - hull[None]) ** 2).sum(-1)
    a, b = np.unravel_index(int(np.argmax(apart)), apart.shape)
    return hull[a], hull[b]


def with_tips(inside: np.ndarray, loose: np.ndarray, radius: float) -> np.ndarray:
    """``inside`` plus the pixels of ``loose`` within ``radius`` of either end of its length.

    Why: where a stone's end is dark, nearly the belt's grey, the refiner is less sure
    of it than of the stone's sides, and its logits there fall below 0 a pixel or so
    early: lengths read short (the flagship's stones by 0.2-0.9 mm) while areas are
    right. A lower threshold over the whole mask would fix the lengths and inflate
    the areas (7 of 58 stones beyond 5 %); taken at the two ends only, it moves
    little area (assets/models/coffee-stones-refine.md).
    """
    ends = length_ends(inside)
    if ends is None:
        return inside
    ys, xs = np.nonzero(loose & ~inside)
    near = np.zeros(len(xs), bool)
    for x, y in ends:
        near |= (xs - x) ** 2 + (ys - y) ** 2 <= radius**2
    out = inside.copy()
    out[ys[near], xs[near]] = True
    return out


@dataclass(frozen=True)
class Refined:
    """A refined mask (frame-sized), or the model's own with the reason it was kept."""

    mask: np.ndarray
    refused: str | None = None  # why the model's mask was kept; None when refined


Runtime = Literal["auto", "onnxruntime", "opencv"]
RUNTIMES = get_args(Runtime)


def onnxruntime_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


class MaskRefiner:
    """The trained network, loaded from its ONNX file on onnxruntime or OpenCV's DNN module.

    ``runtime``: ``auto`` (onnxruntime when installed, else OpenCV), or either by name. One
    thread: the node runs in a worker of its own beside the detector, and a window is small.
    ``tip_logit`` (below 0): near the two ends of each mask's length (``tip_radius_px``),
    pixels count as the object from this logit (:func:`with_tips`).
    """

    def __init__(self, path: Path, margin: int = 12, min_iou: float = 0.5, runtime: str = "auto",
                 tip_logit: float | None = None, tip_radius_px: float = 2.0) -> None:
        self.tip_logit, self.tip_radius_px = tip_logit, tip_radius_px
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
        if runtime == "auto":
            runtime = "onnxruntime" if onnxruntime_installed() else "opencv"
        self.runtime = runtime
        self.margin, self.min_iou = margin, min_iou
        if runtime == "onnxruntime":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            options.log_severity_level = 3  # its warnings about unused initialisers are not the user's business
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            self.input_name = self.session.get_inputs()[0].name
        else:
            self.net = cv2.dnn.readNetFromONNX(str(path))

    def logits(self, pixels: np.ndarray, coarse: np.ndarray) -> np.ndarray:
        """The network's (H, W) logits for one window."""
        x = net_input(pixels[None], coarse[None])
        if self.runtime == "onnxruntime":
            return np.asarray(self.session.run(None, {self.input_name: x})[0])[0, 0]
        self.net.setInput(x)
        return np.asarray(self.net.forward())[0, 0]

    def refine(self, image: np.ndarray, mask: np.ndarray) -> Refined:
        """``mask`` redrawn from ``image`` (BGR uint8, the frame the mask was found in)."""
        where = window(mask, self.margin)
        if where is None:
            return Refined(mask, "empty mask" if not mask.any() else "frame smaller than 4 px")
        coarse = mask[where.slices]
        logits = self.logits(image[where.slices], coarse)
        inside = keep_overlapping(logits > 0, coarse)
        if self.tip_logit is not None and self.tip_logit < 0:
            inside = with_tips(inside, keep_overlapping(logits > self.tip_logit, coarse), self.tip_radius_px)
        union = np.count_nonzero(inside | coarse)
        iou = np.count_nonzero(inside & coarse) / union if union else 0.0
        if iou < self.min_iou:
            return Refined(mask, f"the refined mask overlaps the model's by {iou:.0%} (under {self.min_iou:.0%})")
        out = np.zeros_like(mask, dtype=bool)
        out[where.slices] = inside
        return Refined(out)
