"""``crop.stitch``: a second model's per-crop results back in frame coordinates.

Two modes, as the crops were cut:

- ``new`` (tiles): every detection of every crop becomes a frame detection, its
  box and mask mapped back exactly (``Crop.to_frame``). An object cut by a tile
  border is found whole in one tile and in part in its neighbour; detections of
  *different* tiles that overlap are merged into one (by box, or by mask where
  both have masks: mask-aware), either keeping the surest (``nms``) or uniting
  them (``union``: one box around both, masks or-ed), so it is one object.
- ``attach`` (crops around detections): each result goes onto its parent
  detection, which keeps its ``tracker_id`` and fields: a classification (or
  the top detection) gives the class and confidence; a mask replaces the
  parent's, inside the parent's box; numeric fields of the result (``sam_score``)
  are added.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from segflow.engine import Inputs, Kind, Node, Params, Port, node_type
from segflow.engine.crops import Classification, Crop, Crops
from segflow.engine.node import ParamProblem
from segflow.vision.box_merge import mask_overlap, overlap, unite


class StitchParams(Params):
    mode: Literal["new", "attach"] = Field(
        "new", description="new: every result is a new frame detection (tiles); attach: results go onto the "
        "detections the crops were cut around (class, confidence, refined mask).")
    merge: Literal["nms", "union", "none"] = Field(
        "union", description="new mode: what to do with overlapping detections of different crops: keep the "
        "surest (nms), unite them into one (union), or keep all (none).")
    match: Literal["ios", "iou"] = Field(
        "ios", description="new mode: overlap measure: intersection over the smaller (ios: a part of an object "
        "cut by a tile border matches the whole) or over the union (iou).")
    threshold: float = Field(0.5, gt=0, le=1, description="new mode: overlap above which two detections are one.")
    class_agnostic: bool = Field(False, description="new mode: merge detections of different classes too.")
    masks: bool = Field(True, description="Map masks back to full-frame masks (off: boxes only, which saves "
                        "memory on very large frames).")
    keep_class: bool = Field(False, description="attach mode: keep the parent's class and confidence (take only "
                             "the mask and fields).")
    drop_unmatched: bool = Field(False, description="attach mode: drop parents whose crop gave no result "
                                 "(a classifier or detector that found nothing), instead of keeping them as they were.")


def crop_mask_to_frame(crop: Crop, masks: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, h, w) masks in crop pixels -> (N, H, W) masks in the frame (letterbox border cut, scale undone)."""
    x0, y0, x1, y1 = crop.box
    w, h = x1 - x0, y1 - y0
    left, top = int(round(crop.pad[0])), int(round(crop.pad[1]))
    cw, ch = max(1, int(round(w * crop.scale[0]))), max(1, int(round(h * crop.scale[1])))
    out = np.zeros((len(masks), height, width), dtype=bool)
    for i, mask in enumerate(masks):
        part = mask[top:top + ch, left:left + cw]
        if part.shape != (h, w):
            part = cv2.resize(part.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
        out[i, y0:y1, x0:x1] = part
    return out


def crop_to_frame(crop: Crop, detections: Any, height: int, width: int, masks: bool) -> Any:
    """A crop's detections (crop pixels) as frame detections: boxes mapped and clipped to the crop's box."""
    import dataclasses

    x0, y0, x1, y1 = crop.box
    xyxy = crop.to_frame(np.asarray(detections.xyxy, dtype=float).reshape(-1, 2)).reshape(-1, 4)
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(x0, x1)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(y0, y1)
    mask = None
    if masks and detections.mask is not None:
        mask = crop_mask_to_frame(crop, detections.mask, height, width)
    return dataclasses.replace(detections, xyxy=xyxy.astype(np.float32), mask=mask)


def merge_groups(detections: Any, origin: np.ndarray, p: StitchParams) -> list[list[int]]:
    """Greedy, surest first: each detection joins the first kept one of another crop it overlaps."""
    n = len(detections)
    confidence = detections.confidence if detections.confidence is not None else np.ones(n)
    classes = detections.class_id if detections.class_id is not None else np.zeros(n, dtype=int)
    groups: list[list[int]] = []
    for i in np.argsort(-confidence, kind="stable"):
        home = None
        for group in groups:
            j = group[0]
            if origin[j] == origin[i] or (not p.class_agnostic and classes[j] != classes[i]):
                continue
            score = overlap(detections.xyxy[i], detections.xyxy[j], p.match)
            if score > 0 and detections.mask is not None:  # mask-aware: the outlines decide
                score = mask_overlap(detections.mask[i], detections.mask[j], p.match)
            if score >= p.threshold:
                home = group
                break
        if home is None:
            groups.append([int(i)])
        else:
            home.append(int(i))
    return groups


@node_type("crop.stitch")
class CropStitch(Node):
    """Map a second model's per-crop results back to the frame: new detections (tiles) or onto their parents."""

    Params = StitchParams
    params: StitchParams
    inputs = {"crops": Port(Kind.CROPS, "Crops with a model's results (the crops output of a model node).")}
    outputs = {"detections": Port(Kind.DETECTIONS, "Frame detections: merged across crops (new) or the parents "
                                  "with the results attached (attach).")}

    @classmethod
    def check_wiring(cls, params: Any, origins: Mapping[str, Port]) -> list[ParamProblem]:
        made = origins.get("crops")
        if params.mode == "attach" and made is not None and "parents" not in made.traits:
            return [ParamProblem("crops", "mode attach puts results onto the detections the crops were cut around, "
                                 "but these crops have no parent detections (tiles)",
                                 "use mode: new for tiles, or cut the crops with crop.detections")]
        return []

    def process(self, inputs: Inputs) -> dict[str, Any]:
        crops: Crops = inputs["crops"]
        if self.params.mode == "attach":
            return {"detections": attach(crops, self.params)}
        return {"detections": stitch_new(crops, self.params)}


def stitch_new(crops: Crops, p: StitchParams) -> Any:
    import supervision as sv

    height, width = crops.frame.pixels.shape[:2]
    parts, origin = [], []
    for index, crop in enumerate(crops.items):
        if isinstance(crop.result, sv.Detections) and len(crop.result):
            parts.append(crop_to_frame(crop, crop.result, height, width, p.masks))
            origin.extend([index] * len(crop.result))
    if not parts:
        empty = sv.Detections.empty()
        empty.data = {"class_name": np.empty(0, dtype=str)}
        return empty
    found = sv.Detections.merge(parts)
    if p.merge == "none" or len(found) < 2:
        return found
    groups = merge_groups(found, np.asarray(origin), p)
    merged = rows(found, np.asarray([group[0] for group in groups]))
    shared = [row for row, group in enumerate(groups) if len(group) > 1]
    if p.merge == "union" and shared:
        boxes, masks = unite(found.xyxy, found.mask, [groups[row] for row in shared])
        merged.xyxy[shared] = boxes
        if merged.mask is not None and masks is not None:
            merged.mask[shared] = masks
    return merged


def rows(detections: Any, index: np.ndarray) -> Any:
    """``detections[index]`` with one copy per field (supervision's own indexing copies full-frame masks twice)."""
    import dataclasses

    def pick(values: Any) -> Any:
        return None if values is None else np.asarray(values)[index]

    return dataclasses.replace(
        detections, xyxy=detections.xyxy[index], mask=pick(detections.mask), confidence=pick(detections.confidence),
        class_id=pick(detections.class_id), tracker_id=pick(detections.tracker_id),
        data={k: pick(v) for k, v in detections.data.items()}, metadata=dict(detections.metadata))


def attach(crops: Crops, p: StitchParams) -> Any:
    """The parent detections, each with its crop's result: class, confidence, mask, numeric fields."""
    import dataclasses

    import supervision as sv

    parents = crops.parents
    n = len(parents)
    height, width = crops.frame.pixels.shape[:2]
    class_id = np.array(parents.class_id if parents.class_id is not None else np.zeros(n, dtype=int))
    confidence = np.array(parents.confidence if parents.confidence is not None else np.ones(n), dtype=np.float32)
    names = list(parents.data.get("class_name", [""] * n))
    mask = None if parents.mask is None else parents.mask.copy()
    data = {k: np.array(v, copy=True) for k, v in parents.data.items()}
    matched = np.zeros(n, dtype=bool)
    for crop in crops.items:
        result, i = crop.result, crop.parent
        if i is None or result is None:
            continue
        if isinstance(result, Classification):
            matched[i] = True
            if not p.keep_class:
                class_id[i], confidence[i], names[i] = result.class_id, result.confidence, result.class_name
            continue
        if not isinstance(result, sv.Detections) or len(result) == 0:
            continue
        matched[i] = True
        top = int(np.argmax(result.confidence)) if result.confidence is not None else 0
        if not p.keep_class:
            if result.class_id is not None:
                class_id[i] = result.class_id[top]
            if result.confidence is not None:
                confidence[i] = result.confidence[top]
            if "class_name" in result.data:
                names[i] = str(result.data["class_name"][top])
        if p.masks and result.mask is not None:
            if mask is None:
                mask = np.zeros((n, height, width), dtype=bool)
            full = crop_mask_to_frame(crop, result.mask[top:top + 1], height, width)[0]
            x0, y0, x1, y1 = np.asarray(parents.xyxy[i]).round().astype(int)  # inside the parent's box
            mask[i] = False
            mask[i, max(0, y0):y1, max(0, x0):x1] = full[max(0, y0):y1, max(0, x0):x1]
        for key, values in result.data.items():
            if key != "class_name" and np.issubdtype(np.asarray(values).dtype, np.number):
                column = data.setdefault(key, np.full(n, np.nan, dtype=np.float32))
                column[i] = values[top]
    data["class_name"] = np.array(names, dtype=object if n else str)
    out = dataclasses.replace(parents, class_id=class_id, confidence=confidence, mask=mask, data=data)
    return rows(out, np.flatnonzero(matched)) if p.drop_unmatched else out
