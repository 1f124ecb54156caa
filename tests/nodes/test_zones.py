"""zone.count and line.count: counts per class on scripted motion, one state per source."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import supervision as sv

from segflow.engine import NodeError
from segflow.nodes.detections.zones import LineCount, ZoneCount


def boxes(centres, names, tracker_ids=None, size=10):
    xy = np.array(centres, float)
    return sv.Detections(
        xyxy=np.column_stack([xy - size / 2, xy + size / 2]),
        class_id=np.arange(len(names)),
        tracker_id=None if tracker_ids is None else np.array(tracker_ids),
        data={"class_name": np.array(names)},
    )


ZONE = {"polygon": [[0, 0], [100, 0], [100, 100], [0, 100]], "anchors": ["center"]}


@pytest.mark.parametrize(
    ("centres", "names", "count", "per_class"),
    [
        ([(50, 50), (150, 50), (20, 80)], ["bean", "bean", "stone"], 2, {"bean": 1, "stone": 1}),
        ([(150, 150)], ["bean"], 0, {}),
        ([(10, 10), (90, 90), (50, 50)], ["bean", "bean", "bean"], 3, {"bean": 3}),
    ],
)
def test_zone_counts_per_class(make_node, run_packet, centres, names, count, per_class):
    node = make_node(ZoneCount, {**ZONE, "field": "in_bin"})
    out = run_packet(node, detections=boxes(centres, names))
    assert out["value"] == {"count": count, "per_class": per_class}
    inside = [0 <= x <= 100 and 0 <= y <= 100 for x, y in centres]
    assert list(out["detections"].data["in_bin"]) == inside
    assert len(out["detections"]) == len(centres)


def test_zone_empty_frame(make_node, run_packet):
    out = run_packet(make_node(ZoneCount, ZONE), detections=sv.Detections.empty())
    assert out["value"] == {"count": 0, "per_class": {}}


LINE = {"start": [100, 0], "end": [100, 200]}


def walk(node, run_packet, source, xs, names=("bean", "stone"), ids=(1, 2)):
    """Move objects horizontally through positions ``xs``; return the last value."""
    value = None
    for t, x in enumerate(xs):
        centres = [(x, 50), (x, 150)][: len(names)]
        out = run_packet(
            node, source=source, index=t, detections=boxes(centres, list(names), list(ids))
        )
        value = out["value"]
    return value


def test_line_counts_crossings_per_class(make_node, run_packet):
    node = make_node(LineCount, LINE)
    value = walk(node, run_packet, "cam", [40, 60, 80, 120, 140])
    crossed_in, crossed_out = value["in"], value["out"]
    assert sorted([crossed_in, crossed_out]) == [0, 2]  # both objects, the same way
    per_class = value["in_per_class"] if crossed_in else value["out_per_class"]
    assert per_class == {"bean": 1, "stone": 1}
    # Walking back counts the other direction.
    back = walk(node, run_packet, "cam", [140, 120, 80, 60])
    assert back["in"] == back["out"] == 2


def test_line_state_is_per_source(make_node, run_packet):
    node = make_node(LineCount, LINE)
    crossed = walk(node, run_packet, "cam1", [40, 80, 120, 160])
    still = walk(node, run_packet, "cam2", [40, 60, 70, 80])
    assert crossed["in"] + crossed["out"] == 2
    assert still["in"] + still["out"] == 0


def test_line_without_tracker_ids_names_the_fix(make_node, run_packet):
    with pytest.raises(NodeError, match="no tracker ids") as err:
        run_packet(make_node(LineCount, LINE), detections=boxes([(10, 10)], ["bean"]))
    assert "track.bytetrack" in err.value.hint


def test_line_empty_frames(make_node, run_packet):
    out = run_packet(make_node(LineCount, LINE), detections=sv.Detections.empty())
    assert out["value"]["in"] == 0 and out["value"]["out"] == 0


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        (ZoneCount, {"polygon": [[0, 0], [1, 1]]}),
        (ZoneCount, {**ZONE, "anchors": ["middle"]}),
        (ZoneCount, {**ZONE, "anchors": []}),
        (ZoneCount, {**ZONE, "field": "in bin"}),
        (LineCount, {"start": [0, 0], "end": [0, 0]}),
        (LineCount, {"start": [0, 0]}),
        (LineCount, {"line": [[0, 0], [5, 5]], "start": [0, 0]}),
        (LineCount, {"line": [[0, 0]]}),
        (LineCount, {"line": [[3, 3], [3, 3]]}),
    ],
)
def test_bad_params(cls, params):
    with pytest.raises(pydantic.ValidationError):
        cls.Params(**params)
