"""The condition language evaluated on real detections: per detection (filter, relabel) and per frame (the gate)."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv
from sinkkit import rendered_detections

from segflow.delivery.common import GateParams
from segflow.delivery.condition import Condition
from segflow.delivery.gate import Gate
from segflow.delivery.records import Findings
from segflow.engine import NodeError
from segflow.engine.frame import PacketInfo

DETS = rendered_detections()  # stone 0.91 5mm, bean 0.42 4.5mm, stone 0.77 6.25mm; tracker ids 7, 8, 9
PACKET = PacketInfo("cam", 12, 1.2)


def holds(text: str, dets=DETS, value=None) -> bool:
    return Condition(text).holds(PACKET, dets, value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("count > 0", True),
        ("count > 3", False),
        ("count == 3", True),
        ("count() == 3", True),
        ("class == stone", True),
        ("class == 'stick'", False),
        ("class != bean", True),  # some detection is not a bean
        ("count(class == stone) >= 2", True),
        ("count(class == bean) >= 2", False),
        ("count(class == stick) == 0", True),
        ("count(confidence > 0.5 and length_mm > 5) == 1", True),
        ("class == bean and confidence > 0.5", False),  # the one bean is 0.42: both must hold for one detection
        ("class == stone and confidence > 0.8", True),
        ("class == bean or length_mm > 6", True),
        ("length_mm > 7", False),
        ("not class == bean", True),
        ("not (count > 0)", False),
        ("class in [stick, bean]", True),
        ("class not in [stone, bean]", False),
        ("frame >= 12 and source == cam", True),
        ("source == other", False),
        ("colour_lab == 3", False),  # a list never equals a number: false, not an error
        ("tracker_id == 8 and class == bean", True),
        ("class_id == 1", True),
        ("value.mean > 100", True),
        ("value.mean > 200", False),
        ("value.missing > 1", False),
        ("max(length_mm) > 6 and min(length_mm) >= 4.5", True),
        ("mean(length_mm) == 5.25 and sum(area_px) > 100", True),
        ("first(class) == stone", True),
        ("length_mm / 2 + 1 > 4", True),  # 6.25 / 2 + 1
        ("-length_mm < -6", True),
        ("box_width > 0 and box_height > 0 and box_area == box_width * box_height", True),
        ("cx > 40 and cy < 40", True),  # the bean, centred at (50, 30)
        ("x1 >= 0 and y2 <= 60 and aspect > 0", True),
        ("area_px", True),  # a bare field: true where it is not 0
        ("length_mm == (length_mm)", True),  # a field in brackets after == is the field, not text
    ],
)
def test_condition_holds_for_the_frame(text: str, expected: bool) -> None:
    assert holds(text, value={"mean": 150.0}) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("class == stone", [True, False, True]),
        ("class == stone and count(class == bean) == 1", [True, False, True]),
        ("confidence > 0.5 or tracker_id == 8", [True, True, True]),
        ("not confidence > 0.5", [False, True, False]),
        ("length_mm > mean(length_mm)", [False, False, True]),
        ("count > 2", [True, True, True]),  # a frame value holds for every detection
        ("", [True, True, True]),
    ],
)
def test_condition_per_detection(text: str, expected: list[bool]) -> None:
    assert Condition(text).per_detection(DETS, PACKET).tolist() == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("count == 0", True),
        ("count > 0", False),
        ("class == stone", False),
        ("not class == stone", False),  # no detection at all, so none that is not a stone
        ("count == 0 or class == stone", True),  # the detection part is decided where it meets the frame part
        ("max(length_mm) > 1", False),  # no detections, so no maximum
    ],
)
def test_condition_on_an_empty_frame(text: str, expected: bool) -> None:
    empty = DETS[np.zeros(3, dtype=bool)]
    assert holds(text, dets=empty) is expected


def test_missing_values_fail_comparisons_but_not_equal() -> None:
    dets = sv.Detections(xyxy=np.array([[0, 0, 2, 2.0], [0, 0, 4, 4.0]]),
                         data={"size_mm": np.array([np.nan, 3.0]), "tag": np.array([None, "a"], dtype=object)})
    assert Condition("tracker_id == 1 or tracker_id != 1").per_detection(dets, PACKET).tolist() == [True, True]
    assert Condition("size_mm > 0").per_detection(dets, PACKET).tolist() == [False, True]
    assert Condition("size_mm != 3").per_detection(dets, PACKET).tolist() == [True, False]
    assert Condition("tag == a").per_detection(dets, PACKET).tolist() == [False, True]
    assert Condition("tag not in [a]").per_detection(dets, PACKET).tolist() == [True, False]
    assert Condition("class == ''").per_detection(dets, PACKET).tolist() == [True, True]  # no names, no ids


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("class_name > 3", "'>' compares numbers"),
        ("class_name == 3", "compares text with a number"),
        ("class_name + 1 > 2", r"'\+' works on numbers, got a detection field holding str \('stone'\)"),
        ("max(class_name) > 1", r"max\(\) works on numbers"),
        ("length_mm == length_mm", "compares text with a number"),  # after ==, a bare word is text
        ("no_such_field > 1",
         "no field 'no_such_field' in these detections; they have: area_px, class_name, colour_lab, length_mm"),
    ],
)
def test_run_time_mistakes_fail_the_frame(text: str, message: str) -> None:
    """A field validation could not know (a node that declares nothing) with the wrong type: the node's failure."""
    with pytest.raises(NodeError, match=message):
        Condition(text, "where[0]").per_detection(DETS, PACKET)


