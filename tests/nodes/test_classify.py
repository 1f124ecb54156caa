"""classify.yolo: the shipped conveyor classifier on .pt (ultralytics) and .onnx (edge runtime, no torch).

The ONNX file is the shipped .pt exported by `segflow export` (once per session).
Both runtimes must say the same of held-out generated crops: the same top class
for each and probabilities within 1e-4; the preprocessing is checked on its own
against ultralytics' transforms, pixel for pixel.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from segflow.delivery.records import jsonable
from segflow.engine import Frame, Inputs, NodeError, PacketInfo
from segflow.engine.crops import Classification
from segflow.engine.node import RunContext
from segflow.nodes.models.classify import YoloClassifier, top_classes
from segflow.tools.synth.crops import CLASSES, write_crops
from segflow.vision.yolo_classify import classify_input

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "assets" / "models" / "coffee-objects-cls.pt"
SHIPPED_SEG = ROOT / "assets" / "models" / "coffee-stones-seg.pt"
CARD = ROOT / "assets" / "models" / "coffee-objects-cls.summary.json"
HELD_OUT_SEED = 41  # never used to train or to choose the shipped model: its card's test split is seed 0


def make_node(model: Path | str, **params) -> YoloClassifier:
    node = YoloClassifier("kind", YoloClassifier.Params(model=str(model), **params),
                          RunContext(workflow_name="t", base_dir=ROOT))
    node.setup()
    return node


def packet(pixels: np.ndarray, index: int) -> Inputs:
    return Inputs({"image": Frame(pixels, "belt", index, index / 15)}, PacketInfo("belt", index, 0.0))


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> list[tuple[str, np.ndarray]]:
    """Held-out generated crops, 20 per class, with their true class."""
    root = tmp_path_factory.mktemp("crops")
    write_crops(root, {"test": 20}, seed=HELD_OUT_SEED)
    return [(name, cv2.imread(str(p))) for name in CLASSES for p in sorted((root / "test" / name).glob("*.png"))]


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> Path:
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("onnx") / "coffee-objects-cls.onnx"
    res = subprocess.run([sys.executable, "-m", "segflow.engine.cli", "export", str(SHIPPED), "--format", "onnx",
                          "--dynamic", "--out", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    return out


@pytest.mark.parametrize("shape", [(37, 52), (52, 37), (64, 64), (20, 90), (200, 131), (64, 65), (1, 1)])
def test_preprocessing_is_ultralytics_own(shape):
    pytest.importorskip("torchvision")
    from PIL import Image
    from ultralytics.data.augment import classify_transforms

    image = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    host = classify_transforms(64).transforms[:2]  # Resize + CenterCrop, as ultralytics' predictor runs them
    expected = Image.fromarray(image)
    for step in host:
        expected = step(expected)
    assert np.array_equal(classify_input(image, 64), np.asarray(expected))


def test_pt_and_onnx_agree_on_held_out_crops(crops, onnx_file):
    pt, edge = make_node(SHIPPED, batch_size=64, runtime="ultralytics"), make_node(onnx_file, batch_size=64)
    assert edge.runtime == "onnxruntime" and pt.runtime == "ultralytics"
    assert edge.names == pt.names and edge.imgsz == pt.imgsz == 64  # the trained size, from each file
    images = [image for _, image in crops]
    p_pt, p_edge = pt.probabilities(images), edge.probabilities(images)
    assert p_pt.shape == p_edge.shape == (len(images), len(CLASSES))
    assert np.array_equal(p_pt.argmax(1), p_edge.argmax(1))
    assert np.abs(p_pt - p_edge).max() < 1e-4  # measured: 6e-7 on the 450 crops of the card's test split


def test_held_out_accuracy_holds_the_model_cards_promise(crops):
    """The card's held-out top-1 (seed 0) minus a margin for 60 other crops; each class well above chance."""
    card = json.loads(CARD.read_text())["scores"]["test"]
    node = make_node(SHIPPED, batch_size=64)
    said = [c.class_name for c in node.classifications([image for _, image in crops])]
    truth = [name for name, _ in crops]
    accuracy = np.mean([s == t for s, t in zip(said, truth, strict=True)])
    assert accuracy >= card["top1"] - 0.1, (accuracy, card["top1"])
    for name in CLASSES:
        mine = [s == t for s, t in zip(said, truth, strict=True) if t == name]
        assert np.mean(mine) >= 0.6, (name, np.mean(mine))


@pytest.mark.parametrize("runtime", ["ultralytics", "onnxruntime"])
def test_a_batch_gives_what_one_at_a_time_gives(crops, onnx_file, runtime):
    node = make_node(SHIPPED if runtime == "ultralytics" else onnx_file, top_k=2)
    images = [image for _, image in crops[::7]]
    batched = node.process_batch([packet(image, i) for i, image in enumerate(images)])
    for i, image in enumerate(images):
        single = node.process_batch([packet(image, i)])[0]["classification"]
        together = batched[i]["classification"]
        assert isinstance(together, Classification) and len(together.top) == 2
        assert together.class_name == single.class_name and together.top[0][0] == together.class_name
        assert together.confidence == pytest.approx(single.confidence, abs=1e-4)


