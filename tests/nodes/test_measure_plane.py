"""A camera that does not look straight down: the plane homography from four points or an ArUco marker."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pydantic
import pytest
from antialias import bar, coverage, ellipse, grey, marker_cells, minus, seen_through, tilted_camera, union

from segflow.nodes.measure.masks import MeasureMasks
from segflow.nodes.models.threshold import ThresholdDetector

SIZE = (480, 640)
MARKER_MM, MARKER_AT = 24.0, (88.0, 22.0)  # side and top-left corner on the plane
PAPER = (82.0, 16.0, 36.0)  # white paper under the marker: x, y, side


def scene(tilt: float, yaw: float):
    """Parts on a dark plane, an ArUco marker on white paper beside them; seen from a tilted camera."""
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    bits = cv2.aruco.generateImageMarker(dictionary, 3, 6)  # one pixel per cell, border included
    mx, my = MARKER_AT
    px, py, ps = PAPER
    paper = bar(px + ps / 2, py + ps / 2, ps, ps, 0)
    on_plane = union(
        bar(40.0, 30.0, 50.0, 4.0, 20.0),  # 50 x 4 mm bar
        ellipse(45.0, 58.0, 15.0, 5.0, -10.0),  # 30 x 10 mm ellipse
        minus(paper, marker_cells(bits // 255, mx, my, MARKER_MM)),
    )
    to_image = tilted_camera(tilt, yaw, 0.2, (65.0, 40.0), SIZE)
    picture = grey(coverage(seen_through(on_plane, np.linalg.inv(to_image)), SIZE, samples=8))
    return np.repeat(picture[..., None], 3, axis=2), to_image


def parts(make_node, run_packet, image, scale):
    found = run_packet(make_node(ThresholdDetector, {"method": "otsu", "min_area": 100}), image=image)["detections"]
    out = run_packet(make_node(MeasureMasks, {"scale": scale}), detections=found, image=image)["detections"]
    order = np.argsort(-out.data["length_mm"])  # the paper square is the roundest, the bar the longest
    return {
        name: {k: float(v[i]) for k, v in out.data.items()
               if k not in ("class_name", "edge_method", "edge_fallback", "edge_shape")}
        for name, i in zip(("bar", "ellipse"), [order[0], order[-1]], strict=True)
    }, out


def check_parts(found):
    assert found["bar"]["length_mm"] == pytest.approx(50, rel=0.01)
    assert found["bar"]["width_mm"] == pytest.approx(4, rel=0.02)  # a caliper: its outermost edge points
    assert found["bar"]["area_mm2"] == pytest.approx(200, rel=0.01)
    assert found["ellipse"]["length_mm"] == pytest.approx(30, rel=0.01)
    assert found["ellipse"]["width_mm"] == pytest.approx(10, rel=0.01)
    assert found["ellipse"]["area_mm2"] == pytest.approx(math.pi * 75, rel=0.01)


@pytest.mark.parametrize(("tilt", "yaw"), [(25.0, 0.0), (35.0, 15.0)])
def test_four_known_points_measure_a_tilted_view_within_1_percent(make_node, run_packet, tilt, yaw):
    image, to_image = scene(tilt, yaw)
    corners_mm = np.array([[10, 15], [120, 15], [120, 70], [10, 70]], float)
    corners_px = cv2.perspectiveTransform(corners_mm.reshape(-1, 1, 2), to_image).reshape(-1, 2)
    scale = {"mode": "plane", "points_px": corners_px.tolist(), "points_mm": corners_mm.tolist(), "points_px_u": 0.2}
    found, _ = parts(make_node, run_packet, image, scale)
    check_parts(found)


@pytest.mark.parametrize(("tilt", "yaw"), [(25.0, 0.0), (35.0, 15.0)])
def test_an_aruco_marker_on_the_plane_measures_a_tilted_view_within_1_percent(make_node, run_packet, tilt, yaw):
    image, _ = scene(tilt, yaw)
    scale = {"mode": "aruco", "marker_mm": MARKER_MM, "marker_id": 3, "plane": True}
    found, _ = parts(make_node, run_packet, image, scale)
    check_parts(found)


def test_one_scale_for_a_tilted_view_is_off_by_more_than_1_percent(make_node, run_packet):
    # Why the plane is needed: the marker's mean side gives one mm/px for the frame, wrong away from it.
    image, _ = scene(35.0, 15.0)
    found, _ = parts(make_node, run_packet, image, {"mode": "aruco", "marker_mm": MARKER_MM, "marker_id": 3})
    assert abs(found["bar"]["length_mm"] / 50 - 1) > 0.02


@pytest.mark.parametrize(
    "scale",
    [
        {"mode": "plane", "points_px": [[0, 0], [10, 0], [10, 10]], "points_mm": [[0, 0], [1, 0], [1, 1]]},
        {
            "mode": "plane",
            "points_px": [[0, 0], [10, 0], [20, 0], [0, 10]],  # three on one line
            "points_mm": [[0, 0], [1, 0], [2, 0], [0, 1]],
        },
        {"mode": "plane", "points_px": [[0, 0], [10, 0], [10, 10], [0, 10]], "points_mm": [[0, 0], [1, 0], [1, 1]]},
    ],
)
def test_plane_points_that_fix_no_plane_are_rejected(scale):
    with pytest.raises(pydantic.ValidationError):
        MeasureMasks.Params(scale=scale)


def test_more_than_four_points_may_include_three_on_a_line():
    # A ruler's marks along one edge plus two more corners: some four of them fix the plane.
    scale = {
        "mode": "plane",
        "points_px": [[0, 0], [10, 0], [20, 0], [0, 10], [20, 10]],
        "points_mm": [[0, 0], [1, 0], [2, 0], [0, 1], [2, 1]],
    }
    assert MeasureMasks.Params(scale=scale).scale.mode == "plane"
