"""segflow.vision.box_merge: the one union of boxes and masks, and the nodes that unite detections using it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import supervision as sv

from segflow.engine.crops import Crop, Crops
from segflow.engine.frame import Frame
from segflow.nodes.crops.stitch import CropStitch
from segflow.nodes.detections.union import DetectionsUnion
from segflow.vision.box_merge import mask_overlap, overlap, union_box, unite


def disc(shape: tuple[int, int], cx: float, cy: float, r: float) -> np.ndarray:
    ys, xs = np.mgrid[: shape[0], : shape[1]]
    return (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= r * r


@pytest.mark.parametrize(
    ("a", "b", "match", "expected"),
    [
        ([0, 0, 10, 10], [5, 0, 15, 10], "iou", 50 / 150),
        ([0, 0, 10, 10], [5, 0, 15, 10], "ios", 0.5),
        ([0, 0, 10, 10], [2, 2, 4, 4], "ios", 1.0),  # a part inside the whole: ios says one object
        ([0, 0, 10, 10], [2, 2, 4, 4], "iou", 4 / 100),
        ([0, 0, 10, 10], [10, 0, 20, 10], "iou", 0.0),  # touching is not overlapping
        ([0, 0, 0, 10], [0, 0, 0, 10], "iou", 0.0),  # empty boxes
    ],
)
def test_box_overlap(a, b, match, expected):
    assert overlap(np.array(a, float), np.array(b, float), match) == pytest.approx(expected)


def test_mask_overlap_counts_pixels():
    a, b = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    a[:, :2], b[:, 1:] = True, True  # 8 and 12 pixels, 4 shared
    assert mask_overlap(a, b, "ios") == pytest.approx(4 / 8)
    assert mask_overlap(a, b, "iou") == pytest.approx(4 / 16)
    assert mask_overlap(a, ~a, "iou") == 0.0


def test_union_box_holds_every_box():
    boxes = np.array([[10, 20, 32, 42], [12, 5, 30, 40], [0, 22, 31, 41]], float)
    assert union_box(boxes).tolist() == [0, 5, 32, 42]
    assert union_box(boxes[1]).tolist() == [12, 5, 30, 40]


def test_unite_per_group_boxes_and_masks():
    shape = (40, 60)
    masks = np.stack([disc(shape, 15, 20, 8), disc(shape, 25, 20, 8), disc(shape, 50, 10, 5)])
    xyxy = np.array([[7, 12, 23, 28], [17, 12, 33, 28], [45, 5, 55, 15]], np.float32)
    boxes, united = unite(xyxy, masks, [[0, 1], [2]])
    assert boxes.dtype == np.float32 and boxes.tolist() == [[7, 12, 33, 28], [45, 5, 55, 15]]
    assert np.array_equal(united[0], masks[0] | masks[1]) and np.array_equal(united[1], masks[2])
    boxes, united = unite(xyxy, None, [[2, 0]])
    assert united is None and boxes.tolist() == [[7, 5, 55, 28]]
    boxes, united = unite(xyxy, masks, [])
    assert boxes.shape == (0, 4) and united.shape == (0, *shape)


def two_halves(shape=(60, 80)) -> tuple[sv.Detections, np.ndarray]:
    """One disc seen as two overlapping detections (as a tile border cuts it), each with part of the mask."""
    whole = disc(shape, 40, 30, 12)
    left, right = whole.copy(), whole.copy()
    left[:, 44:], right[:, :36] = False, False
    xyxy = np.array([[28, 18, 44, 42], [36, 18, 52, 42]], np.float32)
    found = sv.Detections(xyxy=xyxy, mask=np.stack([left, right]), confidence=np.array([0.9, 0.6], np.float32),
                          class_id=np.array([0, 0]), data={"class_name": np.array(["stone", "stone"])})
    return found, whole


def test_detections_union_is_the_shared_union(make_node, run_packet):
    found, whole = two_halves()
    out = run_packet(make_node(DetectionsUnion, {}), detections=found)["detections"]
    boxes, masks = unite(found.xyxy, found.mask, [[0, 1]])
    assert out.xyxy.tolist() == boxes.tolist() == [[28, 18, 52, 42]]
    assert np.array_equal(out.mask, masks) and np.array_equal(out.mask[0], whole)


def test_crop_stitch_union_is_the_shared_union(make_node, run_packet):
    """Two tiles each finding half of one disc: crop.stitch (merge: union) gives what detections.union gives."""
    found, whole = two_halves()
    pixels = np.zeros((*whole.shape, 3), np.uint8)
    items = []
    for i, (x0, y0, x1, y1) in enumerate([(0, 0, 44, 60), (36, 0, 80, 60)]):
        part = found[[i]]
        local = dataclasses.replace(part, xyxy=part.xyxy - np.array([x0, y0, x0, y0], np.float32),
                                    mask=part.mask[:, y0:y1, x0:x1])
        items.append(Crop(pixels[y0:y1, x0:x1], (x0, y0, x1, y1), result=local))
    crops = Crops(Frame(pixels, "cam", 0, 0.0), tuple(items))
    stitched = run_packet(make_node(CropStitch, {"merge": "union"}), crops=crops)["detections"]
    united = run_packet(make_node(DetectionsUnion, {}), detections=found)["detections"]
    assert len(stitched) == 1
    assert stitched.xyxy.tolist() == united.xyxy.tolist()
    assert np.array_equal(stitched.mask, united.mask)
