"""compute.fields: new detection fields from the condition language, checked before the run."""

from __future__ import annotations

import re

import numpy as np
import pydantic
import pytest
import supervision as sv

from segflow.engine.workflow.validate import validate_text
from segflow.nodes.detections.compute import ComputeFields


def boxes() -> sv.Detections:
    return sv.Detections(xyxy=np.array([[0, 0, 10, 20], [50, 40, 54, 49.0]]), class_id=np.array([0, 1]),
                         confidence=np.array([0.9, 0.4]),
                         data={"class_name": np.array(["stone", "bean"]), "length_mm": np.array([3.0, np.nan])})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("box_area / image_area", [200 / 20000, 36 / 20000]),
        ("round(box_area / image_area * 100, 2)", [1.0, 0.18]),
        ("max(box_width, box_height)", [20.0, 9.0]),
        ("min(box_width, box_height, 5)", [5.0, 4.0]),
        ("abs(cx - image_width / 2)", [95.0, 48.0]),
        ("count(class == stone)", [1.0, 1.0]),  # a frame value, the same on each detection
        ("max(confidence)", [0.9, 0.9]),
        ("length_mm * 2", [6.0, np.nan]),  # missing stays missing
        ("max(length_mm, 1)", [3.0, np.nan]),
        ("confidence > 0.5", [True, False]),
    ],
)
def test_values(make_node, run_packet, expression, expected) -> None:
    node = make_node(ComputeFields, {"fields": {"x": expression}})
    out = run_packet(node, detections=boxes(), image=np.zeros((100, 200, 3), np.uint8))["detections"]
    np.testing.assert_allclose(out.data["x"].astype(float), np.array(expected, dtype=float))
    assert out.data["length_mm"][0] == 3.0 and len(out) == 2  # the rest travels unchanged


def test_an_empty_frame_gets_empty_columns(make_node, run_packet) -> None:
    node = make_node(ComputeFields, {"fields": {"ratio": "box_area / image_area", "n": "count()"}})
    out = run_packet(node, detections=sv.Detections.empty(), image=np.zeros((10, 10, 3), np.uint8))["detections"]
    assert out.data["ratio"].shape == (0,) and out.data["n"].shape == (0,)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"class": "1"}, "built-in name"),
        ({"2x": "1"}, "letters, digits"),
        ({"x": ""}, "empty expression"),
        ({"x": "abs(1, 2)"}, "abs() takes one argument"),
        ({"x": "round(length_mm, 1.5)"}, "digits is a whole number"),
        ({"x": "mean(a, b)"}, "mean() takes one argument"),
        ({"x": "abs(class)"}, "abs() works on numbers"),
    ],
)
def test_params_refused(fields, message) -> None:
    with pytest.raises(pydantic.ValidationError, match=re.escape(message)):
        ComputeFields.Params(fields=fields)


WORKFLOW = """version: 1
name: t
nodes:
  cam: {type: source.test_pattern, params: {frames: 2}}
  find: {type: detect.threshold, inputs: {image: cam.image}}
  calc: {type: compute.fields, params: {fields: %s}, inputs: %s}
  big: {type: filter.detections, params: {where: ["ratio > 0.001"]}, inputs: {detections: calc.detections}}
  log: {type: sink.jsonl, params: {path: /dev/null, fields: [frame, ratio]}, inputs: {detections: big.detections}}
"""
WIRED = "{detections: find.detections, image: cam.image}"


def errors(fields: str, inputs: str = WIRED) -> list:
    return [i for i in validate_text(WORKFLOW % (fields, inputs), "wf.yaml").issues if i.is_error]


def test_new_fields_reach_conditions_and_sinks_downstream() -> None:
    assert errors('{ratio: "box_area / image_area"}') == []
    # Without the field, the filter and the sink downstream are refused, each at its place.
    found = errors('{other: "box_area"}')
    assert {(i.node, i.code) for i in found} == {("big", "param.condition"), ("log", "param.field")}


def test_names_in_expressions_are_checked_with_a_did_you_mean() -> None:
    [issue] = errors('{ratio: "box_aera / image_area"}')
    assert issue.node == "calc" and issue.field == "fields.ratio" and "did you mean 'box_area'" in issue.hint
    assert issue.location.line == 6
    [issue] = errors('{ratio: "box_area / image_area"}', "{detections: find.detections}")
    assert "'image_area' needs the image" in issue.message and "image: <source>.image" in issue.hint