def test_grey_and_bgra_frames_are_classified():
    node = make_node(SHIPPED)
    grey = np.full((48, 40), 90, np.uint8)
    bgra = np.dstack([np.full((48, 40, 3), 90, np.uint8), np.full((48, 40), 255, np.uint8)])
    out = node.process_batch([packet(grey, 0), packet(bgra, 1)])
    assert out[0]["classification"].class_name == out[1]["classification"].class_name


def test_top_classes_and_its_record():
    result = top_classes(np.array([0.1, 0.7, 0.2]), {0: "bean", 1: "stone", 2: "debris"}, k=2)
    assert result == Classification(1, "stone", pytest.approx(0.7), (("stone", pytest.approx(0.7)),
                                                                       ("debris", pytest.approx(0.2))))
    assert jsonable(result) == {"class_id": 1, "class_name": "stone", "confidence": pytest.approx(0.7),
                                "top": [["stone", pytest.approx(0.7)], ["debris", pytest.approx(0.2)]]}


def test_a_segmentation_model_is_refused_with_the_node_to_use():
    with pytest.raises(NodeError, match="classify.yolo needs an image classifier") as caught:
        make_node(SHIPPED_SEG)
    assert "detect.yolo" in caught.value.hint


def test_detect_yolo_points_a_classifier_to_classify_yolo():
    from segflow.nodes.models.yolo import Yolo

    node = Yolo("detect", Yolo.Params(model=str(SHIPPED)), RunContext(workflow_name="t", base_dir=ROOT))
    with pytest.raises(NodeError, match="image classifier") as caught:
        node.setup()
    assert "classify.yolo" in caught.value.hint


def test_weights_are_checked_before_the_run(tmp_path):
    context = RunContext(workflow_name="t", base_dir=tmp_path)
    missing = YoloClassifier.check_params(YoloClassifier.Params(model="nope-cls.onnx"), context)
    assert [p.field for p in missing] == ["model"] and "segflow export" in missing[0].hint
    wrong_pin = YoloClassifier.check_params(YoloClassifier.Params(model=str(SHIPPED), sha256="0" * 64), context)
    assert [p.field for p in wrong_pin] == ["sha256"] and "refusing to load it" in wrong_pin[0].message
    unpinned = YoloClassifier.check_params(YoloClassifier.Params(model=str(SHIPPED)), context)
    assert [(p.field, p.warning) for p in unpinned] == [("model", True)]


def test_crops_get_their_classification_batched_by_crop_count(crops):
    from segflow.engine.crops import Crop, Crops

    node = make_node(SHIPPED, batch_size=4, top_k=1)
    images = [image for _, image in crops[::6]][:5]
    frame = Frame(np.zeros((480, 640, 3), np.uint8), "belt", 0, 0.0)

    def packet_of(pixels: list[np.ndarray], index: int) -> Inputs:
        items = tuple(Crop(p, (0, 0, p.shape[1], p.shape[0]), parent=i) for i, p in enumerate(pixels))
        return Inputs({"crops": Crops(frame, items)}, PacketInfo("belt", index, 0.0))

    batch = [packet_of(images[:3], 0), packet_of([], 1), packet_of(images[3:], 2)]
    assert [YoloClassifier.batch_items(p) for p in batch] == [3, 0, 2]
    out = node.process_batch(batch)
    assert [set(o) for o in out] == [{"crops"}] * 3
    results = [c.result for o in out for c in o["crops"].items]
    assert len(results) == 5 and all(isinstance(r, Classification) and len(r.top) == 1 for r in results)
    assert [r.class_name for r in results] == [c.class_name for c in node.classifications(images)]
    assert out[0]["crops"].frame is frame and [c.parent for c in out[0]["crops"].items] == [0, 1, 2]


@pytest.mark.parametrize(
    "inputs,message",
    [
        ("{image: cam.image, crops: crop.crops}", "wire exactly one of image or crops"),
        ("{}", "no input is wired"),
        ("{crops: cam.image}", "image"),  # a frame where crops are wanted: the kinds differ
    ],
)
def test_wiring_mistakes_are_located_before_the_run(inputs, message):
    from segflow.engine.api import loads
    from segflow.engine.workflow.issues import WorkflowError

    text = f"""version: 1
name: t
nodes:
  cam: {{type: source.test_pattern, params: {{frames: 1}}}}
  objects: {{type: detect.threshold, inputs: {{image: cam.image}}}}
  crop: {{type: crop.detections, inputs: {{image: cam.image, detections: objects.detections}}}}
  kind:
    type: classify.yolo
    params: {{model: {SHIPPED}}}
    inputs: {inputs}
  log: {{type: sink.stdout, inputs: {{value: kind.classification}}}}
"""
    with pytest.raises(WorkflowError) as caught:
        loads(text, file="t.yaml", base_dir=ROOT)
    located = [str(i.format()) for i in caught.value.issues if i.is_error]
    assert any(line.startswith("t.yaml:") and "'kind'" in line and message in line for line in located), located
