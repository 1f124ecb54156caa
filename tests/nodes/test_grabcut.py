"""segment.grabcut: masks for boxes on rendered scenes with known true masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import supervision as sv

from segflow.engine import NodeError
from segflow.nodes.models.grabcut import GrabCutSegmenter


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def textured_scene(seed=0):
    """Green-gray textured background; an orange textured ellipse and a blue textured disc."""
    rng = np.random.default_rng(seed)
    h, w = 240, 320
    background = np.array([90, 120, 80]) + rng.normal(0, 18, (h, w, 3))
    stripes = (np.sin(np.arange(w) / 4.0) * 20)[None, :, None]
    image = background + stripes
    truths = []
    for centre, axes, colour in [
        ((100, 110), (50, 30), (30, 120, 230)),
        ((240, 150), (35, 35), (200, 90, 40)),
    ]:
        truth = np.zeros((h, w), np.uint8)
        cv2.ellipse(truth, centre, axes, 20, 0, 360, 1, -1)
        truth = truth.astype(bool)
        image[truth] = np.array(colour) + rng.normal(0, 12, (truth.sum(), 3))
        truths.append(truth)
    return np.clip(image, 0, 255).astype(np.uint8), truths


def loose_boxes(truths, pad=15):
    boxes = sv.mask_to_xyxy(np.stack(truths)).astype(float)
    return boxes + np.array([-pad, -pad, pad, pad])


def test_masks_match_the_true_objects(make_node, run_packet):
    image, truths = textured_scene()
    detections = sv.Detections(
        xyxy=loose_boxes(truths),
        confidence=np.array([0.9, 0.8]),
        class_id=np.array([3, 5]),
        tracker_id=np.array([11, 12]),
        data={"class_name": np.array(["bean", "stone"]), "area_mm2": np.array([1.0, 2.0])},
    )
    out = run_packet(make_node(GrabCutSegmenter), image=image, detections=detections)["detections"]
    assert out.mask.shape == (2, *image.shape[:2])
    for mask, truth in zip(out.mask, truths, strict=True):
        assert iou(mask, truth) > 0.8
    # Everything but the masks is kept.
    assert list(out.class_id) == [3, 5] and list(out.tracker_id) == [11, 12]
    assert list(out.data["class_name"]) == ["bean", "stone"]
    assert list(out.data["area_mm2"]) == [1.0, 2.0]
    assert np.array_equal(out.xyxy, detections.xyxy)


def test_a_box_is_not_a_mask(make_node, run_packet):
    # The baseline GrabCut must beat: the filled box itself.
    image, truths = textured_scene(1)
    boxes = loose_boxes(truths)
    box_masks = sv.xyxy_to_mask(boxes, resolution_wh=(image.shape[1], image.shape[0]))
    out = run_packet(
        make_node(GrabCutSegmenter), image=image, detections=sv.Detections(xyxy=boxes)
    )["detections"]
    for mask, box_mask, truth in zip(out.mask, box_masks, truths, strict=True):
        assert iou(box_mask, truth) < 0.7 < 0.8 < iou(mask, truth)


@pytest.mark.parametrize(
    "box",
    [
        [0, 0, 320, 240],  # the whole frame
        [-30, -30, 60, 60],  # beyond the border
        [100, 100, 100.5, 100.5],  # degenerate
        [310, 230, 330, 250],  # a corner sliver
    ],
)
def test_awkward_boxes_give_masks_without_errors(make_node, run_packet, box):
    image, _ = textured_scene()
    detections = sv.Detections(xyxy=np.array([box], float))
    out = run_packet(make_node(GrabCutSegmenter), image=image, detections=detections)
    assert out["detections"].mask.shape == (1, 240, 320)


def test_gray_image_and_empty_detections(make_node, run_packet):
    image, truths = textured_scene()
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    node = make_node(GrabCutSegmenter, {"iterations": 3, "box_padding": 0})
    out = run_packet(node, image=gray, detections=sv.Detections(xyxy=loose_boxes(truths)))
    assert out["detections"].mask.shape == (2, 240, 320)
    empty = run_packet(node, image=image, detections=sv.Detections.empty())["detections"]
    assert len(empty) == 0


def test_float_image_is_a_clear_error(make_node, run_packet):
    image = np.zeros((20, 20, 3), np.float32)
    with pytest.raises(NodeError, match="8-bit"):
        run_packet(
            make_node(GrabCutSegmenter),
            image=image,
            detections=sv.Detections(xyxy=np.array([[2, 2, 10, 10.0]])),
        )


def test_swapping_sam2_for_grabcut_is_a_one_word_change():
    from pathlib import Path

    from segflow.engine.workflow.validate import validate_text

    root = Path(__file__).resolve().parents[2]
    text = (root / "workflows" / "sam_refine.yaml").read_text()
    assert "type: segment.sam2" in text
    result = validate_text(text.replace("type: segment.sam2", "type: segment.grabcut"), "swap.yaml")
    assert result.ok, [i.format() for i in result.issues]
