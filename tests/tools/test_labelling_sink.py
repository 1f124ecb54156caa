"""sink.dataset: which frames it keeps, that it respects its bounds, and what it writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import supervision as sv

from segflow.engine.frame import Frame, PacketInfo
from segflow.engine.node import Inputs, RunContext
from segflow.nodes.sinks.dataset import DatasetSink
from segflow.vision.outline_fill import exact_polygon_mask
from segflow.vision.yolo_dataset import YoloSegDataset

H, W = 60, 80


def detections(confidences: list[float], tracked: bool = False) -> sv.Detections:
    masks = np.zeros((len(confidences), H, W), bool)
    boxes = []
    for i in range(len(confidences)):
        x = 5 + 20 * i
        masks[i, 10:30, x:x + 15] = True
        boxes.append([x, 10, x + 14, 29])
    return sv.Detections(
        xyxy=np.array(boxes, float).reshape(-1, 4), mask=masks if len(confidences) else None,
        confidence=np.array(confidences, float), class_id=np.zeros(len(confidences), int),
        tracker_id=np.arange(len(confidences)) if tracked else None,
        data={"class_name": np.array(["stone"] * len(confidences))})


def make(tmp_path: Path, **params) -> DatasetSink:
    node = DatasetSink("collect", DatasetSink.Params(**params), RunContext(workflow_name="wf", base_dir=tmp_path))
    node.setup()
    return node


def feed(node, index: int, dets, tracks=None, fps: float = 10.0):
    image = np.full((H, W, 3), index % 255, np.uint8)
    values = {"image": Frame(image, "cam", index, index / fps), "detections": dets}
    if tracks is not None:
        values["tracks"] = tracks
    node.process(Inputs(values, PacketInfo("cam", index, index / fps, "wf")))


def collected(tmp_path: Path, folder: str = "datasets/wf") -> list[dict]:
    path = tmp_path / folder / "collected" / "reasons.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_keeps_low_confidence_frames_with_their_prelabels(tmp_path: Path):
    node = make(tmp_path, low_confidence=0.5, cooldown_s=0)
    for i in range(6):
        feed(node, i, detections([0.9, 0.3] if i in (1, 4) else [0.9, 0.8]))
    node.close()
    rows = collected(tmp_path)
    assert [r["index"] for r in rows] == [1, 4]
    assert rows[0]["why"] == ["low confidence 0.30"]
    ds = YoloSegDataset(tmp_path / "datasets/wf")
    assert ds.names() == ["stone"] and len(ds.collected()) == 2
    pixels, labels = ds.load_collected(ds.collected()[0])
    assert pixels.shape == (H, W, 3) and len(labels) == 2
    truth = detections([0.9, 0.3]).mask
    for label, mask in zip(labels, truth, strict=True):  # the masks' pixel outlines: filled back exactly
        assert (exact_polygon_mask((H, W), [label.polygon.reshape(-1)]).astype(bool) ^ mask).sum() == 0


def test_a_tracker_that_disagrees_marks_a_frame(tmp_path: Path):
    node = make(tmp_path, low_confidence=0, cooldown_s=0)
    feed(node, 0, detections([0.9, 0.9]), tracks=detections([0.9, 0.9], tracked=True))  # agree
    feed(node, 1, detections([0.9, 0.9]), tracks=detections([0.9], tracked=True))  # one unconfirmed
    feed(node, 2, detections([0.9]))  # no tracker wired on this frame, no other reason
    node.close()
    assert [(r["index"], r["why"]) for r in collected(tmp_path)] == [(1, ["tracker counts 1, detector 2"])]


def test_bounds_max_frames_and_cooldown(tmp_path: Path):
    node = make(tmp_path, sample_rate=1.0, cooldown_s=1.0, max_frames=3, seed=1)
    for i in range(100):  # 10 s of video at 10 fps, every frame "hard"
        feed(node, i, detections([0.2]))
    node.close()
    rows = collected(tmp_path)
    assert [r["index"] for r in rows] == [0, 10, 20]  # one per second, then the inbox is full
    again = make(tmp_path, sample_rate=1.0, cooldown_s=0, max_frames=4)  # frames already there count
    for i in range(100, 110):
        feed(again, i, detections([0.2]))
    again.close()
    assert len(YoloSegDataset(tmp_path / "datasets/wf").collected()) == 4


def test_a_busy_writer_skips_frames_instead_of_blocking(tmp_path: Path, monkeypatch):
    import threading

    node = make(tmp_path, sample_rate=1.0, cooldown_s=0, queue_size=2, max_frames=1000)
    gate = threading.Event()
    original = node.dataset.add_collected

    def slow(*args, **kwargs):
        gate.wait(timeout=30)
        original(*args, **kwargs)

    monkeypatch.setattr(node.dataset, "add_collected", slow)
    for i in range(20):  # returns at once although the writer is stuck
        feed(node, i, detections([0.9]))
    assert node.skipped_full >= 17
    gate.set()
    node.close()
    assert 1 <= len(collected(tmp_path)) <= 3


def test_a_frame_that_is_not_hard_starts_no_cooldown(tmp_path: Path):
    node = make(tmp_path, low_confidence=0.5, cooldown_s=1.0)
    for i, confidences in enumerate([[0.9], [0.3], [0.2], [0.9]] + [[0.9]] * 6 + [[0.1]]):
        feed(node, i, detections(confidences))  # 10 fps: frame 10 is 0.9 s after frame 1
    feed(node, 11, detections([0.1]))  # 1.0 s after frame 1: the cooldown is over
    node.close()
    assert [r["index"] for r in collected(tmp_path)] == [1, 11]  # frame 0 (easy) started nothing


def test_the_shared_gate_options_work_on_the_dataset_sink(tmp_path: Path):
    node = make(tmp_path, sample_rate=1.0, cooldown_s=0, every_n_frames=2, only_when="count >= 2")
    for i in range(8):
        feed(node, i, detections([0.9] * (2 if i in (2, 3, 4, 7) else 1)))
    node.close()
    assert [r["index"] for r in collected(tmp_path)] == [2, 4]  # even frames, with two detections


WORKFLOW = """version: 1
name: wf
nodes:
  cam: {type: source.test_pattern, params: {frames: 1}}
  det: {type: detect.threshold, inputs: {image: cam.image}}
  collect:
    type: sink.dataset
    params: PARAMS
    inputs: {image: cam.image, detections: det.detections}
"""


def test_min_interval_s_is_the_old_name_of_cooldown_s(tmp_path: Path):
    from segflow.engine.workflow.validate import validate_text

    old = DatasetSink.Params(min_interval_s=2.5)
    assert old.cooldown_s == 2.5
    issues = validate_text(WORKFLOW.replace("PARAMS", "{min_interval_s: 2.5}"), str(tmp_path / "wf.yaml")).issues
    assert [i.is_error for i in issues if i.node == "collect"] == [False]
    warning = next(i for i in issues if i.node == "collect")
    assert "now cooldown_s" in warning.message and "0.3.0" in warning.message and warning.location.line == 8
    both = validate_text(WORKFLOW.replace("PARAMS", "{min_interval_s: 2, cooldown_s: 1}"), str(tmp_path / "wf.yaml"))
    assert [i.message for i in both.issues if i.is_error and "cooldown_s only" in i.message]
