"""detections.consensus and detections.union on masks a pixel off, noisy boxes and disagreeing classes."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import supervision as sv
from antialias import coverage, ellipse

from segflow.nodes.detections.consensus import DetectionsConsensus
from segflow.nodes.detections.union import DetectionsUnion
from segflow.vision.box_merge import merge_boxes

SHAPE = (120, 160)
# Three objects: (cx, cy, a, b, angle)
OBJECTS = [(40, 40, 18, 10, 20), (110, 45, 14, 14, 0), (80, 95, 25, 9, -30)]


def truth_masks() -> list[np.ndarray]:
    return [coverage(ellipse(*o), SHAPE) >= 0.5 for o in OBJECTS]


def shifted(mask: np.ndarray, dx: int, dy: int = 0) -> np.ndarray:
    return np.roll(np.roll(mask, dx, axis=1), dy, axis=0)


def grown(mask: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def noisy(mask: np.ndarray, seed: int, p: float = 0.35) -> np.ndarray:
    """The mask with each pixel of its one-pixel border band flipped with probability ``p``."""
    import cv2

    kernel = np.ones((3, 3), np.uint8)
    band = cv2.dilate(mask.astype(np.uint8), kernel) != cv2.erode(mask.astype(np.uint8), kernel)
    return mask ^ (band & (np.random.default_rng(seed).random(mask.shape) < p))


def dets(masks, names, confidence, boxes_only=False, noise=0.0, seed=0):
    stack = np.stack(masks).astype(bool)
    xyxy = sv.mask_to_xyxy(stack).astype(float) + np.random.default_rng(seed).normal(0, noise, (len(masks), 4))
    return sv.Detections(xyxy=xyxy, mask=None if boxes_only else stack, confidence=np.asarray(confidence, float),
                         class_id=np.array([{"stone": 0, "bean": 1}.get(n, 2) for n in names]),
                         data={"class_name": np.array(names), "score_a": np.arange(len(masks), dtype=float)})


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def run(make_node, run_packet, params, **inputs):
    return run_packet(make_node(DetectionsConsensus, params), **inputs)


def test_two_of_three_detectors_keep_real_objects_and_the_mask_vote_beats_each_detector(make_node, run_packet):
    t = truth_masks()
    false_alarm = coverage(ellipse(140, 100, 8, 8, 0), SHAPE) >= 0.5
    # Each detector's outline is noisy; the first's is a pixel off to the right as well.
    first = dets([shifted(noisy(m, 1), 1) for m in t] + [false_alarm], ["stone", "stone", "bean", "stone"],
                 [0.9, 0.8, 0.7, 0.6])
    second = dets([noisy(t[0], 2), shifted(noisy(t[2], 2), -1, 1)], ["stone", "bean"], [0.7, 0.5])
    third = dets([noisy(t[0], 3), grown(t[1])], ["stone", "stone"], [0.6, 0.95])
    out = run(make_node, run_packet, {"required_votes": 2, "iou": 0.5},
              first=first, second=second, third=third)
    d = out["detections"]
    assert len(d) == 3  # the false alarm had one vote
    order = [int(np.argmax([iou(d.mask[i], m) for m in t])) for i in range(3)]
    assert sorted(order) == [0, 1, 2]
    assert dict(zip(order, d.data["votes"], strict=True)) == {0: 3, 1: 2, 2: 2}
    detectors = dict(zip(order, d.data["detectors"], strict=True))
    assert detectors == {0: "first+second+third", 1: "first+third", 2: "first+second"}
    # Three votes with independent errors: the per-pixel majority is nearer the truth than any one of them.
    k = order.index(0)
    merged = iou(d.mask[k], t[0])
    assert merged > max(iou(first.mask[0], t[0]), iou(second.mask[0], t[0]), iou(third.mask[0], t[0])) + 0.01
    # Two votes: a pixel must be in both masks, so the mask is their common part.
    assert np.array_equal(d.mask[order.index(2)], first.mask[2] & second.mask[1])
    assert d.confidence[k] == pytest.approx(np.mean([0.9, 0.7, 0.6]))
    assert list(d.data["class_name"][[order.index(i) for i in range(3)]]) == ["stone", "stone", "bean"]
    assert out["present"] is True and out["value"]["count"] == 3


@pytest.mark.parametrize(
    ("params", "kept"),
    [
        ({"required_votes": 2, "class_aware": True}, 0),
        ({"required_votes": 2, "class_aware": False}, 1),
        ({"required_votes": 2, "class_aware": False, "classes": ["bean"]}, 0),
        ({"required_votes": 2, "class_aware": False, "classes": [1]}, 0),  # bean's class id
        ({"required_votes": 2, "class_aware": False, "classes": ["stone", 1]}, 1),  # a name and an id mixed
        ({"required_votes": 1, "class_aware": True, "classes": [0]}, 1),
        ({"required_votes": 1, "class_aware": True}, 2),
        ({"required_votes": 2, "class_aware": False, "confidence": 0.9}, 0),
    ],
)
def test_class_awareness_class_filter_and_confidence(make_node, run_packet, params, kept):
    t = truth_masks()[0]
    out = run(make_node, run_packet, params, first=dets([shifted(t, 1)], ["stone"], [0.9]),
              second=dets([t], ["bean"], [0.6]))
    assert len(out["detections"]) == kept


def test_class_by_majority_or_by_the_surest_vote(make_node, run_packet):
    t = truth_masks()[1]
    inputs = {"first": dets([t], ["bean"], [0.95]), "second": dets([shifted(t, 1)], ["stone"], [0.6]),
              "third": dets([shifted(t, -1)], ["stone"], [0.5])}
    majority = run(make_node, run_packet, {"class_aware": False}, **inputs)["detections"]
    surest = run(make_node, run_packet, {"class_aware": False, "class_vote": "most_confident"}, **inputs)["detections"]
    assert (majority.data["class_name"][0], majority.class_id[0]) == ("stone", 0)
    assert (surest.data["class_name"][0], surest.class_id[0]) == ("bean", 1)
    assert majority.data["score_a"][0] == 0  # fields of the most confident vote travel on


@pytest.mark.parametrize(
    ("how", "expected"),
    [("mean", [11, 21, 31, 41]), ("union", [10, 20, 32, 42]), ("intersection", [12, 22, 30, 40]),
     ("largest", [10, 20, 32, 42]), ("smallest", [12, 22, 30, 40])],
)
def test_box_merges(how, expected):
    boxes = np.array([[10, 20, 32, 42], [12, 22, 30, 40]], float)
    assert merge_boxes(boxes, how).tolist() == expected


def test_intersection_of_boxes_that_share_nothing_falls_back_to_the_mean():
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    assert merge_boxes(boxes, "intersection").tolist() == [10, 0, 20, 10]


@pytest.mark.parametrize(("how", "value"), [("mean", 0.7), ("max", 0.9), ("min", 0.5)])
def test_confidence_merges(make_node, run_packet, how, value):
    t = truth_masks()[2]
    out = run(make_node, run_packet, {"confidence_merge": how},
              first=dets([t], ["stone"], [0.9]), second=dets([shifted(t, 1)], ["stone"], [0.5]))
    assert out["detections"].confidence[0] == pytest.approx(value)


def test_a_box_only_detector_votes_with_its_box(make_node, run_packet):
    t = truth_masks()[0]
    boxes = dets([t], ["stone"], [0.8], boxes_only=True, noise=0.8, seed=2)
    out = run(make_node, run_packet, {}, first=dets([shifted(t, 1)], ["stone"], [0.9]), second=boxes)
    d = out["detections"]
    assert len(d) == 1 and d.mask is not None
    x0, y0, x1, y1 = np.round(boxes.xyxy[0]).astype(int)
    inside = np.zeros(SHAPE, bool)
    inside[y0:y1, x0:x1] = True
    assert np.array_equal(d.mask[0], shifted(t, 1) & inside)  # two votes: the mask, cut by the box


@pytest.mark.parametrize(
    ("required_objects", "present"),
    [(None, True), (2, True), (3, False), ({"stone": 1, "bean": 1}, True), ({"stone": 2}, False)],
)
def test_presence(make_node, run_packet, required_objects, present):
    t = truth_masks()
    first = dets([t[0], t[2]], ["stone", "bean"], [0.9, 0.4])
    second = dets([shifted(t[0], 1), shifted(t[2], 1)], ["stone", "bean"], [0.7, 0.6])
    out = run(make_node, run_packet, {"required_objects": required_objects, "presence_confidence": "max"},
              first=first, second=second)
    assert out["present"] is present and out["value"]["present"] is present
    assert out["value"]["per_class"] == {"bean": 1, "stone": 1}
    assert out["value"]["confidence"] == pytest.approx(0.8)
    assert out["value"]["confidence_per_class"] == pytest.approx({"bean": 0.5, "stone": 0.8})


def test_nothing_found_is_nothing_present(make_node, run_packet):
    out = run(make_node, run_packet, {}, first=sv.Detections.empty(), second=sv.Detections.empty())
    assert len(out["detections"]) == 0 and "class_name" in out["detections"].data
    assert out["present"] is False and out["value"]["confidence"] is None


@pytest.mark.parametrize(
    "params",
    [{"required_votes": 0}, {"required_votes": 5}, {"iou": 0}, {"box_merge": "median"}, {"required_objects": 0},
     {"required_objects": {"stone": 0}}, {"required_objects": {}}, {"classes": []}, {"classes": [1.5]},
     {"classes": [True]}, {"classes": [-1]}],
)
def test_bad_params(params):
    with pytest.raises(pydantic.ValidationError):
        DetectionsConsensus.Params(**params)


WORKFLOW = """version: 1
name: t
nodes:
  cam: {type: source.test_pattern, params: {frames: 1}}
  a: {type: detect.threshold, inputs: {image: cam.image}}
  b: {type: detect.threshold, params: {channel: s}, inputs: {image: cam.image}}
  vote:
    type: detections.consensus
    params: {required_votes: 3}
    inputs: {first: a.detections, second: b.detections}
  log: {type: sink.jsonl, params: {path: /dev/null, only_when: "votes >= 2"}, inputs: {detections: vote.detections}}
