"""Pre- and post-processing maths of YOLO models, in numpy and OpenCV only (no torch).

The edge runtime runs an exported YOLO graph itself; this module is everything
around the graph: the letterbox that fits a frame into the model's input, the
confidence filter and class-aware NMS on the raw output, and boxes scaled back
to the frame. It follows ultralytics' own steps (``LetterBox``,
``non_max_suppression``, ``scale_boxes``) rounding for rounding, so the same
weights give the same detections through either runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # ultralytics pads letterboxed frames with mid grey
CLASS_OFFSET = 7680  # boxes of different classes are moved this far apart so NMS never merges them
MAX_NMS = 30_000  # most candidates that go into NMS, the surest first


@dataclass(frozen=True)
class Letterbox:
    """Where a frame of ``frame`` size sits inside the model input of ``size`` (both (h, w))."""

    frame: tuple[int, int]
    size: tuple[int, int]
    content: tuple[int, int]  # the resized frame, (h, w)
    top: int
    left: int

    @classmethod
    def fit(cls, frame: tuple[int, int], target: tuple[int, int], stride: int = 32, rect: bool = False) -> Letterbox:
        """Scale ``frame`` to fit ``target`` keeping its aspect; ``rect`` shrinks the padding to a stride multiple.

        ``rect`` is for models with a dynamic input size (ultralytics' ``auto``): a
        640x480 frame then goes in as 320x256 instead of 320x320.
        """
        h, w = frame
        gain = min(target[0] / h, target[1] / w)
        content = (max(round(h * gain), 1), max(round(w * gain), 1))
        dh, dw = target[0] - content[0], target[1] - content[1]
        if rect:
            dh, dw = dh % stride, dw % stride
        top, left = round(dh / 2 - 0.1), round(dw / 2 - 0.1)
        size = (content[0] + top + round(dh / 2 + 0.1), content[1] + left + round(dw / 2 + 0.1))
        return cls(frame, size, content, top, left)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The letterboxed image: resized (bilinear) and padded with grey."""
        if image.shape[:2] != self.content:
            image = cv2.resize(image, self.content[::-1], interpolation=cv2.INTER_LINEAR)
        bottom = self.size[0] - self.content[0] - self.top
        right = self.size[1] - self.content[1] - self.left
        return cv2.copyMakeBorder(image, self.top, bottom, self.left, right, cv2.BORDER_CONSTANT,
                                  value=(PAD_VALUE,) * 3)

    def boxes_to_frame(self, boxes: np.ndarray) -> np.ndarray:
        """Input-space xyxy boxes -> frame pixels, clipped to the frame (a new array)."""
        gain_y, gain_x = self.content[0] / self.frame[0], self.content[1] / self.frame[1]
        out = np.array(boxes, dtype=np.float32, copy=True)
        out[:, [0, 2]] = ((out[:, [0, 2]] - self.left) / gain_x).clip(0, self.frame[1])
        out[:, [1, 3]] = ((out[:, [1, 3]] - self.top) / gain_y).clip(0, self.frame[0])
        return out


def to_tensor(images: list[np.ndarray]) -> np.ndarray:
    """Letterboxed BGR uint8 frames -> one float32 NCHW RGB batch scaled to 0..1, as YOLO exports expect."""
    batch = np.stack(images)[..., ::-1].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32) / np.float32(255)


@dataclass(frozen=True)
class Candidates:
    """What survives the confidence filter and NMS for one image, in model-input pixels."""

    xyxy: np.ndarray  # (N, 4) float32
    confidence: np.ndarray  # (N,) float32
    class_id: np.ndarray  # (N,) int
    coefficients: np.ndarray  # (N, extra) mask coefficients (extra = 0 for detection models)

    def __len__(self) -> int:
        return len(self.confidence)

    def take(self, keep: np.ndarray) -> Candidates:
        return Candidates(self.xyxy[keep], self.confidence[keep], self.class_id[keep], self.coefficients[keep])


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    half = boxes[:, 2:4] / 2
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)


def select(
    prediction: np.ndarray,
    classes: int,
    confidence: float,
    iou: float,
    max_det: int,
    keep_classes: list[int] | None = None,
) -> Candidates:
    """One image's raw head output ``(4 + classes + extra, anchors)`` -> the detections it keeps.

    Each anchor takes its best class; anchors above ``confidence`` (strictly, as
    ultralytics) of the wanted classes go through class-aware NMS, the surest first.
    """
    scores_all = prediction[4 : 4 + classes]
    class_id = scores_all.argmax(axis=0)
    scores = scores_all[class_id, np.arange(prediction.shape[1])]
    keep = scores > confidence
    if keep_classes is not None:
        keep &= np.isin(class_id, keep_classes)
    rows = prediction[:, keep].T
    scores, class_id = scores[keep], class_id[keep]
    order = np.argsort(-scores, kind="stable")[:MAX_NMS]
    rows, scores, class_id = rows[order], scores[order], class_id[order]
    xyxy = xywh_to_xyxy(rows[:, :4])
    kept = nms(xyxy + (class_id * CLASS_OFFSET)[:, None], iou)[:max_det]
    return Candidates(
        xyxy[kept].astype(np.float32),
        scores[kept].astype(np.float32),
        class_id[kept].astype(int),
        rows[kept, 4 + classes :].astype(np.float32),
    )


def nms(boxes: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression over boxes sorted surest first: indices of the boxes kept.

    A box is dropped when it overlaps a kept one by more than ``iou`` (as torchvision's ``nms``).
    """
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    alive = np.ones(len(boxes), dtype=bool)
    kept: list[int] = []
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        kept.append(i)
        rest = np.nonzero(alive[i + 1 :])[0] + i + 1
        if rest.size == 0:
            break
        w = (np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])).clip(0)
        h = (np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])).clip(0)
        inter = w * h
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, np.finfo(np.float32).tiny)
        alive[rest[overlap > iou]] = False
    return np.asarray(kept, dtype=int)
