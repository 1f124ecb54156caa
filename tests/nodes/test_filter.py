"""filter.detections: class, confidence, field conditions and polygon, on hand-built detections."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import supervision as sv

from segflow.engine import NodeError
from segflow.engine.registry import default_registry
from segflow.nodes.detections.filter import FilterDetections


def detections():
    """Four objects: boxes in the four quadrants of a 200 x 200 frame."""
    masks = np.zeros((4, 200, 200), bool)
    masks[0, 10:30, 10:30] = True
    masks[1, 10:30, 150:190] = True
    masks[2, 150:190, 10:30] = True
    masks[3, 150:160, 150:190] = True
    return sv.Detections(
        xyxy=sv.mask_to_xyxy(masks).astype(float),
        mask=masks,
        confidence=np.array([0.9, 0.4, 0.7, 0.2]),
        class_id=np.array([0, 1, 0, 2]),
        tracker_id=np.array([5, 6, 7, 8]),
        data={
            "class_name": np.array(["bean", "stone", "bean", "twig"]),
            "area_mm2": np.array([3.0, 8.0, 4.0, np.nan]),
            "colour_label": np.array(["ripe", "other", "unripe", "ripe"]),
        },
    )


@pytest.mark.parametrize(
    ("params", "kept"),
    [
        ({}, [5, 6, 7, 8]),
        ({"classes": ["bean"]}, [5, 7]),
        ({"classes": ["bean", "twig"]}, [5, 7, 8]),
        ({"classes": []}, []),
        ({"classes": [0]}, [5, 7]),  # a whole number is a class id
        ({"classes": [1, "twig"]}, [6, 8]),  # ids and names mixed
        ({"classes": ["0"]}, []),  # text is a name, never an id: no class is named "0"
        ({"min_confidence": 0.5}, [5, 7]),
        ({"where": ["area_mm2 > 4"]}, [6]),
        ({"where": "area_mm2 >= 4"}, [6, 7]),
        ({"where": ["area_mm2 != 3"]}, [6, 7, 8]),  # NaN != 3
        ({"where": ["area_mm2 < 100"]}, [5, 6, 7]),  # NaN fails
        ({"where": ["colour_label == 'ripe'"]}, [5, 8]),
        ({"where": ['colour_label != "ripe"', "confidence > 0.5"]}, [7]),
        ({"where": ["class_id == 0", "tracker_id >= 7"]}, [7]),
        ({"where": ["area_mm2 > 1e0", "area_mm2 < .35e1"]}, [5]),
        ({"where": ["class == bean"]}, [5, 7]),
        ({"where": ["class in [stone, twig] or confidence >= 0.9"]}, [5, 6, 8]),
        ({"where": ["not (class == bean and cx < 100)"]}, [6, 8]),
        ({"where": ["box_width > 30"]}, [6, 8]),  # the right-hand boxes, 39 px wide
        ({"where": ["box_area == 19 * 19 and aspect == 1"]}, [5]),  # mask_to_xyxy: 19 px across
        ({"where": ["y1 > 100 and x2 - x1 < 25"]}, [7]),
        ({"where": ["count(class == bean) == 2 and class == twig"]}, [8]),
        ({"where": ["area_mm2 * 2 > 7"]}, [6, 7]),
        ({"polygon": [[0, 0], [100, 0], [100, 200], [0, 200]]}, [5, 7]),
        ({"polygon": [[0, 0], [200, 0], [0, 200]], "anchor": "mask_centroid"}, [5, 6, 7]),
        ({"classes": ["bean"], "min_confidence": 0.8, "where": ["area_mm2 < 10"]}, [5]),
    ],
)
def test_filters(make_node, run_packet, params, kept):
    out = run_packet(make_node(FilterDetections, params), detections=detections())["detections"]
    assert list(out.tracker_id) == kept
    assert out.mask is not None and len(out.mask) == len(kept)
    assert len(out.data["class_name"]) == len(kept)


def test_mask_centroid_differs_from_box_centre(make_node, run_packet):
    # An L-shaped mask: its box centre is outside the mask's own bulk.
    mask = np.zeros((1, 100, 100), bool)
    mask[0, 0:100, 0:10] = True
    mask[0, 90:100, 0:100] = True
    d = sv.Detections(xyxy=sv.mask_to_xyxy(mask).astype(float), mask=mask)
    # Box centre (49.5, 49.5); mask centroid near (27, 72), in the lower-left corner.
    polygon_small = [[0, 60], [45, 60], [45, 100], [0, 100]]
    by_box = make_node(FilterDetections, {"polygon": polygon_small})
    by_mask = make_node(FilterDetections, {"polygon": polygon_small, "anchor": "mask_centroid"})
    assert len(run_packet(by_box, detections=d)["detections"]) == 0
    assert len(run_packet(by_mask, detections=d)["detections"]) == 1


@pytest.mark.parametrize(
    "text",
    [
        "area_mm2 > ",
        "> 4",
        "area_mm2 => 4",
        "__import__('os').system('x') > 1",
        "area_mm2 > 4 or",
        "colour_label > 'ripe'",
        "area mm2 > 4",
        "x" * 3000,
    ],
)
def test_unreadable_conditions_are_rejected_before_the_run(text):
    with pytest.raises(pydantic.ValidationError, match="condition"):
        FilterDetections.Params(where=[text])


def test_a_type_mismatch_fails_the_frame_with_the_param_named(make_node, run_packet):
    node = make_node(FilterDetections, {"where": ["colour_label + 1 > 2"]})
    with pytest.raises(NodeError, match=r"where\[0\] 'colour_label \+ 1 > 2': '\+' works on numbers"):
        run_packet(node, detections=detections())


def test_missing_field_names_what_exists(make_node, run_packet):
    node = make_node(FilterDetections, {"where": ["length_mm > 3"]})
    with pytest.raises(NodeError, match="no field 'length_mm'.*area_mm2") as err:
        run_packet(node, detections=detections())
    assert "measure.masks" in err.value.hint


def test_classes_without_names_is_a_clear_error(make_node, run_packet):
    node = make_node(FilterDetections, {"classes": ["bean"]})
    with pytest.raises(NodeError, match="class_name"):
        run_packet(node, detections=sv.Detections(xyxy=np.array([[0, 0, 1, 1.0]])))


def test_class_ids_without_class_ids_is_a_clear_error(make_node, run_packet):
    node = make_node(FilterDetections, {"classes": [2]})
    bare = sv.Detections(xyxy=np.array([[0, 0, 1, 1.0]]), data={"class_name": np.array(["bean"])})
    with pytest.raises(NodeError, match="class id 2, but these detections have no class ids") as err:
        run_packet(node, detections=bare)
    assert "classes: [stone]" in err.value.hint


@pytest.mark.parametrize(
    ("value", "message"),
    [("[1.5]", "classes[0] is 1.5 (float)"), ("[stone, true]", "classes[1] is True (bool)"),
     ("[-1]", "class ids start at 0"), ("[[stone]]", "classes[0] is ['stone'] (list)")],
)
def test_classes_of_the_wrong_type_are_refused_at_validation_where_they_stand(value, message):
    from segflow.engine.workflow.validate import validate_text

    text = f"""version: 1
