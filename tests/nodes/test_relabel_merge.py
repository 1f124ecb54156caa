"""relabel.detections and merge.detections; reference-object scale with no model at all."""

from __future__ import annotations

import math

import numpy as np
import pydantic
import pytest
import supervision as sv
from antialias import bar, coverage, ellipse, grey

from segflow.engine import NodeError
from segflow.nodes.detections.merge import MergeDetections
from segflow.nodes.detections.relabel import RelabelDetections
from segflow.nodes.measure.masks import MeasureMasks
from segflow.nodes.models.threshold import ThresholdDetector

SHAPE = (300, 400)


def boxes(xyxy, names, confidence=None, **data):
    n = len(xyxy)
    return sv.Detections(
        xyxy=np.array(xyxy, float),
        confidence=np.array(confidence if confidence is not None else [0.9] * n, float),
        class_id=np.zeros(n, int),
        data={"class_name": np.array(names), **{k: np.array(v) for k, v in data.items()}},
    )


def test_rules_name_by_field_and_position_first_match_wins(make_node, run_packet):
    dets = boxes(
        [[10, 10, 50, 50], [300, 200, 340, 240], [100, 100, 110, 110], [200, 20, 240, 60]],
        ["object"] * 4,
        circularity=[0.98, 0.97, 0.4, 0.99],
        colour_name=["orange", "gray", "gray", "blue"],
    )
    rules = [
        {
            "class_name": "coin",
            "when": "circularity > 0.95",
            "polygon": [[0, 0], [100, 0], [100, 100], [0, 100]],
            "class_id": 7,
        },
        {"class_name": "washer", "when": "circularity > 0.95 and colour_name != 'blue'"},
        {"class_name": "tag", "when": "cx > 150 and box_width >= 40"},
    ]
    out = run_packet(make_node(RelabelDetections, {"rules": rules, "otherwise": "part"}), detections=dets)["detections"]
    assert list(out.data["class_name"]) == ["coin", "washer", "part", "tag"]
    assert list(out.class_id) == [7, 0, 0, 0]
    assert list(dets.data["class_name"]) == ["object"] * 4  # the input is not modified


def test_without_otherwise_unmatched_keep_their_name(make_node, run_packet):
    dets = boxes([[0, 0, 4, 4], [0, 0, 40, 40]], ["stone", "stone"])
    node = make_node(RelabelDetections, {"rules": [{"class_name": "big", "when": "box_width > 10"}]})
    assert list(run_packet(node, detections=dets)["detections"].data["class_name"]) == ["stone", "big"]


@pytest.mark.parametrize(
    "rule",
    [
        {"class_name": "coin", "when": "circularity >"},
        {"class_name": "coin", "when": "x == 1", "polygon": [[0, 0], [1, 1]]},
        {"class_name": "", "when": "x > 1"},
    ],
)
def test_bad_rules_fail_validation(rule):
    with pytest.raises(pydantic.ValidationError):
        RelabelDetections.Params(rules=[rule])


def test_a_rule_on_a_missing_field_names_the_fix(make_node, run_packet):
    node = make_node(RelabelDetections, {"rules": [{"class_name": "coin", "when": "circularity > 0.9"}]})
    with pytest.raises(NodeError, match="'circularity'") as err:
        run_packet(node, detections=boxes([[0, 0, 4, 4]], ["x"]))
    assert "measure.masks" in err.value.hint


def test_merge_fills_missing_fields_and_tags_the_detector(make_node, run_packet):
    a = boxes([[0, 0, 10, 10]], ["stone"], area_mm2=[4.0])
    b = boxes([[50, 50, 60, 60], [70, 70, 80, 80]], ["coin", "coin"], colour_name=["orange", "brown"])
    out = run_packet(make_node(MergeDetections), first=a, second=b, third=sv.Detections.empty())["detections"]
    assert list(out.data["class_name"]) == ["stone", "coin", "coin"]
    assert list(out.data["detector"]) == ["first", "second", "second"]
    assert out.data["area_mm2"][0] == 4.0 and np.isnan(out.data["area_mm2"][1:]).all()
    assert list(out.data["colour_name"]) == ["", "orange", "brown"]