def test_a_value_per_detection_is_not_a_frame_value() -> None:
    assert Condition("max(length_mm)").value(PACKET, DETS) == 6.25
    assert Condition("count(class == stone)").value(PACKET, DETS) == 2
    with pytest.raises(NodeError, match="a value per detection"):
        Condition("length_mm + 0").value(PACKET, DETS)


def test_bad_only_when_is_a_param_error() -> None:
    with pytest.raises(ValueError, match="condition 'count >'"):
        GateParams(only_when="count >")


def test_gate_every_n_and_cooldown_per_source() -> None:
    gate = Gate(every_n=2, cooldown_s=0.5)
    admitted = [
        (src, i) for i in range(10) for src in ("a", "b") if gate.admit(Findings(PacketInfo(src, i, i * 0.1), None))
    ]
    # every 2nd frame per source (0, 2, 4, ...), then at least 0.5 s of frame time apart
    assert admitted == [("a", 0), ("b", 0), ("a", 6), ("b", 6)]


def test_gate_cooldown_starts_only_from_a_written_frame() -> None:
    gate = Gate(cooldown_s=1.0, condition="count > 0")
    seq = [0, 0, 3, 2, 0, 1, 1]  # detections per frame, 0.4 s apart
    out = [i for i, n in enumerate(seq) if gate.admit(Findings(PacketInfo("cam", i, i * 0.4), DETS[:n]))]
    assert out == [2, 5]


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("value.stats.max > 2", {"stats": {"max": 3}}, True),
        ("value.stats.max > 2", {"stats": {"max": 1}}, False),
        ("value.stats.max > 2", {"stats": 5}, False),  # no key under a number
        ("value.mean > 2", 5, False),  # a bare number has no keys
        ("value > 2", 5, True),
    ],
)
def test_value_is_read_like_a_sinks_fields(text: str, value: object, expected: bool) -> None:
    assert holds(text, value=value) is expected


def test_class_reads_like_a_record_with_or_without_names() -> None:
    """``class`` is the class name, else the class id as text (as in records); nothing at all is ''."""
    from segflow.delivery.records import class_names

    boxes = np.array([[0, 0, 4, 4], [5, 5, 9, 9]], dtype=float)
    named = sv.Detections(boxes, class_id=np.array([0, 1]), data={"class_name": np.array(["stone", "bean"])})
    ids = sv.Detections(boxes, class_id=np.array([0, 1]))
    bare = sv.Detections(boxes)
    assert holds("class == stone", named) and not holds("class == '0'", named)
    assert holds("class == '1'", ids) and class_names(ids) == ["0", "1"]
    assert holds("count(class == '') == 2", bare) and class_names(bare, unnamed="object") == ["object"] * 2
