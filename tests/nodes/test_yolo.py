"""detect.yolo: real loading of random-weight models (.pt and ONNX) on real photos.

The models are built from ultralytics' configs and saved to files here (no
download), so YOLO(path) runs exactly as with official weights; the boxes mean
nothing, but shapes, fields, batching and error paths are the real ones.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydantic
import pytest
import supervision as sv
from conftest_models import bus_image, coco_names, random_yolo
from skimage import data

from segflow.engine import Frame, Inputs, NodeError, PacketInfo
from segflow.engine.node import RunContext
from segflow.nodes.models.yolo import Yolo
from segflow.vision.ultralytics_refs import UnknownClass, is_hub_name, resolve_classes

FAST = {"imgsz": 320, "max_det": 20, "confidence": 0.5}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Iterator[dict[str, Path]]:
    folder = tmp_path_factory.mktemp("yolo")
    yield {
        "seg": random_yolo("yolov8n-seg.yaml", folder / "seg.pt"),
        "det": random_yolo("yolov8n.yaml", folder / "det.pt"),
    }
    shutil.rmtree(folder, ignore_errors=True)  # the suite's disk: see tmp_path_retention_policy


def make_node(model: Path | str, base: Path | None = None, **params) -> Yolo:
    ctx = RunContext(workflow_name="t", base_dir=base or Path.cwd())
    node = Yolo("detect", Yolo.Params(model=str(model), **{**FAST, **params}), ctx)
    node.setup()
    return node


def packet(pixels: np.ndarray, index: int, source: str = "cam") -> Inputs:
    return Inputs({"image": Frame(pixels, source, index, index / 30)}, PacketInfo(source, index, 0.0))


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    bus = bus_image(405)  # 405x540
    coffee = data.coffee()[:, :, ::-1].copy()  # 400x600 BGR: another size
    return [bus, bus[:, ::-1].copy(), coffee]


def check_detections(det: sv.Detections, shape: tuple[int, ...], masks: bool) -> None:
    h, w = shape[:2]
    assert isinstance(det, sv.Detections) and 0 < len(det) <= FAST["max_det"]
    assert det.xyxy.dtype.kind == "f" and det.xyxy.shape == (len(det), 4)
    assert np.all(det.xyxy >= -1) and np.all(det.xyxy[:, [0, 2]] <= w + 1)
    assert np.all(det.xyxy[:, [1, 3]] <= h + 1)
    assert np.all(det.confidence >= FAST["confidence"]) and np.all(det.confidence <= 1)
    names = coco_names()
    assert list(det.data["class_name"]) == [names[c] for c in det.class_id]
    if masks:
        assert det.mask.shape == (len(det), h, w) and det.mask.dtype == bool
        assert det.mask.any(), "the masks are not all empty"
        for mask, (x0, y0, x1, y1) in zip(det.mask, det.xyxy, strict=True):
            ys, xs = np.nonzero(mask)  # ultralytics crops each mask to its box
            assert np.all((xs >= x0 - 2) & (xs <= x1 + 2) & (ys >= y0 - 2) & (ys <= y1 + 2))
    else:
        assert det.mask is None


@pytest.mark.parametrize("kind", ["seg", "det"])
def test_batch_of_real_images(models, images, kind):
    node = make_node(models[kind], batch_size=4)
    outputs = node.process_batch([packet(img, i) for i, img in enumerate(images)])
    assert len(outputs) == 3
    for out, img in zip(outputs, images, strict=True):
        check_detections(out["detections"], img.shape, masks=kind == "seg")
    node.close()


def test_batched_equals_one_at_a_time_with_one_call_per_shape(models, images):
    node = make_node(models["seg"], batch_size=4)
    calls = []
    predict = node.model.predict
    node.model.predict = lambda imgs, **kw: calls.append(len(imgs)) or predict(imgs, **kw)
    batched = [o["detections"] for o in node.process_batch([packet(m, i) for i, m in enumerate(images)])]
    assert sorted(calls) == [1, 2], "the two bus frames share one call, the coffee frame gets its own"
    single = [node.process(packet(m, i))["detections"] for i, m in enumerate(images)]
    for b, s in zip(batched, single, strict=True):
        assert len(b) == len(s)
        np.testing.assert_allclose(b.xyxy, s.xyxy, atol=0.5)
        np.testing.assert_array_equal(b.class_id, s.class_id)
        np.testing.assert_allclose(b.confidence, s.confidence, atol=1e-4)
        assert np.mean(b.mask != s.mask) < 1e-3


def test_onnx_export_runs_through_the_node(models, images, tmp_path):
    from ultralytics import YOLO

    onnx = Path(YOLO(str(models["seg"])).export(format="onnx", imgsz=320, verbose=False))
    assert onnx.suffix == ".onnx" and onnx.exists()
    node = make_node(onnx, max_det=300)  # no cut-off: near-tied scores cannot swap boxes
    assert node.model.task == "segment"
    # square frames: the static ONNX graph and torch then see the same 320x320 input
    squares = [images[0][:405], images[1][-405:], images[2][:, 100:500].copy()]
    outputs = node.process_batch([packet(m, i) for i, m in enumerate(squares)])
    torch_node = make_node(models["seg"], max_det=300)
    reference = torch_node.process_batch([packet(m, i) for i, m in enumerate(squares)])
    for out, ref, img in zip(outputs, reference, squares, strict=True):
        det = out["detections"]
        check_detections(det[:20], img.shape, masks=True)
        # same weights, another runtime: the same boxes to within float noise (near-tied
        # scores may list them in another order)
        assert len(det) == len(ref["detections"])
        gaps = np.abs(det.xyxy[:, None, :] - ref["detections"].xyxy[None, :, :]).max(axis=2)
        assert gaps.min(axis=1).max() < 1.0 and gaps.min(axis=0).max() < 1.0


def test_classes_by_name_and_id(models, images):
    frames = [packet(m, i) for i, m in enumerate(images)]
    strict = {"max_det": 5000}  # more than the 2100 anchors at 320 px: nothing is cut off
    everything = make_node(models["det"], **strict).process_batch(frames)
    names, counts = np.unique(everything[0]["detections"].data["class_name"], return_counts=True)
    first, second = names[np.argsort(counts)[-2:]]  # two classes the random model does report
    second_id = {v: k for k, v in coco_names().items()}[second]
    node = make_node(models["det"], **strict, classes=[first, second_id, str(second_id)])
    assert len(node.class_ids) == 2
    for out, full in zip(node.process_batch(frames), everything, strict=True):
        det, full = out["detections"], full["detections"]
        keep = np.isin(full.data["class_name"], [first, second])
        assert set(det.data["class_name"]) <= {first, second}
        # per-class NMS: filtering before it equals filtering its output
        assert len(det) == keep.sum()
        np.testing.assert_allclose(np.sort(det.xyxy, axis=0), np.sort(full.xyxy[keep], axis=0), atol=1e-3)
    assert len(everything[0]["detections"]) > len(node.process(frames[0])["detections"]) > 0


def test_unknown_class_name_is_a_clear_error(models):
    with pytest.raises(NodeError, match=r"node 'detect': the model has no class 'buss' \(did you mean 'bus'"):
        make_node(models["det"], classes=["buss"])


def test_frame_without_detections_gives_empty_detections(models):
    node = make_node(models["seg"], confidence=1.0)
    det = node.process(packet(np.zeros((64, 80, 3), np.uint8), 0))["detections"]
    assert len(det) == 0 and det.xyxy.shape == (0, 4)
    assert det.data["class_name"].shape == (0,)


def test_grey_and_bgra_frames_are_accepted(models, images):
    node = make_node(models["det"])
    grey = images[0][:, :, 1].copy()
    bgra = np.dstack([images[0], np.full(grey.shape, 255, np.uint8)])
    for pixels in (grey, bgra):
        check_detections(node.process(packet(pixels, 0))["detections"], pixels.shape, masks=False)


@pytest.mark.parametrize(
    ("config", "word"),
    [
        ("yolov8n-cls.yaml", "image classifier"),
        ("yolov8n-pose.yaml", "pose"),
        ("yolov8n-obb.yaml", "oriented"),
    ],
)
def test_wrong_kind_of_model_names_node_and_task(tmp_path, config, word):
    from ultralytics import YOLO

    path = tmp_path / config.replace(".yaml", ".pt")
    YOLO(config).save(str(path))
    with pytest.raises(NodeError, match=rf"node 'detect' \(detect.yolo\): .*{word}") as info:
        make_node(path)
    assert "segmentation" in str(info.value) and info.value.hint


def test_corrupt_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(NodeError, match="cannot load YOLO model .*broken.pt"):
        make_node(bad)


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        ("seg.pt", None),
        ("yolo11n-seg.pt", None),  # ultralytics downloads it where there is internet
        ("yolov8s.pt", None),
        ("rtdetr-l.pt", None),
        ("openvino_model", None),  # an export folder
        ("missing.pt", "missing.pt does not exist"),
        ("models/yolo11n-seg.pt", "models/yolo11n-seg.pt does not exist"),  # a path, not a name
        ("best.onnx", "best.onnx does not exist"),
    ],
)
def test_check_params(tmp_path, model, problem):
    (tmp_path / "seg.pt").write_bytes(b"PK\x03\x04 a zip archive, as torch.save writes")
    (tmp_path / "openvino_model").mkdir()
    (tmp_path / "openvino_model" / "model.xml").write_text("<net/>")
    found = Yolo.check_params(Yolo.Params(model=model), RunContext(base_dir=tmp_path))
    problems = [p for p in found if not p.warning]  # an unpinned .pt is a warning (test_unpinned_models.py)
    if problem is None:
        assert problems == []
    else:
        assert [p.field for p in problems] == ["model"]
        assert str(tmp_path / problem.split()[0]) in problems[0].message
        assert problem in problems[0].message
        assert ("segflow export" if model.endswith(".onnx") else "yolo11n-seg.pt") in problems[0].hint


@pytest.mark.parametrize(
    ("params", "ok"),
    [
        ({}, True),
        ({"device": "cuda:0", "half": True, "batch_size": 8}, True),
        ({"device": "cpu", "classes": ["bus", 3]}, True),
        ({"device": "gpu"}, False),
        ({"confidence": 1.5}, False),
        ({"imgsz": 0}, False),
        ({"colour": "red"}, False),
    ],
)
def test_params(params, ok):
    if ok:
        assert Yolo.Params(model="m.pt", **params).model == "m.pt"
    else:
        with pytest.raises(pydantic.ValidationError):
            Yolo.Params(model="m.pt", **params)


NAMES = {0: "person", 1: "bicycle", 2: "car", 5: "bus"}


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (None, None),
        (["bus"], [5]),
        (["Bus", "car"], [5, 2]),
        ([0, "2", "person"], [0, 2]),
        (["bicycel"], "did you mean 'bicycle'"),
        (["truck"], "its classes: person, bicycle, car, bus"),
        ([9], "out of range"),
    ],
)
def test_resolve_classes(wanted, expected):
    if isinstance(expected, str):
        with pytest.raises(UnknownClass, match=expected):
            resolve_classes(wanted, NAMES)
    else:
        assert resolve_classes(wanted, NAMES) == expected


@pytest.mark.parametrize(
    ("name", "hub"),
    [("yolo11n-seg.pt", True), ("yolov8x.pt", True), ("yolo26n.pt", True), ("sam2.1_b.pt", True),
     ("best.pt", False), ("runs/yolo11n.pt", False), ("yolo11n.onnx", False)],
)  # fmt: skip
def test_is_hub_name(name, hub):
    assert is_hub_name(name) is hub


def test_call_time_params_change_without_reloading_the_model(models, images):
    node = make_node(models["seg"], confidence=0.5, iou=0.7)
    loaded = node.model
    assert node.update_params(Yolo.Params(model=str(models["seg"]), confidence=0.01, iou=0.5, classes=[0]))
    assert node.model is loaded  # the weights stay in memory
    assert node.predict_args["conf"] == 0.01 and node.predict_args["iou"] == 0.5 and node.class_ids == [0]
    assert not node.update_params(Yolo.Params(model=str(models["det"]), confidence=0.01))  # new weights: setup