def test_merge_best_keeps_the_more_confident_of_an_object_found_twice(make_node, run_packet):
    a = boxes([[0, 0, 10, 10], [30, 30, 40, 40]], ["stone", "stone"], confidence=[0.6, 0.9])
    b = boxes([[1, 0, 11, 10]], ["pebble"], confidence=[0.8])
    out = run_packet(make_node(MergeDetections, {"overlap": "best", "iou": 0.5}), first=a, second=b)["detections"]
    assert sorted(out.data["class_name"]) == ["pebble", "stone"]
    assert sorted(out.confidence.tolist()) == [0.8, 0.9]


def test_merge_all_empty_and_mixed_masks(make_node, run_packet):
    node = make_node(MergeDetections)
    assert len(run_packet(node, first=sv.Detections.empty(), second=sv.Detections.empty())["detections"]) == 0
    masked = boxes([[0, 0, 2, 2]], ["a"])
    masked.mask = np.ones((1, 4, 4), bool)
    with pytest.raises(NodeError, match="boxes only"):
        run_packet(node, first=masked, second=boxes([[0, 0, 2, 2]], ["b"]))


def test_reference_scale_weight_free_within_1_percent(make_node, run_packet):
    """detect.threshold -> relabel (the coin is the blob in the top-right corner) -> measure by reference."""
    mm_per_px = 0.2
    coin_mm = 23.25
    s = 1 / mm_per_px
    cover = np.maximum.reduce(
        [
            coverage(ellipse(330.4, 60.7, coin_mm * s / 2, coin_mm * s / 2, 0), SHAPE),
            coverage(bar(140.3, 120.2, 40 * s, 4 * s, 23), SHAPE),
            coverage(ellipse(150.6, 240.1, 12 * s, 4 * s, -8), SHAPE),
        ]
    )
    picture = grey(cover)
    image = np.repeat(picture[..., None], 3, axis=2)
    found = run_packet(make_node(ThresholdDetector, {"method": "otsu", "min_area": 50}), image=image)["detections"]
    assert len(found) == 3
    corner = [[260, 0], [400, 0], [400, 130], [260, 130]]
    named = run_packet(
        make_node(RelabelDetections, {"rules": [{"class_name": "coin", "polygon": corner}], "otherwise": "part"}),
        detections=found,
    )["detections"]
    scale = {"mode": "reference", "class_name": "coin", "size_mm": coin_mm, "dimension": "circle_diameter"}
    out = run_packet(make_node(MeasureMasks, {"scale": scale}), detections=named, image=image)["detections"]
    bar_i = next(i for i, n in enumerate(out.data["class_name"]) if n == "part" and out.data["length_mm"][i] > 30)
    ell_i = next(i for i, n in enumerate(out.data["class_name"]) if n == "part" and i != bar_i)
    assert out.data["mm_per_px"][0] == pytest.approx(mm_per_px, rel=0.01)
    assert out.data["length_mm"][bar_i] == pytest.approx(40, rel=0.01)
    assert out.data["width_mm"][bar_i] == pytest.approx(4, rel=0.01)
    assert out.data["length_mm"][ell_i] == pytest.approx(24, rel=0.01)
    assert out.data["width_mm"][ell_i] == pytest.approx(8, rel=0.01)
    assert out.data["area_mm2"][ell_i] == pytest.approx(math.pi * 12 * 4, rel=0.01)


def test_empty_frames_flow_through_both(make_node, run_packet):
    relabel = make_node(RelabelDetections, {"rules": [{"class_name": "coin", "when": "circularity > 0.9"}]})
    assert len(run_packet(relabel, detections=sv.Detections.empty())["detections"]) == 0
    merged = run_packet(make_node(MergeDetections), first=sv.Detections.empty(), second=boxes([[0, 0, 4, 4]], ["a"]))
    assert list(merged["detections"].data["detector"]) == ["second"]
