"""annotate.overlay: zones, lines, outlines and text drawn where they belong, from wired values.

Each drawing test reads pixels where the zone, the line or the text must be
(and where nothing must be), and draws twice with different values to show
the text comes from the value, not from a constant.
"""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import supervision as sv

from segflow.engine.workflow.validate import validate_text
from segflow.nodes.detections.overlay import AnnotateOverlay

PURPLE = np.array([251, 81, 163])  # the default colour #A351FB, as BGR
ZONE = [[20, 20], [140, 20], [140, 110], [20, 110]]


def white() -> np.ndarray:
    return np.full((200, 240, 3), 255, np.uint8)


def near(pixel: np.ndarray, colour: np.ndarray, tolerance: int = 40) -> bool:
    return bool(np.abs(pixel.astype(int) - colour).max() <= tolerance)


def test_a_zone_is_filled_translucently_outlined_and_shows_its_count(make_node, run_packet):
    node = make_node(AnnotateOverlay, {"zone": ZONE, "opacity": 0.25})
    image = white()
    out = run_packet(node, image=image, zone={"count": 3, "per_class": {"stone": 3}})["image"].pixels
    assert np.array_equal(image, white())  # drawn on a copy
    tinted = out[30, 30].astype(int)
    assert (tinted < 255).any() and tinted.min() > 150  # translucent: the scene shows through
    assert near(out[60, 20], PURPLE) and near(out[20, 80], PURPLE)  # the outline
    assert (out[150, 200] == 255).all() and (out[60, 180] == 255).all()  # outside: untouched
    centre = out[60:70, 75:85]
    assert near(centre.reshape(-1, 3).min(axis=0), PURPLE, 60)  # the count's label box at the centre
    other = run_packet(node, image=image, zone={"count": 47, "per_class": {}})["image"].pixels
    differs = (out != other).any(axis=2)
    assert differs[45:85, 50:110].any() and not differs[150:, :].any()  # only the label changed


def test_a_line_shows_its_in_and_out_counts_on_its_middle(make_node, run_packet):
    node = make_node(AnnotateOverlay, {"line": [[20, 150], [220, 150]], "thickness": 3})
    out = run_packet(node, image=white(), line={"in": 2, "out": 1})["image"].pixels
    assert near(out[150, 30], PURPLE) and near(out[150, 210], PURPLE)  # the line, beyond its label
    assert (out[120, 30] == 255).all() and (out[180, 200] == 255).all()
    label = out[140:160, 90:150]
    assert (label == 255).all(axis=2).any() and near(label[0, 0], PURPLE, 60)  # white text on the label box
    more = run_packet(node, image=white(), line={"in": 12, "out": 9})["image"].pixels
    assert (more != out).any(axis=2)[135:165, 60:180].any()


def test_the_title_and_counts_per_class_come_from_the_frame(make_node, run_packet):
    detections = sv.Detections(xyxy=np.array([[0, 0, 5, 5], [9, 9, 20, 20], [30, 30, 40, 40]], float),
                               class_id=np.array([0, 0, 1]), data={"class_name": np.array(["stone", "stone", "bean"])})
    node = make_node(AnnotateOverlay, {"title": "{count} stones", "per_class": True, "corner": "bottom_right"})
    out = run_packet(node, image=white(), detections=detections)["image"].pixels
    dark = (out < 128).all(axis=2)
    assert dark[120:, 120:].any() and not dark[:80, :].any()  # a panel in the bottom-right corner only
    rows = np.flatnonzero(dark.any(axis=1))
    assert rows.max() - rows.min() > 50  # three lines: the title and two classes
    fewer = run_packet(node, image=white(), detections=detections[:1])["image"].pixels
    assert not np.array_equal(out, fewer)


def test_a_title_from_a_value_and_a_missing_field_shows_a_question_mark(make_node, run_packet):
    node = make_node(AnnotateOverlay, {"title": "{count} in zone"})
    a = run_packet(node, image=white(), value={"count": 4})["image"].pixels
    b = run_packet(node, image=white(), value={"other": 4})["image"].pixels
    c = run_packet(node, image=white(), value={"count": 4})["image"].pixels
    assert np.array_equal(a, c) and not np.array_equal(a, b)
    assert (a < 128).all(axis=2)[:40, :120].any()  # top-left by default