"""


def test_more_votes_than_detectors_is_refused_at_the_param():
    from segflow.engine.workflow.validate import validate_text

    [issue] = [i for i in validate_text(WORKFLOW, "wf.yaml").issues if i.is_error]
    assert issue.node == "vote" and "only 2 detectors" in issue.message
    assert (issue.location.line, issue.location.col) == (9, WORKFLOW.splitlines()[8].index("required_votes") + 1)
    assert "third" in issue.hint
    fixed = WORKFLOW.replace("required_votes: 3", "required_votes: 2")
    assert [i.format() for i in validate_text(fixed, "wf.yaml").issues if i.is_error] == []


# -- detections.union ----------------------------------------------------------------------------------
def test_union_box_and_mask_of_a_noisy_set(make_node, run_packet):
    t = truth_masks()
    found = dets([shifted(m, 1) for m in t], ["stone", "stone", "bean"], [0.9, 0.5, 0.7], noise=0.6, seed=4)
    found.tracker_id = np.array([4, 5, 6])
    out = run_packet(make_node(DetectionsUnion, {}), detections=found)["detections"]
    assert len(out) == 1 and out.tracker_id is None
    assert out.xyxy[0].tolist() == pytest.approx([*found.xyxy[:, :2].min(axis=0), *found.xyxy[:, 2:].max(axis=0)])
    assert np.array_equal(out.mask[0], np.any([shifted(m, 1) for m in t], axis=0))
    assert (out.data["union_count"][0], out.data["class_name"][0]) == (3, "stone")
    assert out.confidence[0] == pytest.approx(0.5)
    assert out.data["score_a"][0] == 0  # the most confident member's fields


def test_union_per_class_and_named(make_node, run_packet):
    t = truth_masks()
    found = dets(t, ["stone", "stone", "bean"], [0.9, 0.5, 0.7], boxes_only=True)
    out = run_packet(make_node(DetectionsUnion, {"per_class": True, "class_name": "pile", "confidence_merge": "max"}),
                     detections=found)["detections"]
    assert list(out.data["union_count"]) == [1, 2] and list(out.data["class_name"]) == ["pile", "pile"]
    assert out.confidence.tolist() == pytest.approx([0.7, 0.9]) and out.mask is None
    empty = run_packet(make_node(DetectionsUnion, {}), detections=sv.Detections.empty())["detections"]
    assert empty.xyxy.shape == (0, 4)


def test_a_tracked_input_beside_an_untracked_one_without_confidence(make_node, run_packet):
    t = truth_masks()[0]
    tracked = dets([t], ["stone"], [0.9])
    tracked.tracker_id = np.array([12])
    bare = dets([shifted(t, 1)], ["stone"], [0.0])
    bare.confidence, bare.class_id = None, None
    d = run(make_node, run_packet, {"class_aware": False}, first=tracked, second=bare)["detections"]
    assert len(d) == 1 and d.tracker_id is None and d.confidence[0] == pytest.approx(0.95)


def test_a_tie_of_classes_goes_to_the_surest_vote(make_node, run_packet):
    t = truth_masks()[1]
    inputs = {"first": dets([t], ["pebble"], [0.5]), "second": dets([shifted(t, 1)], ["stone"], [0.6]),
              "third": dets([shifted(t, -1)], ["bean"], [0.9]), "fourth": dets([shifted(t, 1, 1)], ["stone"], [0.55])}
    two_each = {**inputs, "first": dets([t], ["bean"], [0.5])}  # bean 2 (0.9, 0.5), stone 2 (0.6, 0.55)
    assert run(make_node, run_packet, {"class_aware": False}, **inputs)["detections"].data["class_name"][0] == "stone"
    assert run(make_node, run_packet, {"class_aware": False}, **two_each)["detections"].data["class_name"][0] == "bean"
