"""detect.yolo on the edge runtime: the shipped model's ONNX export, run without ultralytics, on the sample video.

The reference is the ultralytics path on the same weights (.pt): same number of
detections per frame, each matched box at IoU >= 0.95, its mask at IoU >= 0.9,
same classes, confidences within 0.08. The .pt path letterboxes 640x480 frames to
320x256 and the fixed export takes 320x320: the network sees 64 more rows of padding,
which moves a stone's confidence a little (up to 0.058 over these 30 frames with the
model's version 2, 0.02 with version 1, on a stone near the frame's edge) — not a rule
the edge runtime gets wrong.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import supervision as sv

from segflow.engine import Frame, Inputs, NodeError, PacketInfo
from segflow.engine.node import RunContext
from segflow.nodes.models.yolo import Yolo

ROOT = Path(__file__).resolve().parents[2]
VIDEO = ROOT / "assets" / "samples" / "conveyor.mp4"
SHIPPED_PT = ROOT / "assets" / "models" / "coffee-stones-seg.pt"
FRAMES = 30  # a second of belt at the video's 15 fps, stones entering and leaving
RUNTIMES = ["onnxruntime", pytest.param("openvino", marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("openvino") is None, reason="openvino is not installed"))]


def make_node(model: Path | str, **params) -> Yolo:
    node = Yolo("detect", Yolo.Params(model=str(model), **{"confidence": 0.35, "imgsz": 320, **params}),
                RunContext(workflow_name="t", base_dir=ROOT))
    node.setup()
    return node


def packet(pixels: np.ndarray, index: int) -> Inputs:
    return Inputs({"image": Frame(pixels, "belt", index, index / 15)}, PacketInfo("belt", index, 0.0))


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(VIDEO))
    out = []
    while len(out) < FRAMES:
        ok, frame = capture.read()
        assert ok, "the sample video has fewer frames than the test reads"
        out.append(frame)
    capture.release()
    return out


_reference: dict[bool, list[sv.Detections]] = {}


def reference(frames: list[np.ndarray], retina: bool) -> list[sv.Detections]:
    """The ultralytics .pt path's detections (computed once per module and mask mode)."""
    if retina not in _reference:
        pytest.importorskip("ultralytics")
        node = make_node(SHIPPED_PT, retina_masks=retina)
        _reference[retina] = [node.process(packet(f, i))["detections"] for i, f in enumerate(frames)]
    return _reference[retina]


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def assert_same_detections(found: list[sv.Detections], expected: list[sv.Detections]) -> None:
    assert sum(len(d) for d in expected) >= len(expected), "the reference found stones at all"
    for index, (got, want) in enumerate(zip(found, expected, strict=True)):
        assert len(got) == len(want), f"frame {index}"
        if len(want) == 0:
            continue
        ious = sv.box_iou_batch(want.xyxy, got.xyxy)
        match = ious.argmax(axis=1)
        assert len(set(match.tolist())) == len(want), f"frame {index}: two boxes matched one"
        assert ious.max(axis=1).min() >= 0.95, f"frame {index}"
        np.testing.assert_array_equal(got.class_id[match], want.class_id)
        assert list(got.data["class_name"][match]) == list(want.data["class_name"])
        np.testing.assert_allclose(got.confidence[match], want.confidence, atol=0.08)  # padding: see above
        assert got.mask.shape == want.mask.shape and got.mask.dtype == bool
        for k, j in enumerate(match):
            assert mask_iou(got.mask[j], want.mask[k]) >= 0.9, f"frame {index}, stone {k}"


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("retina", [True, False], ids=["retina", "input-size-masks"])
def test_same_detections_as_ultralytics_on_the_video(shipped_onnx, frames, runtime, retina):
    node = make_node(shipped_onnx, runtime=runtime, retina_masks=retina)
    assert node.runtime == runtime and node.model.names == {0: "stone"} and node.model.task == "segment"
    found = [node.process(packet(f, i))["detections"] for i, f in enumerate(frames)]
    assert_same_detections(found, reference(frames, retina))


def test_auto_picks_the_edge_runtime_for_onnx(shipped_onnx):
    import importlib.util

    node = make_node(shipped_onnx)
    assert node.runtime == ("openvino" if importlib.util.find_spec("openvino") else "onnxruntime")
    assert type(node.model).__module__ == "segflow.vision.yolo_onnx"


def test_a_dynamic_export_takes_the_whole_batch_in_one_call(shipped_onnx_dynamic, frames):
    node = make_node(shipped_onnx_dynamic, runtime="onnxruntime", retina_masks=True, batch_size=8)
    assert node.model.info.batch is None and node.model.info.input_size == (None, None)
    graph, calls = node.model.graph, []
    node.model.graph = lambda batch: calls.append(batch.shape) or graph(batch)
    batched = [o["detections"] for o in node.process_batch([packet(f, i) for i, f in enumerate(frames[:8])])]
    assert calls == [(8, 3, 256, 320)]  # one call; 640x480 letterboxed to 320x256 like the .pt path
    assert_same_detections(batched, reference(frames, True)[:8])


