"""Image classification without torch: an exported ultralytics classifier on the edge runtime.

The preprocessing is ultralytics' own classify transform, redone with Pillow
and numpy so an ``.onnx`` gives the probabilities its ``.pt`` gives: resize
the short side to ``imgsz`` with Pillow's bilinear filter (which is what
torchvision's ``Resize`` calls on a PIL image, antialiasing included; the long
side is truncated, as torchvision does), centre-crop ``imgsz`` x ``imgsz``
(offsets rounded as torchvision's ``CenterCrop``), BGR to RGB, scale to 0..1.
An exported classifier already ends in a softmax, so its output is the
probabilities.

Both runtimes give rows of probabilities; the node turns each into a
:class:`~segflow.engine.crops.Classification`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from segflow.vision.yolo_boxes import to_tensor
from segflow.vision.yolo_onnx import ModelInfo, open_graph, run_graph


def classify_input(image: np.ndarray, size: int) -> np.ndarray:
    """A BGR uint8 image as the classifier sees it: short side to ``size``, centre ``size`` x ``size``."""
    from PIL import Image

    h, w = image.shape[:2]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_h, new_w) != (h, w):
        resized = Image.fromarray(np.ascontiguousarray(image)).resize((new_w, new_h), Image.Resampling.BILINEAR)
        image = np.asarray(resized)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    return image[top : top + size, left : left + size]


class EdgeClassifier:
    """An exported ultralytics classifier on onnxruntime or OpenVINO."""

    def __init__(self, path: Path, runtime: str, device: str, half: bool) -> None:
        self.graph = open_graph(path, runtime, device, half)
        self.info = ModelInfo.read(self.graph.metadata, self.graph.input_shape, self.graph.output_shapes)
        self.names = self.info.names
        self.task = self.info.task
        self.imgsz = self.trained_size(self.graph.metadata) or self.info.input_size[0] or 224

    @staticmethod
    def trained_size(metadata: dict[str, str]) -> int | None:
        """The input size ultralytics wrote into the export (``imgsz: [h, w]``), or None."""
        try:
            size = ast.literal_eval(metadata.get("imgsz", "None"))
        except (ValueError, SyntaxError):
            return None
        return int(size[0]) if isinstance(size, (list, tuple)) and size else None

    def probabilities(self, images: list[np.ndarray], imgsz: int) -> np.ndarray:
        """(N, classes) probabilities for BGR uint8 images of any sizes, in one graph call where it can."""
        fixed = self.info.input_size[0]
        tensor = to_tensor([classify_input(image, fixed or imgsz) for image in images])
        return run_graph(self.graph, tensor, self.info.batch)[0]
