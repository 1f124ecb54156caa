"""The values line outputs write: the condition language read as one value per frame."""

from __future__ import annotations

import numpy as np
import pytest
from sinkkit import rendered_detections

from segflow.delivery.line import getter
from segflow.engine import PacketInfo
from segflow.engine.workflow.condition_check import check_value_syntax

DETS = rendered_detections()  # stone 5.0 mm, bean 4.5 mm, stone 6.25 mm; confidences 0.91, 0.42, 0.77
PACKET = PacketInfo("belt", 42, 4.2)
VALUE = {"mean": 88.5, "zone": {"count": 3}}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (True, True), (0, 0), (2.5, 2.5), ("true", True), ("false", False), ("12", 12), ("-1.5", -1.5),
        ("'a b'", "a b"), ("count", 3), ("count(class == stone)", 2), ("count(class == 'bean')", 1),
        ("count(class == stick)", 0), ("frame", 42), ("timestamp", 4.2), ("source", "belt"),
        ("value.mean", 88.5), ("value.zone.count", 3), ("value.nope", None), ("max(length_mm)", 6.25),
        ("min(length_mm)", 4.5), ("sum(length_mm)", 15.75), ("mean(length_mm)", 5.25), ("first(class)", "stone"),
        ("max(confidence)", pytest.approx(0.91)), ("count > 0", True), ("count * 10", 30),
        ("max(length_mm) * 10", 62.5),
    ],
)
def test_values(spec, expected) -> None:
    assert getter(spec)(PACKET, DETS, VALUE) == expected


def test_aggregates_of_a_frame_without_detections_are_missing() -> None:
    empty = DETS[np.zeros(3, dtype=bool)]
    assert getter("max(length_mm)")(PACKET, empty, None) is None
    assert getter("count")(PACKET, empty, None) == 0 and getter("count(class == stone)")(PACKET, empty, None) == 0


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("length_mm", r"write max\(length_mm\), min\(length_mm\)"),
        ("median(length_mm)", "unknown function 'median'.*did you mean 'mean'"),
        ("max()", r"max\(\) needs a detection field"),
        ("max(count)", r"max\(\) goes over the detections"),
        ("count >", "ends early"),
    ],
)
def test_mistakes_say_what_is_allowed(spec, error) -> None:
    with pytest.raises(ValueError, match=error):
        check_value_syntax(spec)
