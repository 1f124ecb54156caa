"""annotate.detections: labels from format strings, drawing on a copy, traces per source."""

from __future__ import annotations

import math

import numpy as np
import pydantic
import pytest
import supervision as sv

from segflow.engine import NodeError
from segflow.nodes.detections.annotate import Annotate
from segflow.vision.drawing import format_labels


def scene_detections(tracker=True):
    masks = np.zeros((2, 120, 160), bool)
    masks[0, 30:60, 20:60] = True
    masks[1, 70:100, 90:140] = True
    return sv.Detections(
        xyxy=sv.mask_to_xyxy(masks).astype(float),
        mask=masks,
        confidence=np.array([0.91, 0.5]),
        class_id=np.array([0, 1]),
        tracker_id=np.array([7, 8]) if tracker else None,
        data={
            "class_name": np.array(["bean", "stone"]),
            "length_mm": np.array([12.345, math.nan]),
            "length_mm_u": np.array([0.0412, 0.05]),
        },
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{class_name} {length_mm:.1f} mm", ["bean 12.3 mm", "stone ? mm"]),
        ("#{tracker_id} {confidence:.0%}", ["#7 91%", "#8 50%"]),
        ("{missing:.2f}|{class_name:>6}", ["?|  bean", "?| stone"]),
        ("{class_name:.1f}", ["?", "?"]),  # a number format on text
        ("{class_name.upper}", ["?", "?"]),  # attribute access is not offered
        ("{0} {1}", ["? ?", "? ?"]),
        ("plain", ["plain", "plain"]),
        ("{length_mm:.2f+-} mm", ["12.35+/-0.04 mm", "?+/-0.05 mm"]),
        ("{length_mm:.1f}", ["12.3", "?"]),  # a field with an uncertainty still formats alone
        ("{confidence:.1f+-}", ["?", "?"]),  # no confidence_u: the suffix is a bad spec
    ],
)
def test_label_format_tolerates_missing_and_mismatched_fields(template, expected):
    assert format_labels(scene_detections(), template) == expected


def test_draws_on_a_copy_and_changes_pixels_where_objects_are(make_node, run_packet):
    image = np.full((120, 160, 3), 255, np.uint8)
    original = image.copy()
    node = make_node(Annotate, {"label": "{class_name} {length_mm:.1f} mm", "boxes": False})
    out = run_packet(node, image=image, detections=scene_detections())["image"]
    assert np.array_equal(image, original)
    changed = (out.pixels != original).any(axis=2)
    assert changed[40, 40] and changed[85, 115]  # mask fills
    assert not changed[110, 5]  # far from everything
    assert out.source_id == "cam" and out.shape == image.shape


def test_boxes_only_leave_mask_interiors_alone(make_node, run_packet):
    image = np.full((120, 160, 3), 255, np.uint8)
    node = make_node(Annotate, {"masks": False, "label": None, "traces": False})
    out = run_packet(node, image=image, detections=scene_detections())["image"].pixels
    assert (out[45, 40] == 255).all()  # inside the first box
    assert (out[30, 40] != 255).any()  # on its top edge


def test_traces_need_history_per_source(make_node, run_packet):
    node = make_node(Annotate, {"masks": False, "boxes": False, "label": None, "thickness": 3})
    image = np.full((120, 160, 3), 255, np.uint8)
    for t in range(6):
        d = scene_detections()
        d.xyxy = d.xyxy + np.array([4 * t, 0, 4 * t, 0])
        d.mask = None
        last = run_packet(node, source="cam1", index=t, image=image, detections=d)["image"]
    other = run_packet(node, source="cam2", index=0, image=image, detections=d)["image"]
    # cam1's trace of object 0 runs along y = 44 from x = 40 to 60; cam2 has no history.
    assert (last.pixels[44, 42:58] != 255).any(axis=1).all()
    assert (other.pixels[44, 42:55] == 255).all()


def test_no_tracker_ids_no_traces_and_empty_detections(make_node, run_packet):
    image = np.full((120, 160, 3), 255, np.uint8)
    node = make_node(Annotate)
    run_packet(node, image=image, detections=scene_detections(tracker=False))
    out = run_packet(node, image=image, detections=sv.Detections.empty())["image"]
    assert np.array_equal(out.pixels, image)
    gray = run_packet(node, image=image[:, :, 0], detections=scene_detections())["image"]
    assert gray.shape == (120, 160, 3)


def test_colour_by_track_without_tracks_is_a_clear_error(make_node, run_packet):
    image = np.zeros((120, 160, 3), np.uint8)
    with pytest.raises(NodeError, match="tracker ids"):
        run_packet(
            make_node(Annotate, {"colour_by": "track"}),
            image=image,
            detections=scene_detections(tracker=False),
        )


@pytest.mark.parametrize(
    "params",
    [{"label": "{class_name"}, {"label": "{0} {}"}, {"colour_by": "size"}, {"thickness": 0}],
)
def test_bad_params(params):
    with pytest.raises(pydantic.ValidationError):
        Annotate.Params(**params)
