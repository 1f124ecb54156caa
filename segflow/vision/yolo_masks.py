"""Instance masks from YOLO-seg outputs (mask prototypes and per-box coefficients), in numpy and OpenCV.

A YOLO-seg graph gives, per image, 32 prototype maps at a quarter of the input
size and 32 coefficients per box; a box's mask is their weighted sum, cut to
the box. Two ways to frame size, as in ultralytics:

- ``retina`` (``retina_masks: true``): the prototype logits are cropped to the
  letterbox content and resized straight to the frame, then cut to the frame
  box: sharp outlines (ultralytics' ``process_mask_native``).
- otherwise the logits are resized to the model input, thresholded and cut to
  the input-space box, then the letterbox content is resized to the frame
  (ultralytics' ``process_mask`` followed by supervision's
  ``extract_ultralytics_masks``): what the ultralytics path gives.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from segflow.vision.yolo_boxes import Letterbox


def resize_each(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, h, w) -> (N, H, W) by bilinear resize, each mask straight into its place in the result."""
    if masks.shape[1:] == size:
        return masks
    out = np.empty((len(masks), *size), dtype=masks.dtype)
    for mask, target in zip(masks, out, strict=True):
        cv2.resize(mask, size[::-1], dst=target, interpolation=cv2.INTER_LINEAR)
    return out


def positive_after_resize(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, h, w) float logits -> boolean (N, H, W): where the bilinear upsampled logit is above 0.

    One frame-sized float buffer is reused, so many masks on a large frame never
    hold N float copies at frame size at once.
    """
    out = np.empty((len(logits), *size), dtype=bool)
    buffer = np.empty(size, dtype=np.float32)
    for logit, target in zip(logits, out, strict=True):
        cv2.resize(np.ascontiguousarray(logit), size[::-1], dst=buffer, interpolation=cv2.INTER_LINEAR)
        np.greater(buffer, 0, out=target)
    return out


def crop_to_boxes(masks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Zero every mask pixel outside its box (pixel index x with x1 <= x < x2), in place."""
    _, h, w = masks.shape
    cols = np.arange(w, dtype=np.float32)[None, None, :]
    rows = np.arange(h, dtype=np.float32)[None, :, None]
    x1, y1, x2, y2 = (boxes[:, i, None, None] for i in range(4))
    masks &= (cols >= x1) & (cols < x2)
    masks &= (rows >= y1) & (rows < y2)
    return masks


def mask_logits(protos: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """(C, mh, mw) prototypes and (N, C) coefficients -> (N, mh, mw) float32 logits."""
    c, mh, mw = protos.shape
    return (coefficients @ protos.reshape(c, -1)).reshape(-1, mh, mw).astype(np.float32)


def retina_masks(protos: np.ndarray, coefficients: np.ndarray, frame_boxes: np.ndarray,
                 frame: tuple[int, int]) -> np.ndarray:
    """Boolean (N, H, W) masks at the frame's size from prototypes, cut to the frame-space boxes."""
    _, mh, mw = protos.shape
    h, w = frame
    if len(coefficients) == 0:
        return np.zeros((0, h, w), dtype=bool)
    logits = mask_logits(protos, coefficients)
    # The smallest upsampling (1, 2 or 4) of the prototypes that puts the letterbox padding on whole pixels.
    gain = min(4 * mh / h, 4 * mw / w)
    pad = (4 * mh - max(round(h * gain), 1)) | (4 * mw - max(round(w * gain), 1))
    factor = 4 // math.gcd(4, pad | pad // 2)
    if factor > 1:
        logits = resize_each(logits, (mh * factor, mw * factor))
    box = Letterbox.fit(frame, logits.shape[1:], rect=False)
    content = logits[:, box.top : box.top + box.content[0], box.left : box.left + box.content[1]]
    masks = positive_after_resize(content, frame) if content.shape[1:] != frame else content > 0
    return crop_to_boxes(masks, frame_boxes)


def input_masks(protos: np.ndarray, coefficients: np.ndarray, input_boxes: np.ndarray,
                box: Letterbox) -> np.ndarray:
    """Boolean (N, h, w) masks at the model input's size, cut to the input-space boxes."""
    if len(coefficients) == 0:
        return np.zeros((0, *box.size), dtype=bool)
    return crop_to_boxes(positive_after_resize(mask_logits(protos, coefficients), box.size), input_boxes)


def input_masks_to_frame(masks: np.ndarray, box: Letterbox) -> np.ndarray:
    """Input-size masks -> frame-size boolean masks: the letterbox content resized (bilinear, 0/1 as uint8)."""
    if masks.shape[1:] == box.frame:
        return masks
    content = masks[:, box.top : box.top + box.content[0], box.left : box.left + box.content[1]]
    return resize_each(np.ascontiguousarray(content, dtype=np.uint8), box.frame) > 0
