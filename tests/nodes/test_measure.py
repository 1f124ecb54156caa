"""measure.masks: px -> mm with fixed, reference-object and ArUco scales, on rendered scenes."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pydantic
import pytest
import supervision as sv

from segflow.engine import NodeError
from segflow.nodes.measure.masks import MeasureMasks

SHAPE = (600, 700)


def bar_scene(shapes, mm_per_px=0.25):
    """A 100 x 40 mm bar at 30 degrees and a 50 x 20 mm ellipse, rendered at ``mm_per_px``."""
    s = 1 / mm_per_px
    bar = shapes.raster(shapes.bar(250, 250, 100 * s, 40 * s, 30), SHAPE)
    ell = shapes.raster(shapes.ellipse(550, 450, 25 * s, 10 * s, -20), SHAPE)
    return shapes.detections([bar, ell], ["bar", "ellipse"])


def test_fixed_scale_lengths_and_areas_in_mm(shapes, make_node, run_packet):
    node = make_node(MeasureMasks, {"scale": {"mode": "fixed", "mm_per_px": 0.25}})
    out = run_packet(node, detections=bar_scene(shapes))["detections"]
    assert out.data["length_mm"] == pytest.approx([100, 50], rel=0.01)
    assert out.data["width_mm"] == pytest.approx([40, 20], rel=0.01)
    assert out.data["area_mm2"] == pytest.approx([4000, math.pi * 25 * 10], rel=0.01)
    assert out.data["length_px"] == pytest.approx([400, 200], rel=0.01)
    assert out.data["angle_deg"][0] == pytest.approx(30, abs=0.5)
    assert list(out.data["class_name"]) == ["bar", "ellipse"]  # existing fields kept


def test_without_scale_only_pixel_fields(shapes, make_node, run_packet):
    out = run_packet(make_node(MeasureMasks), detections=bar_scene(shapes))["detections"]
    assert "length_px" in out.data and not any(k.endswith("_mm") for k in out.data)


def test_reference_object_sets_scale_per_frame(shapes, make_node, run_packet):
    # A 24.25 mm coin rendered at 0.2 mm/px next to the bar rendered at the same scale.
    coin = shapes.raster(shapes.ellipse(600, 100, 24.25 / 0.2 / 2, 24.25 / 0.2 / 2), SHAPE)
    bar = shapes.raster(shapes.bar(250, 300, 80 / 0.2, 30 / 0.2, 10), SHAPE)
    detections = shapes.detections([bar, coin], ["bar", "coin"])
    for dimension in ("feret_max", "circle_diameter"):
        scale = {"mode": "reference", "class_name": "coin", "size_mm": 24.25}
        scale["dimension"] = dimension
        out = run_packet(make_node(MeasureMasks, {"scale": scale}), detections=detections)
        data = out["detections"].data
        assert data["mm_per_px"][0] == pytest.approx(0.2, rel=0.01)
        assert data["length_mm"][0] == pytest.approx(80, rel=0.01)
        assert data["width_mm"][0] == pytest.approx(30, rel=0.01)


def test_aruco_marker_sets_scale(shapes, make_node, run_packet):
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    marker = cv2.aruco.generateImageMarker(dictionary, 7, 240)  # 20 mm at 1/12 mm per px
    image = np.full((*SHAPE, 3), 255, np.uint8)
    image[40:280, 420:660] = marker[..., None]
    bar = shapes.raster(shapes.bar(200, 420, 30 * 12, 12 * 12, 5), SHAPE)
    scale = {"mode": "aruco", "dictionary": "DICT_4X4_50", "marker_mm": 20, "marker_id": 7}
    out = run_packet(
        make_node(MeasureMasks, {"scale": scale}),
        image=image,
        detections=shapes.detections([bar]),
    )["detections"]
    assert out.data["mm_per_px"][0] == pytest.approx(1 / 12, rel=0.01)
    assert out.data["length_mm"][0] == pytest.approx(30, rel=0.01)
    assert out.data["width_mm"][0] == pytest.approx(12, rel=0.01)


@pytest.mark.parametrize(
    ("scale", "with_image", "message"),
    [
        ({"mode": "reference", "class_name": "coin", "size_mm": 20}, False, "no 'coin' reference"),
        ({"mode": "aruco", "marker_mm": 20}, True, "no DICT_4X4_50 ArUco marker"),
        ({"mode": "aruco", "marker_mm": 20}, False, "needs the image input"),
    ],
)
def test_missing_scale_is_a_clear_frame_error(
    shapes, make_node, run_packet, scale, with_image, message
):
    inputs = {"detections": bar_scene(shapes)}
    if with_image:
        inputs["image"] = np.full((*SHAPE, 3), 128, np.uint8)
    with pytest.raises(NodeError, match=message):
        run_packet(make_node(MeasureMasks, {"scale": scale}), **inputs)


def test_missing_reference_can_fall_back_to_pixels(shapes, make_node, run_packet):
    scale = {"mode": "reference", "class_name": "coin", "size_mm": 20, "if_missing": "pixels_only"}
    out = run_packet(make_node(MeasureMasks, {"scale": scale}), detections=bar_scene(shapes))
    data = out["detections"].data
    assert np.isnan(data["length_mm"]).all() and (data["length_px"] > 0).all()


@pytest.mark.parametrize(
    ("params", "ok"),
    [
        ({"scale": {"mode": "fixed", "mm_per_px": 0.1}}, True),
        ({"scale": {"mode": "fixed", "mm_per_px": 0}}, False),
        ({"scale": {"mode": "aruco", "dictionary": "DICT_4X4_50", "marker_mm": 5}}, True),
        ({"scale": {"mode": "aruco", "dictionary": "DICT_9X9_1", "marker_mm": 5}}, False),
        ({"scale": {"mode": "inches", "mm_per_px": 1}}, False),
        ({"scale": {"mode": "fixed", "mm_per_px": 1, "colour": 1}}, False),
    ],
)
def test_params_validation(params, ok):
    if ok:
        MeasureMasks.Params(**params)
    else:
        with pytest.raises(pydantic.ValidationError):
            MeasureMasks.Params(**params)


def test_boxes_without_masks_name_the_fix(make_node, run_packet):
    boxes = sv.Detections(xyxy=np.array([[0, 0, 10, 10]], float))
    with pytest.raises(NodeError, match="no masks") as err:
        run_packet(make_node(MeasureMasks), detections=boxes)
    assert "segment.grabcut" in err.value.hint


def test_empty_detections_flow_through(make_node, run_packet):
    node = make_node(MeasureMasks, {"scale": {"mode": "fixed", "mm_per_px": 0.5}})
    out = run_packet(node, detections=sv.Detections.empty())["detections"]
    assert len(out) == 0 and len(out.data["length_mm"]) == 0


def test_input_detections_are_not_modified(shapes, make_node, run_packet):
    detections = bar_scene(shapes)
    run_packet(make_node(MeasureMasks), detections=detections)
    assert set(detections.data) == {"class_name"}


def test_segflow_nodes_shows_every_scale_mode_and_its_fields(capsys):
    from segflow.engine.cli import main

    assert main(["nodes", "measure.masks"]) == 0
    text = capsys.readouterr().out
    for mode in ("fixed", "reference", "aruco", "plane"):
        assert f"mode: {mode} - " in text
    for field in ("mm_per_px_u:", "size_mm:", "dimension:", "if_missing:", "marker_mm:", "marker_id:", "points_px:"):
        assert f"        {field}" in text, field  # indented under its mode
