"""The edge runtime's pre- and post-processing maths on hand-made arrays (no model, no onnxruntime)."""

from __future__ import annotations

import numpy as np
import pytest

from segflow.vision.yolo_boxes import Letterbox, nms, select, to_tensor, xywh_to_xyxy
from segflow.vision.yolo_masks import (
    crop_to_boxes,
    input_masks_to_frame,
    positive_after_resize,
    resize_each,
    retina_masks,
)
from segflow.vision.yolo_onnx import ModelInfo, choose_runtime, runtime_problem


@pytest.mark.parametrize(
    ("frame", "target", "rect", "size", "content", "top", "left"),
    [
        ((480, 640), (320, 320), False, (320, 320), (240, 320), 40, 0),
        ((480, 640), (320, 320), True, (256, 320), (240, 320), 8, 0),  # padding cut to a stride multiple
        ((640, 480), (320, 320), False, (320, 320), (320, 240), 0, 40),
        ((405, 540), (320, 320), False, (320, 320), (240, 320), 40, 0),
        ((101, 100), (64, 64), False, (64, 64), (64, 63), 0, 0),  # odd padding: the extra pixel goes right
        ((10, 3000), (320, 320), False, (320, 320), (1, 320), 159, 0),  # thin frames keep a pixel; 159 above, 160 below
    ],
)
def test_letterbox_geometry(frame, target, rect, size, content, top, left):
    box = Letterbox.fit(frame, target, rect=rect)
    assert (box.size, box.content, box.top, box.left) == (size, content, top, left)
    image = np.full((*frame, 3), 7, np.uint8)
    out = box.apply(image)
    assert out.shape == (*size, 3)
    assert (out[top : top + content[0], left : left + content[1]] == 7).all()
    assert (out == 114).sum() == 3 * (size[0] * size[1] - content[0] * content[1])


@pytest.mark.parametrize("rect", [False, True])
@pytest.mark.parametrize("frame", [(480, 640), (405, 540), (101, 100), (333, 777), (1080, 1920)])
def test_letterbox_equals_ultralytics(frame, rect):
    augment = pytest.importorskip("ultralytics.data.augment")
    image = np.random.default_rng(1).integers(0, 255, (*frame, 3), dtype=np.uint8)
    expected = augment.LetterBox((320, 320), auto=rect, stride=32)(image=image)
    np.testing.assert_array_equal(Letterbox.fit(frame, (320, 320), rect=rect).apply(image), expected)


def test_boxes_go_back_to_the_frame_and_are_clipped():
    box = Letterbox.fit((480, 640), (320, 320))
    boxes = np.array([[0, 40, 320, 280], [10, 50, 20, 60], [-5, 0, 330, 400]], np.float32)
    np.testing.assert_allclose(box.boxes_to_frame(boxes), [[0, 0, 640, 480], [20, 20, 40, 40], [0, 0, 640, 480]])