def test_a_fixed_batch_export_loops_over_the_batch(shipped_onnx, frames):
    node = make_node(shipped_onnx, runtime="onnxruntime", retina_masks=True, batch_size=4)
    graph, calls = node.model.graph, []
    node.model.graph = lambda batch: calls.append(batch.shape) or graph(batch)
    batched = [o["detections"] for o in node.process_batch([packet(f, i) for i, f in enumerate(frames[:4])])]
    assert calls == [(1, 3, 320, 320)] * 4
    assert_same_detections(batched, reference(frames, True)[:4])


def test_classes_filter_and_empty_frames(shipped_onnx, frames):
    node = make_node(shipped_onnx, runtime="onnxruntime", classes=["stone"])
    assert len(node.process(packet(frames[5], 5))["detections"]) > 0
    empty = node.process(packet(np.zeros((480, 640, 3), np.uint8), 0))["detections"]
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4) and empty.data["class_name"].shape == (0,)
    with pytest.raises(NodeError, match="the model has no class 'stones' \\(did you mean 'stone'"):
        make_node(shipped_onnx, runtime="onnxruntime", classes=["stones"])


def test_grey_frames_and_other_sizes(shipped_onnx, frames):
    node = make_node(shipped_onnx, runtime="onnxruntime", retina_masks=True)
    grey = cv2.cvtColor(frames[5], cv2.COLOR_BGR2GRAY)
    small = cv2.resize(frames[5], (400, 300))
    outputs = node.process_batch([packet(grey, 0), packet(small, 1)])
    assert outputs[0]["detections"].mask.shape[1:] == (480, 640)
    assert outputs[1]["detections"].mask.shape[1:] == (300, 400)
    assert len(outputs[0]["detections"]) > 0 and len(outputs[1]["detections"]) > 0


def test_a_file_that_is_no_onnx_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(NodeError, match="cannot load YOLO model .*broken.onnx") as info:
        make_node(bad, runtime="onnxruntime")
    assert "segflow export" in info.value.hint


def test_an_unknown_device_is_a_clear_error(shipped_onnx):
    with pytest.raises(NodeError, match="device 'mps' is not available on onnxruntime"):
        make_node(shipped_onnx, runtime="onnxruntime", device="mps")


@pytest.mark.parametrize("device", ["cuda:0", "0"])
def test_a_gpu_without_onnxruntime_gpu_is_a_clear_error(shipped_onnx, device):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed here")
    with pytest.raises(NodeError, match="device 'cuda:0' needs onnxruntime-gpu"):
        make_node(shipped_onnx, runtime="onnxruntime", device=device)


@pytest.mark.parametrize(
    ("config", "nms"),
    [("yolov8n-seg.yaml", True), ("yolov8n.yaml", False)],
    ids=["segmentation-nms-inside", "detection"],
)
def test_other_exports_give_what_ultralytics_gives(tmp_path, config, nms):
    """A detection-only export (no masks), and `nms=True`, which puts NMS in the graph (rows of box, score,
    class, coefficients, read as they are). Random weights, spread mildly: few near-tied scores."""
    ultralytics = pytest.importorskip("ultralytics")
    from conftest_models import bus_image, random_yolo

    weights = random_yolo(config, tmp_path / "model.pt", spread=5.0)
    onnx = ultralytics.YOLO(str(weights)).export(format="onnx", imgsz=320, nms=nms, verbose=False)
    image = bus_image(320)[:320]  # square: both runtimes see the same 320x320 input
    found = {}
    for runtime in ("onnxruntime", "ultralytics"):
        node = make_node(onnx, runtime=runtime, confidence=0.3, retina_masks=True, max_det=100)
        found[runtime] = node.process(packet(image, 0))["detections"]
        assert node.model.task == ("segment" if "seg" in config else "detect")
    edge, reference = found["onnxruntime"], found["ultralytics"]
    assert len(edge) == len(reference) == 100  # the random model is sure of many boxes: max_det cuts
    np.testing.assert_allclose(edge.xyxy, reference.xyxy, atol=1e-3)
    np.testing.assert_allclose(edge.confidence, reference.confidence, atol=1e-5)
    np.testing.assert_array_equal(edge.class_id, reference.class_id)
    if "seg" in config:
        assert reference.mask.any() and np.mean(edge.mask != reference.mask) < 1e-4
    else:
        assert edge.mask is None and reference.mask is None
