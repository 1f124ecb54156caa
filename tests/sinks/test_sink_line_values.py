"""The value language of line outputs: what a register or variable gets from one frame."""

from __future__ import annotations

import numpy as np
import pytest
from sinkkit import rendered_detections

from segflow.delivery.line_values import compile_value
from segflow.delivery.records import detection_envs, frame_env
from segflow.engine import PacketInfo

DETS = rendered_detections()  # stone 5.0 mm, bean 4.5 mm, stone 6.25 mm; confidences 0.91, 0.42, 0.77
FRAME = frame_env(PacketInfo("belt", 42, 4.2), DETS, {"mean": 88.5, "zone": {"count": 3}})
ENVS = detection_envs(DETS)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (True, True), (0, 0), (2.5, 2.5), ("true", True), ("false", False), ("12", 12), ("-1.5", -1.5),
        ("'a b'", "a b"), ("count", 3), ("count(stone)", 2), ("count('bean')", 1), ("count(stick)", 0),
        ("frame", 42), ("timestamp", 4.2), ("source", "belt"), ("value.mean", 88.5), ("value.zone.count", 3),
        ("value.nope", None), ("max(length_mm)", 6.25), ("min(length_mm)", 4.5), ("sum(length_mm)", 15.75),
        ("mean(length_mm)", 5.25), ("first(class)", "stone"), ("max(confidence)", pytest.approx(0.91)),
        ("max(no_such_field)", None),
    ],
)
def test_values(spec, expected) -> None:
    assert compile_value(spec)(FRAME, ENVS) == expected


def test_aggregates_of_a_frame_without_detections_are_missing() -> None:
    empty = DETS[np.zeros(3, dtype=bool)]
    frame = frame_env(PacketInfo("belt", 1, 0.1), empty, None)
    assert compile_value("max(length_mm)")(frame, []) is None
    assert compile_value("count")(frame, []) == 0 and compile_value("count(stone)")(frame, []) == 0


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("length_mm", r"write max\(length_mm\), min\(length_mm\)"),
        ("median(length_mm)", "unknown function 'median'"),
        ("max()", r"max\(\) takes a detection field"),
        ("count > 0", "is not a value"),
        ("1 + 2", "is not a value"),
    ],
)
def test_mistakes_say_what_is_allowed(spec, error) -> None:
    with pytest.raises(ValueError, match=error):
        compile_value(spec)