name: f
nodes:
  cam: {{type: source.test_pattern, params: {{frames: 1}}}}
  det: {{type: detect.threshold, inputs: {{image: cam.image}}}}
  keep:
    type: filter.detections
    params: {{classes: {value}}}
    inputs: {{detections: det.detections}}
"""
    errors = [i for i in validate_text(text, "wf.yaml").issues if i.is_error]
    assert len(errors) == 1 and message in errors[0].message and errors[0].node == "keep"
    assert errors[0].location.line == 8


def test_empty_detections_pass_through(make_node, run_packet):
    node = make_node(FilterDetections, {"where": ["area_mm2 > 4"], "classes": ["bean"]})
    assert len(run_packet(node, detections=sv.Detections.empty())["detections"]) == 0


@pytest.mark.parametrize(
    "params", [{"polygon": [[0, 0], [1, 1]]}, {"min_confidence": 2}, {"anchor": "corner"}]
)
def test_bad_params(params):
    with pytest.raises(pydantic.ValidationError):
        FilterDetections.Params(**params)


@pytest.mark.parametrize(
    ("node_type", "params"),
    [
        ("filter.detections", {"polygon": [[0, 0], [1, 1]]}),
        ("relabel.detections", {"rules": [{"class_name": "coin", "polygon": [[0, 0], [1, 1]]}]}),
        ("zone.count", {"polygon": [[0, 0], [1, 1]]}),
    ],
)
def test_every_polygon_param_refuses_a_polygon_without_area_in_the_same_words(node_type, params):
    with pytest.raises(pydantic.ValidationError, match="polygon needs at least 3 points, got 2"):
        default_registry().get(node_type).Params(**params)
    assert FilterDetections.Params(polygon=[[0, 0], [1, 0], [0, 1]]).polygon == [(0, 0), (1, 0), (0, 1)]