def test_outlines_from_polygon_values_one_or_many(make_node, run_packet):
    node = make_node(AnnotateOverlay, {"colour": "#00FF00"})
    green = np.array([0, 255, 0])
    one = run_packet(node, image=white(), outlines=[[10, 10], [60, 10], [60, 60]])["image"].pixels
    assert near(one[10, 30], green) and (one[40, 50] == 255).all()  # outline, not filled
    many = run_packet(node, image=white(), outlines=[[[10, 10], [60, 10], [60, 60]],
                                                     [[100, 100], [150, 100], [150, 150], [100, 150]]])["image"]
    assert near(many.pixels[100, 120], green) and near(many.pixels[10, 30], green)
    nothing = run_packet(node, image=white(), outlines=[])["image"].pixels
    assert (nothing == 255).all()


@pytest.mark.parametrize("params", [{"zone": [[0, 0], [1, 1]]}, {"line": [[0, 0]]}, {"colour": "purple"},
                                    {"title": "{0}"}, {"zone_label": "{count"}])
def test_bad_params(params):
    with pytest.raises(pydantic.ValidationError):
        AnnotateOverlay.Params(**params)


BASE = """version: 1
name: t
nodes:
  cam: {type: source.test_pattern, params: {frames: 2}}
  found: {type: detect.threshold, params: {channel: gray, method: fixed, threshold: 100}, inputs: {image: cam.image}}
  inside: {type: zone.count, params: {polygon: [[0, 0], [50, 0], [50, 50]]}, inputs: {detections: found.detections}}
  draw:
    type: annotate.overlay
    params: {zone: [[0, 0], [50, 0], [50, 50]], zone_label: "{count} here"}
    inputs: {image: cam.image, zone: inside.value}
  save: {type: sink.images, params: {folder: out}, inputs: {image: draw.image}}
"""


def test_a_valid_overlay_validates():
    result = validate_text(BASE, "wf.yaml")
    assert [i.format() for i in result.issues if i.is_error] == []


@pytest.mark.parametrize(("replaces", "line", "words"), [
    ([("{count} here", "{cnt} here")], 10, "uses {cnt}; only {count}, {per_class} exist"),
    ([("zone: inside.value", "value: inside.value")], 9, "`zone` input, which is not wired"),
    ([('zone_label: "{count} here"', "title: '{count}'"), (", zone: inside.value", "")], 9, "neither is wired"),
    ([('zone_label: "{count} here"', "title: '{total} stones'"),
      ("zone: inside.value", "detections: found.detections")], 10, "uses {total}; only {count} exist"),
])
def test_names_and_wiring_mistakes_are_located(replaces, line, words):
    text = BASE
    for old, new in replaces:
        assert old in text
        text = text.replace(old, new)
    result = validate_text(text, "wf.yaml")
    errors = [i for i in result.issues if i.is_error]
    assert len(errors) == 1, [i.format() for i in errors]
    assert (errors[0].location.file, errors[0].node) == ("wf.yaml", "draw")
    assert errors[0].location.line in (line, line + 1), errors[0].format()
    assert words in errors[0].format()


def test_a_zone_drawn_per_frame_from_polygon_from_mask_in_a_workflow(tmp_path):
    """dynamic_zone.yaml plus an overlay taking the tray's outline as `$tray_outline.polygon`."""
    import json
    from pathlib import Path

    import cv2

    from segflow.engine.api import loads

    root = Path(__file__).resolve().parents[2]
    text = (root / "workflows" / "dynamic_zone.yaml").read_text() + """
  draw:
    type: annotate.overlay
    params: {zone: $tray_outline.polygon, zone_label: "{count} parts", colour: "#00FF00", opacity: 0.3}
    inputs: {image: camera.image, zone: on_tray.value}
"""
    wf = loads(text, "wf.yaml", overrides=[f"log.path={tmp_path / 'p.jsonl'}"], base_dir=root)
    image = cv2.imread(str(root / "assets/samples/tray.png"))
    out = wf.run_image(image)
    drawn = out["draw"]["image"].pixels
    corners = np.array(json.loads((root / "assets/samples/tray.json").read_text())["tray"])
    green = np.array([0, 255, 0])
    for a, b in zip(corners, np.roll(corners, -1, axis=0), strict=True):  # the middle of each edge: the outline
        x, y = np.round((a + b) / 2).astype(int)
        patch = drawn[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3)
        assert min(np.abs(patch.astype(int) - green).max(axis=1)) <= 60, (x, y)
    inside = corners.mean(axis=0).round().astype(int) + [0, 40]  # below the label: tinted, not covered
    assert drawn[inside[1], inside[0], 1] > image[inside[1], inside[0], 1]
    assert out["on_tray"]["value"]["count"] > 0
