"""transform.perspective: a tilted camera's frame, masks a pixel off and boxes mapped onto the plane."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pydantic
import pytest
import supervision as sv
from antialias import bar, coverage, ellipse

from segflow.nodes.measure.perspective import PerspectiveTransform, quad_corners
from segflow.vision.yolo_dataset import mask_polygon

ROOT = Path(__file__).resolve().parents[2]
VIEW = (301, 201)  # width, height of the top-down view
QUAD = [[150.0, 90.0], [520.0, 130.0], [600.0, 420.0], [60.0, 380.0]]  # the plane's corners in the camera
PARAMS = {"points": QUAD, "width": VIEW[0], "height": VIEW[1]}
SHAPES = [bar(80, 60, 90, 20, 25), ellipse(220, 130, 40, 25, -10), bar(150, 170, 60, 12, 0)]


def to_camera() -> np.ndarray:
    """View pixels -> camera pixels (the inverse of what the node solves)."""
    w, h = VIEW[0] - 1, VIEW[1] - 1
    return cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), np.float32(QUAD))


def camera_scene():
    """The plane seen by the camera (blurred, noisy), the true masks on the plane, and the camera's masks."""
    truth = [coverage(shape, VIEW[::-1]) >= 0.5 for shape in SHAPES]
    plane = np.full((VIEW[1], VIEW[0]), 60, np.uint8)
    for mask in truth:
        plane[mask] = 200
    h = to_camera()
    camera = cv2.warpPerspective(plane, h, (640, 480), flags=cv2.INTER_LINEAR)
    camera = cv2.GaussianBlur(camera, (0, 0), 1.0).astype(float) + np.random.default_rng(0).normal(0, 3, (480, 640))
    seen = [cv2.warpPerspective(m.astype(np.uint8) * 255, h, (640, 480), flags=cv2.INTER_LINEAR) >= 128 for m in truth]
    seen = [np.roll(m, 1, axis=1) for m in seen]  # the detector's masks sit a pixel right
    image = cv2.cvtColor(np.clip(camera, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    return image, truth, seen


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_frame_masks_and_boxes_land_on_the_plane(make_node, run_packet):
    image, truth, seen = camera_scene()
    stack = np.stack(seen)
    detections = sv.Detections(xyxy=sv.mask_to_xyxy(stack).astype(float), mask=stack, class_id=np.arange(3),
                               data={"length_mm": np.array([1.0, 2.0, 3.0])})
    out = run_packet(make_node(PerspectiveTransform, PARAMS), image=image, detections=detections)
    assert out["image"].pixels.shape == (VIEW[1], VIEW[0], 3)
    d = out["detections"]
    assert len(d) == 3 and list(d.data["length_mm"]) == [1.0, 2.0, 3.0]
    for i, mask in enumerate(truth):
        assert iou(d.mask[i], mask) > 0.93, i  # a pixel off in the camera is about a pixel off on the plane
        ys, xs = np.nonzero(mask)
        assert np.abs(d.xyxy[i] - [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).max() <= 1.5, i
    # The warped frame is the plane again: bright where the objects are.
    grey = out["image"].pixels[:, :, 0].astype(float)
    inside = np.any(truth, axis=0)
    assert grey[inside].mean() > 170 and grey[~inside].mean() < 80


def test_masks_warped_there_and_back_are_the_same_pixels(make_node, run_packet):
    image, truth, seen = camera_scene()
    exact = np.stack([np.roll(m, -1, axis=1) for m in seen])  # the camera's view of the plane's masks
    detections = sv.Detections(xyxy=sv.mask_to_xyxy(exact).astype(float), mask=exact)
    d = run_packet(make_node(PerspectiveTransform, PARAMS), image=image, detections=detections)["detections"]
    assert [iou(d.mask[i], mask) for i, mask in enumerate(truth)] == pytest.approx([1, 1, 1], abs=0.01)


def test_box_only_detections_get_the_box_around_their_warped_corners(make_node, run_packet):
    image, truth, seen = camera_scene()
    boxes = sv.Detections(xyxy=sv.mask_to_xyxy(np.stack(seen)).astype(float) + [-1, -1, 1, 1])
    d = run_packet(make_node(PerspectiveTransform, PARAMS), image=image, detections=boxes)["detections"]
    assert d.mask is None and len(d) == 3
    for i, mask in enumerate(truth):
        ys, xs = np.nonzero(mask)
        x0, y0, x1, y1 = d.xyxy[i]
        assert x0 <= xs.min() + 1 and y0 <= ys.min() + 1 and x1 >= xs.max() - 1 and y1 >= ys.max() - 1, i


def test_detections_off_the_plane_are_dropped_and_polygons_follow(make_node, run_packet):
    image, _, _ = camera_scene()
    away = sv.Detections(xyxy=np.array([[5.0, 5.0, 40.0, 30.0], [300.0, 250.0, 320.0, 270.0]]))
    out = run_packet(make_node(PerspectiveTransform, PARAMS), image=image, detections=away,
                     polygons=[QUAD, [[335.0, 255.0], [345.0, 255.0], [340.0, 265.0]]])
    assert len(out["detections"]) == 1  # the first box lies off the plane, up left
    corners, small = out["polygons"]
    w, h = VIEW[0] - 1, VIEW[1] - 1
    assert np.allclose(corners, [[0, 0], [w, 0], [w, h], [0, h]], atol=1e-6)
    assert len(small) == 3


def test_a_quadrilateral_found_per_frame_is_reduced_to_its_four_corners():
    # The plane's outline as a mask outline would give it (many points, corners rounded by pixels).
    mask = np.zeros((480, 640), np.uint8)
    cv2.fillPoly(mask, [np.round(np.array(QUAD)).astype(np.int32)], 1)
    outline = mask_polygon(mask.astype(bool), 1.0)
    corners = quad_corners(np.vstack([outline, outline[:3] + 0.1]))  # more than four points
    assert corners is not None and np.abs(corners - np.array(QUAD)).max() < 2.0


@pytest.mark.parametrize(
    "points",
    [[[150, 90], [600, 420], [520, 130], [60, 380]],  # crossed: not in the order around the plane
     [[0, 0], [100, 0], [200, 0], [0, 100]],  # three on one line
     [[0, 0], [100, 0], [100, 100]]],
)
def test_bad_points_are_refused(points):
    with pytest.raises(pydantic.ValidationError, match="points"):
        PerspectiveTransform.Params(points=points, width=100, height=100)


def test_top_down_workflow_measures_tilted_parts_with_one_fixed_scale(tmp_path):
    """workflows/top_down.yaml: masks from the camera's view, warped, measured at 0.25 mm/px."""
    from segflow.engine.api import load

    truth = json.loads((ROOT / "assets/samples/tilted.json").read_text())
    (tmp_path / "assets").symlink_to(ROOT / "assets", target_is_directory=True)
    assert load(ROOT / "workflows/top_down.yaml", base_dir=tmp_path).run().failures == 0
    found = [json.loads(line) for line in (tmp_path / "out/top_down/parts.jsonl").read_text().splitlines()]
    assert len(found) == len(truth["parts"]) == 4
    for part in truth["parts"]:
        scores = [abs(r["length_mm"] - part["length_mm"]) + abs(r["width_mm"] - part["width_mm"]) for r in found]
        record = found[int(np.argmin(scores))]
        assert record["length_mm"] == pytest.approx(part["length_mm"], rel=0.01)
        assert record["width_mm"] == pytest.approx(part["width_mm"], abs=0.25)  # one pixel of the view
        assert record["area_mm2"] == pytest.approx(part["area_mm2"], rel=0.02)


def test_a_value_that_is_no_polygon_names_the_input(make_node, run_packet):
    from segflow.engine import NodeError

    image, _, _ = camera_scene()
    with pytest.raises(NodeError, match="polygons") as err:
        run_packet(make_node(PerspectiveTransform, PARAMS), image=image, polygons={"count": 3})
    assert "polygon.from_mask" in err.value.hint


def test_a_node_after_the_warp_takes_the_view_as_the_frame_of_its_detections():
    """measure.masks with no image wired follows its detections to their frame: the view, not the camera's."""
    from segflow.engine.workflow.validate import validate_text

    text = """version: 1
name: t
nodes:
  cam: {type: source.test_pattern, params: {frames: 1}}
  find: {type: detect.threshold, inputs: {image: cam.image}}
  top: {type: transform.perspective, params: {points: [[0, 0], [60, 0], [60, 40], [0, 40]], width: 61, height: 41},
        inputs: {image: cam.image, detections: find.detections}}
  after: {type: filter.detections, params: {min_confidence: 0.1}, inputs: {detections: top.detections}}
  measure: {type: measure.masks, inputs: {detections: after.detections}}
  before: {type: measure.masks, inputs: {detections: find.detections}}
  log: {type: sink.jsonl, params: {path: /dev/null}, inputs: {detections: measure.detections}}
  log2: {type: sink.jsonl, params: {path: /dev/null}, inputs: {detections: before.detections}}
"""
    result = validate_text(text, "wf.yaml")
    assert [i.format() for i in result.issues if i.is_error] == []
    assert result.graph.nodes["measure"].inputs["image"] == [("top", "image")]
    assert result.graph.nodes["before"].inputs["image"] == [("cam", "image")]


TRAY = """version: 1
name: tray-view
nodes:
  camera: {type: source.image, params: {path: assets/samples/tray.png}}
  tray:
    type: detect.threshold
    params: {channel: gray, method: fixed, threshold: 100, fill_holes: true, min_area: 20000, class_name: tray}
    inputs: {image: camera.image}
  outline: {type: polygon.from_mask, params: {tolerance: 2.0}, inputs: {detections: tray.detections}}
  parts:
    type: detect.threshold
    params: {channel: s, method: fixed, threshold: 100, min_area: 50, class_name: part}
    inputs: {image: camera.image}
  top:
    type: transform.perspective
    params: {points: $outline.polygon, width: 350, height: 250}
    inputs: {image: camera.image, detections: parts.detections, polygons: outline.polygon}
  log: {type: sink.jsonl, params: {path: out/parts.jsonl, per: frame}, inputs: {detections: top.detections,
                                                                            value: top.polygons}}
"""


def test_points_found_per_frame_warp_the_tray_wherever_it_lies(tmp_path):
    """The tray's outline (polygon.from_mask, dozens of points) gives the corners: the parts on it stay."""
    from segflow.engine.api import loads

    truth = json.loads((ROOT / "assets/samples/tray.json").read_text())
    (tmp_path / "assets").symlink_to(ROOT / "assets", target_is_directory=True)
    assert loads(TRAY, base_dir=tmp_path).run().failures == 0
    [record] = [json.loads(line) for line in (tmp_path / "out/parts.jsonl").read_text().splitlines()]
    assert record["count"] == sum(part["on_tray"] for part in truth["parts"]) == 5
    # The outline itself lands on the view's border (within the outline's 2 px simplification).
    outline = np.array(record["value"])
    to_border = np.minimum.reduce([outline[:, 0], 349 - outline[:, 0], outline[:, 1], 249 - outline[:, 1]])
    assert np.abs(to_border).max() < 4.0