def test_to_tensor_is_rgb_nchw_in_unit_range():
    bgr = np.zeros((2, 4, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    tensor = to_tensor([bgr, bgr])
    assert tensor.shape == (2, 3, 2, 4) and tensor.dtype == np.float32
    assert (tensor[:, 2] == 1).all() and (tensor[:, :2] == 0).all()


@pytest.mark.parametrize(
    ("boxes", "iou", "kept"),
    [
        ([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], 0.5, [0, 2]),  # IoU 0.68 merges
        ([[0, 0, 10, 10], [1, 1, 11, 11]], 0.7, [0, 1]),  # below the threshold both stay
        ([[0, 0, 10, 10], [5, 0, 15, 10]], 1 / 3, [0, 1]),  # exactly at it: kept (strictly above drops)
        ([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], 0.9, [0]),
        ([[0, 0, 10, 10], [8, 0, 18, 10], [16, 0, 26, 10]], 0.1, [0, 2]),  # a dropped box drops nothing
        ([[0, 0, 0, 0], [0, 0, 0, 0]], 0.5, [0, 1]),  # empty boxes overlap nothing
        (np.zeros((0, 4)), 0.5, []),
    ],
)
def test_nms(boxes, iou, kept):
    assert nms(np.asarray(boxes, np.float32), iou).tolist() == kept


def head_output(rows: list[tuple[float, float, float, float, list[float], list[float]]]) -> np.ndarray:
    """A (4 + classes + extra, anchors) array like the YOLO head's, from (cx, cy, w, h, scores, coeffs) rows."""
    return np.array([[*xywh, *scores, *extra] for *xywh, scores, extra in rows], np.float32).T


def test_select_best_class_threshold_nms_per_class_and_max_det():
    output = head_output([
        (50, 50, 20, 20, [0.9, 0.1], [1.0]),
        (51, 51, 20, 20, [0.8, 0.0], [2.0]),  # same class, overlaps the first: suppressed
        (51, 50, 20, 20, [0.0, 0.85], [3.0]),  # overlaps too, but another class: kept
        (200, 200, 10, 10, [0.3, 0.2], [4.0]),  # below confidence
        (300, 300, 10, 10, [0.5, 0.4], [5.0]),
        (400, 400, 10, 10, [0.35, 0.0], [6.0]),  # exactly at confidence: dropped (strictly above)
    ])
    found = select(output, classes=2, confidence=0.35, iou=0.5, max_det=300)
    assert found.confidence.tolist() == pytest.approx([0.9, 0.85, 0.5])
    assert found.class_id.tolist() == [0, 1, 0]
    assert found.coefficients[:, 0].tolist() == [1.0, 3.0, 5.0]
    np.testing.assert_allclose(found.xyxy[0], [40, 40, 60, 60])
    assert len(select(output, 2, 0.35, 0.5, max_det=2)) == 2
    only = select(output, 2, 0.35, 0.5, 300, keep_classes=[1])
    assert only.class_id.tolist() == [1] and only.coefficients[:, 0].tolist() == [3.0]
    assert len(select(output, 2, 0.95, 0.5, 300)) == 0


def test_xywh_to_xyxy():
    np.testing.assert_allclose(xywh_to_xyxy(np.array([[10, 20, 4, 6]], float)), [[8, 17, 12, 23]])


def test_crop_to_boxes_keeps_pixels_inside_each_box_only():
    masks = np.ones((2, 6, 8), bool)
    crop_to_boxes(masks, np.array([[1, 2, 4, 5], [0.5, 0, 8, 1.5]], np.float32))
    assert masks[0].sum() == 3 * 3 and masks[0, 2:5, 1:4].all()
    assert masks[1].sum() == 7 * 2 and masks[1, 0:2, 1:8].all()  # x >= 0.5 starts at pixel 1


def test_resizing_masks_is_opencv_bilinear_per_mask():
    import cv2

    masks = np.random.default_rng(0).normal(size=(300, 5, 7)).astype(np.float32)  # more than OpenCV's channel cap
    out = resize_each(masks, (10, 14))
    assert out.shape == (300, 10, 14)
    for i in (0, 151, 299):
        np.testing.assert_array_equal(out[i], cv2.resize(masks[i], (14, 10), interpolation=cv2.INTER_LINEAR))
    positive = positive_after_resize(masks[:, 1:, 1:], (10, 14))  # a non-contiguous view, as the letterbox crop
    assert positive.dtype == bool
    np.testing.assert_array_equal(positive[7], cv2.resize(np.ascontiguousarray(masks[7, 1:, 1:]), (14, 10)) > 0)


def test_retina_masks_follow_the_prototypes_into_the_frame():
    """One prototype that is positive on the left half of the letterbox content: the mask is the frame's left half."""
    protos = np.full((1, 80, 80), -1.0, np.float32)
    protos[0, 10:70, :40] = 1.0  # content rows 10..70 of a 640x480 frame letterboxed to 320x320 (/4)
    frame_boxes = np.array([[0, 0, 640, 480], [0, 0, 100, 100]], np.float32)
    masks = retina_masks(protos, np.array([[1.0], [1.0]], np.float32), frame_boxes, (480, 640))
    assert masks.shape == (2, 480, 640) and masks.dtype == bool
    assert masks[0, :, :316].all() and not masks[0, :, 324:].any()
    assert masks[1].sum() == 100 * 100  # cut to its box
    assert retina_masks(protos, np.zeros((0, 1), np.float32), np.zeros((0, 4)), (480, 640)).shape == (0, 480, 640)


def test_input_masks_lose_the_letterbox_padding_on_the_way_to_the_frame():
    box = Letterbox.fit((480, 640), (320, 320))
    masks = np.zeros((1, 320, 320), bool)
    masks[0, 40:280, 160:] = True  # the right half of the content
    out = input_masks_to_frame(masks, box)
    assert out.shape == (1, 480, 640)
    assert out[0, :, 322:].all() and not out[0, :, :318].any()


@pytest.mark.parametrize(
    ("model", "runtime", "present", "chosen", "problem"),
    [
        ("m.onnx", "auto", {"onnxruntime"}, "onnxruntime", None),
        ("m.ONNX", "auto", {"onnxruntime", "openvino"}, "openvino", None),
        ("m.pt", "auto", {"onnxruntime", "ultralytics"}, "ultralytics", None),
        ("openvino_model", "auto", {"ultralytics"}, "ultralytics", None),
        ("m.onnx", "ultralytics", {"ultralytics", "onnxruntime"}, "ultralytics", None),
        ("m.pt", "auto", {"onnxruntime"}, "ultralytics", "needs the 'ultralytics' package"),
        ("m.onnx", "auto", set(), "onnxruntime", "runtime 'onnxruntime' (chosen by runtime: auto) needs"),
        ("m.onnx", "openvino", {"onnxruntime"}, "openvino", "needs the 'openvino' package"),
        ("m.pt", "onnxruntime", {"onnxruntime"}, "onnxruntime", "runs .onnx files only, not m.pt"),
    ],
)
def test_runtime_choice(model, runtime, present, chosen, problem):
    assert choose_runtime(model, runtime, present.__contains__) == chosen
    found = runtime_problem(model, runtime, present.__contains__)
    assert (found is None) if problem is None else (problem in found)


def test_model_info_from_metadata_and_shapes():
    meta = {"names": "{0: 'stone', 1: 'bean'}", "task": "segment", "stride": "32", "end2end": "False",
            "args": "{'nms': None, 'dynamic': True}"}
    info = ModelInfo.read(meta, ["batch", 3, "height", "width"], [["batch", 38, "anchors"], ["batch", 32, "h", "w"]])
    assert info == ModelInfo({0: "stone", 1: "bean"}, "segment", 32, (None, None), None, False)
    # no metadata (a graph exported by other means): classes counted from the head, task from the outputs
    bare = ModelInfo.read({}, [1, 3, 640, 640], [[1, 84, 8400]])
    assert bare.names == {i: str(i) for i in range(80)} and bare.task == "detect" and bare.batch == 1
    # metadata is data: a string that is not a Python literal is ignored, never run
    hostile = ModelInfo.read({"names": "__import__('os').system('false')"}, [1, 3, 64, 64], [[1, 6, 84]])
    assert hostile.names == {0: "0", 1: "1"}
    nms_inside = ModelInfo.read({"args": "{'nms': True}"}, [1, 3, 64, 64], [[1, 300, 38], [1, 32, 16, 16]])
    assert nms_inside.end2end and nms_inside.task == "segment"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_select_equals_ultralytics_non_max_suppression(seed):
    """Random head outputs with many overlapping boxes of three classes: the same rows as ultralytics keeps."""
    torch = pytest.importorskip("torch")
    ultralytics_nms = pytest.importorskip("ultralytics.utils.nms")
    rng = np.random.default_rng(seed)
    anchors = 400
    xywh = np.concatenate([rng.uniform(0, 320, (anchors, 2)), rng.uniform(5, 60, (anchors, 2))], axis=1)
    output = np.concatenate([xywh.T, rng.random((3, anchors)) ** 3, rng.normal(size=(32, anchors))]).astype(np.float32)
    for classes in (None, [0, 2]):
        found = select(output, 3, 0.25, 0.45, 50, classes)
        (expected,) = ultralytics_nms.non_max_suppression(torch.from_numpy(output[None]), 0.25, 0.45, classes,
                                                          max_det=50, nc=3)
        expected = expected.numpy()
        assert len(found) == len(expected) > 10
        np.testing.assert_allclose(found.xyxy, expected[:, :4], atol=1e-4)
        np.testing.assert_allclose(found.confidence, expected[:, 4], atol=1e-6)
        np.testing.assert_array_equal(found.class_id, expected[:, 5].astype(int))
        np.testing.assert_allclose(found.coefficients, expected[:, 6:], atol=1e-5)
