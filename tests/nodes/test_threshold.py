"""detect.threshold on scikit-image's coins photograph and on rendered scenes."""

from __future__ import annotations

import cv2
import numpy as np
import pydantic
import pytest
from skimage import data

from segflow.engine import NodeError
from segflow.nodes.models.threshold import ThresholdDetector

COINS_PARAMS = {
    "method": "adaptive",
    "block_size": 101,
    "offset": -15,
    "blur": 5,
    "open_kernel": 5,
    "close_kernel": 5,
    "min_area": 300,
    "class_name": "coin",
}


def test_finds_the_24_coins(make_node, run_packet):
    image = cv2.cvtColor(data.coins(), cv2.COLOR_GRAY2BGR)
    out = run_packet(make_node(ThresholdDetector, COINS_PARAMS), image=image)["detections"]
    assert len(out) == 24
    assert set(out.data["class_name"]) == {"coin"}
    assert (out.confidence == 1.0).all() and (out.class_id == 0).all()
    # The photo shows four rows of six coins: one detection per coin, none merged.
    rows = np.sort((out.xyxy[:, 1] + out.xyxy[:, 3]) / 2).reshape(4, 6)
    assert (rows.max(axis=1) - rows.min(axis=1) < 40).all()
    assert (np.diff(rows.mean(axis=1)) > 50).all()
    # Every mask lies inside its box and touches all four sides of it.
    for box, mask in zip(out.xyxy.astype(int), out.mask, strict=True):
        ys, xs = np.nonzero(mask)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == tuple(box)


def test_otsu_finds_too_few_coins_under_uneven_light(make_node, run_packet):
    # The reason `adaptive` exists: a global level merges or loses coins in this photo.
    params = {**COINS_PARAMS, "method": "otsu"}
    out = run_packet(make_node(ThresholdDetector, params), image=data.coins())["detections"]
    assert len(out) != 24


FIXED_60 = {"method": "fixed", "threshold": 60}


def scene():
    """Red discs (one a ring) and a tiny red speck on green; a dark green square at the border."""
    image = np.full((200, 300, 3), (40, 160, 40), np.uint8)
    cv2.circle(image, (60, 60), 30, (30, 30, 200), -1)
    cv2.circle(image, (160, 60), 30, (30, 30, 200), -1)
    cv2.circle(image, (160, 60), 12, (40, 160, 40), -1)  # a hole in the second disc
    cv2.circle(image, (240, 150), 3, (30, 30, 200), -1)
    cv2.rectangle(image, (0, 150), (40, 199), (10, 50, 10), -1)
    return image


@pytest.mark.parametrize(
    ("params", "count", "areas"),
    [
        ({"channel": "a", "method": "otsu"}, 3, None),
        ({"channel": "a", "method": "otsu", "min_area": 100}, 2, [2821, 2821]),
        ({"channel": "a", "method": "otsu", "min_area": 100, "fill_holes": False}, 2, None),
        ({"channel": "r", "method": "fixed", "threshold": 100, "min_area": 100}, 2, None),
        ({"channel": "h", **FIXED_60, "invert": True, "min_area": 99}, 2, None),
        ({"channel": "v", **FIXED_60, "invert": True}, 1, [41 * 50]),
        ({"channel": "v", **FIXED_60, "invert": True, "clear_border": True}, 0, None),
        ({"channel": "a", "method": "otsu", "max_area": 100}, 1, None),
        ({"channel": "a", "method": "otsu", "open_kernel": 9}, 2, None),
    ],
)
def test_channels_and_limits(make_node, run_packet, params, count, areas):
    out = run_packet(make_node(ThresholdDetector, params), image=scene())["detections"]
    assert len(out) == count
    if areas is not None:
        assert sorted(out.mask.sum(axis=(1, 2))) == pytest.approx(areas, rel=0.02)


def test_hole_filling(make_node, run_packet):
    params = {"channel": "a", "method": "otsu", "min_area": 100}
    filled = run_packet(make_node(ThresholdDetector, params), image=scene())["detections"]
    holed = run_packet(
        make_node(ThresholdDetector, {**params, "fill_holes": False}), image=scene()
    )["detections"]
    ring_area = np.pi * (30**2 - 12**2)
    assert sorted(holed.mask.sum(axis=(1, 2)))[0] == pytest.approx(ring_area, rel=0.05)
    assert filled.mask[:, 60, 160].any() and not holed.mask[:, 60, 160].any()


def test_nothing_found_gives_empty_detections(make_node, run_packet):
    flat = np.full((50, 50, 3), 90, np.uint8)
    node = make_node(ThresholdDetector, {"method": "fixed", "threshold": 200})
    out = run_packet(node, image=flat)
    assert len(out["detections"]) == 0


def test_colour_channel_on_a_gray_frame_is_a_clear_error(make_node, run_packet):
    with pytest.raises(NodeError, match="needs a colour image"):
        run_packet(make_node(ThresholdDetector, {"channel": "h"}), image=data.coins())


@pytest.mark.parametrize(
    "params",
    [
        {"block_size": 100},
        {"blur": 4},
        {"min_area": 50, "max_area": 10},
        {"channel": "x"},
        {"method": "triangle"},
        {"threshold": 300},
    ],
)
def test_bad_params_are_rejected(params):
    with pytest.raises(pydantic.ValidationError):
        ThresholdDetector.Params(**params)
