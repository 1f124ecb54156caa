"""The only_when language: what passes, what fails, and what does not parse."""

from __future__ import annotations

import re

import numpy as np
import pytest
import supervision as sv
from sinkkit import rendered_detections

from segflow.delivery.common import GateParams
from segflow.delivery.condition import ConditionError, parse_condition
from segflow.delivery.gate import Gate
from segflow.delivery.records import Findings, detection_envs, frame_env
from segflow.engine.frame import PacketInfo

DETS = rendered_detections()  # stone 0.91 5mm, bean 0.42 4.5mm, stone 0.77 6.25mm


def holds(text: str, dets=DETS, value=None) -> bool:
    env = frame_env(PacketInfo("cam", 12, 1.2), dets, value)
    return parse_condition(text)(env, detection_envs(dets))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("count > 0", True),
        ("count > 3", False),
        ("count == 3", True),
        ("class == stone", True),
        ("class == 'stick'", False),
        ("class != bean", True),  # some detection is not a bean
        ("count(stone) >= 2", True),
        ("count(bean) >= 2", False),
        ("count(stick) == 0", True),
        ("class == bean and confidence > 0.5", False),  # the one bean is 0.42
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
        ("missing_field > 1", False),
        ("tracker_id == 8 and class == bean", True),
        ("class_id == 1", True),
        ("value.mean > 100", True),
        ("value.mean > 200", False),
    ],
)
def test_condition_on_rendered_detections(text: str, expected: bool) -> None:
    assert holds(text, value={"mean": 150.0}) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("count == 0", True),
        ("count > 0", False),
        ("class == stone", False),
        ("not class == stone", False),
    ],
)
def test_condition_on_an_empty_frame(text: str, expected: bool) -> None:
    import supervision as sv

    assert holds(text, dets=sv.Detections.empty()) is expected
    assert holds(text, dets=None) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("count >", "ends early"),
        ("count > 0 and", "ends early"),
        ("(count > 0", "expected ')'"),
        ("count > 0 stone", "expected 'and', 'or'"),
        ("== 3", "expected a name"),
        ("count $ 3", "unexpected character '$'"),
        ("class in 3", "needs a list"),
        ("__import__('os')", "expected"),
    ],
)
def test_condition_errors_say_where(text: str, message: str) -> None:
    with pytest.raises(ConditionError, match=re.escape(message)):
        parse_condition(text)


def test_bad_only_when_is_a_param_error() -> None:
    with pytest.raises(ValueError, match="only_when 'count >'"):
        GateParams(only_when="count >")


def boxes(n: int) -> sv.Detections:
    return sv.Detections(xyxy=np.tile([0.0, 0.0, 4.0, 4.0], (n, 1)), class_id=np.zeros(n, int))


def test_gate_every_n_and_cooldown_per_source() -> None:
    gate = Gate(every_n=2, cooldown_s=0.5)
    admitted = [(src, i) for i in range(10) for src in ("a", "b")
                if gate.admit(Findings(PacketInfo(src, i, i * 0.1)))]
    # every 2nd frame per source (0, 2, 4, ...), then at least 0.5 s of frame time apart
    assert admitted == [("a", 0), ("b", 0), ("a", 6), ("b", 6)]


def test_gate_cooldown_starts_only_from_a_written_frame() -> None:
    gate = Gate(cooldown_s=1.0, condition="count > 0")
    seq = [0, 0, 3, 2, 0, 1, 1]  # detections per frame, 0.4 s apart
    out = [i for i, n in enumerate(seq) if gate.admit(Findings(PacketInfo("cam", i, i * 0.4), boxes(n)))]
    assert out == [2, 5]


def test_a_gate_that_only_counts_never_reads_detection_fields() -> None:
    """The fields a detection condition reads are computed once and reused by the record; a count needs none."""
    counting, per_detection = Gate(condition="count > 0"), Gate(condition="class == stone")
    quiet, stony = Findings(PacketInfo("cam", 0, 0.0), DETS), Findings(PacketInfo("cam", 0, 0.0), DETS)
    assert counting.admit(quiet) and "fields" not in vars(quiet)
    assert per_detection.admit(stony) and vars(stony)["fields"] is stony.fields
