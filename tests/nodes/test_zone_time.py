"""zone.time: seconds from frame timestamps (dropped frames, hidden tracks), reset or accumulate, per source."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydantic
import pytest
import supervision as sv

from segflow.engine import NodeError
from segflow.engine.frame import PacketInfo
from segflow.engine.node import Inputs
from segflow.nodes.detections.zone_time import ZoneClock, ZoneTime
from segflow.nodes.detections.zones import ZoneCount

ROOT = Path(__file__).resolve().parents[2]
ZONE = {"polygon": [[100, 0], [200, 0], [200, 100], [100, 100]], "anchors": ["center"]}


def tracked(xs, ids, names=None, y=50.0, size=10.0):
    xy = np.column_stack([np.asarray(xs, float), np.full(len(xs), y)])
    return sv.Detections(xyxy=np.column_stack([xy - size / 2, xy + size / 2]), class_id=np.zeros(len(xs), int),
                         confidence=np.full(len(xs), 0.9), tracker_id=np.asarray(ids),
                         data={"class_name": np.array(names or ["box"] * len(xs))})


def step(node, t, detections, source="cam", index=0):
    return node.process(Inputs({"detections": detections}, PacketInfo(source, index, t, "test")))


@pytest.mark.parametrize(
    ("accumulate", "expected"),
    [
        # inside 0.0 .. 0.5 (0.5 s), out at 0.7, back in at 1.0 .. 1.25
        (False, [0.0, 0.2, 0.5, 0.0, 0.0, 0.25]),
        (True, [0.0, 0.2, 0.5, 0.5, 0.5, 0.75]),
    ],
    ids=["reset", "accumulate"],
)
def test_clock_seconds_come_from_timestamps_not_frame_counts(accumulate, expected):
    clock = ZoneClock(accumulate, forget_s=60)
    times = [0.0, 0.2, 0.5, 0.7, 1.0, 1.25]  # uneven: a camera that drops frames
    inside = [True, True, True, False, True, True]
    got = [clock.update(t, np.array([7]), np.array([i])) for t, i in zip(times, inside, strict=True)]
    assert [float(s[0]) for s, _ in got] == pytest.approx(expected)
    frames = [int(f[0]) for _, f in got]
    assert frames == ([1, 2, 3, 0, 1, 2] if not accumulate else [1, 2, 3, 3, 4, 5])


def test_clock_a_hidden_track_stays_in_its_visit_and_a_forgotten_one_starts_afresh():
    clock = ZoneClock(False, forget_s=2.0)
    clock.update(0.0, np.array([1]), np.array([True]))
    seconds, frames = clock.update(1.5, np.array([1]), np.array([True]))  # not seen 0.1 .. 1.4 (occluded)
    assert (float(seconds[0]), int(frames[0])) == (1.5, 2)
    seconds, _ = clock.update(5.0, np.array([2]), np.array([True]))  # track 1 unseen for 3.5 s: forgotten
    seconds, frames = clock.update(5.5, np.array([1]), np.array([True]))
    assert (float(seconds[0]), int(frames[0])) == (0.0, 1)


def test_clock_untracked_detections_have_no_time():
    seconds, frames = ZoneClock(False, 60).update(0.0, np.array([-1, 3]), np.array([True, True]))
    assert math.isnan(seconds[0]) and frames[0] == 0 and seconds[1] == 0.0 and frames[1] == 1


def test_node_times_objects_walking_through_the_zone_per_source(make_node):
    node = make_node(ZoneTime, {**ZONE, "field": "in_bay"})
    # Two objects move right 12 px per frame at 10 FPS, noisy positions; a second camera sees one object stand still.
    rng = np.random.default_rng(3)
    last = None
    for k in range(20):
        xs = 70 + 12 * k + rng.normal(0, 0.7, 2) + np.array([0, -36])
        last = step(node, k / 10, tracked(xs, [1, 2], ["stone", "bean"]), index=k)
        step(node, k / 10, tracked([150], [1]), source="cam2", index=k)
        if k == 6:
            value = last["value"]
            assert value["count"] == 2 and value["per_class"] == {"bean": 1, "stone": 1}
    detections = last["detections"]
    # Centre enters x >= 100 at k = 3 (106) for id 1, k = 6 for id 2; leaves past 200 at k = 11 / k = 14.
    assert list(detections.data["in_bay"]) == [False, False]
    assert list(detections.data["time_in_zone_s"]) == [0.0, 0.0]  # reset: both have left
    still = step(node, 2.0, tracked([150], [1]), source="cam2", index=20)["detections"]
    assert float(still.data["time_in_zone_s"][0]) == pytest.approx(2.0) and still.data["frames_in_zone"][0] == 21


def test_node_drops_outsiders_and_reports_the_longest_stay(make_node):
    node = make_node(ZoneTime, {**ZONE, "outside": "drop", "on_exit": "accumulate"})
    step(node, 0.0, tracked([150, 50], [1, 2]))
    out = step(node, 0.4, tracked([160, 60], [1, 2]))
    assert list(out["detections"].tracker_id) == [1]
    assert out["value"] == {"count": 1, "per_class": {"box": 1}, "longest_s": pytest.approx(0.4)}
    empty = step(node, 0.5, sv.Detections.empty())
    assert empty["value"]["longest_s"] is None and len(empty["detections"]) == 0


def test_node_without_tracker_ids_names_the_fix(make_node):
    detections = tracked([150], [1])
    detections.tracker_id = None
    with pytest.raises(NodeError, match="no tracker ids") as err:
        step(make_node(ZoneTime, ZONE), 0.0, detections)
    assert "track.bytetrack" in err.value.hint


@pytest.mark.parametrize("anchors", [["center"], ["top_left", "bottom_right"]])
def test_zone_time_and_zone_count_see_the_same_zone(make_node, anchors):
    """One zone test for both nodes: who is inside, the counts per class and `field` agree, whatever the anchors."""
    zone = {**ZONE, "anchors": anchors, "field": "in_bay"}
    detections = tracked([90, 104, 150, 196, 260], [1, 2, 3, 4, 5], ["box", "pallet", "box", "box", "pallet"],
                         size=20.0)
    counted = step(make_node(ZoneCount, zone), 0.0, detections)
    timed = step(make_node(ZoneTime, zone), 0.0, detections)
    assert timed["value"]["count"] == counted["value"]["count"] > 0
    assert timed["value"]["per_class"] == counted["value"]["per_class"]
    assert timed["detections"].data["in_bay"].tolist() == counted["detections"].data["in_bay"].tolist()
    assert counted["detections"].data["in_bay"].tolist() != [True] * 5  # the zone keeps some out


@pytest.mark.parametrize(
    "params",
    [{**ZONE, "on_exit": "restart"}, {**ZONE, "time_field": "t s"}, {**ZONE, "time_field": "x", "frames_field": "x"},
     {**ZONE, "field": "time_in_zone_s"}, {**ZONE, "forget_s": 0}, {"polygon": [[0, 0], [1, 1]]}],
)
def test_bad_params(params):
    with pytest.raises(pydantic.ValidationError):
        ZoneTime.Params(**params)


WORKFLOW = """version: 1
name: t
nodes:
  cam: {type: source.test_pattern, params: {frames: 2}}
  find: {type: detect.threshold, inputs: {image: cam.image}}
%s  dwell: {type: zone.time, params: {polygon: [[0, 0], [50, 0], [50, 50]]}, inputs: {detections: %s.detections}}
  log: {type: sink.jsonl, params: {path: /dev/null, only_when: "max(time_in_zone_s) > 1"},
        inputs: {detections: dwell.detections}}
"""


def test_without_a_tracker_upstream_it_is_refused_at_validation():
    from segflow.engine.workflow.validate import validate_text

    [issue] = [i for i in validate_text(WORKFLOW % ("", "find"), "wf.yaml").issues if i.is_error]
    assert issue.code == "input.field" and issue.node == "dwell" and issue.location.line == 6
    assert "'tracker_id'" in issue.message and "track.bytetrack" in issue.hint
    tracked_wf = WORKFLOW % ("  track: {type: track.bytetrack, inputs: {detections: find.detections}}\n", "track")
    assert [i.format() for i in validate_text(tracked_wf, "wf.yaml").issues if i.is_error] == []


def test_time_in_zone_workflow_gives_the_belt_crossing_time(tmp_path):
    """Every object crosses the 240 px zone at the belt's 8 px/frame, 15 FPS: 2 s, from timestamps."""
    from segflow.engine.api import load

    truth = json.loads((ROOT / "assets/samples/conveyor.json").read_text())
    (tmp_path / "assets").symlink_to(ROOT / "assets", target_is_directory=True)
    assert load(ROOT / "workflows/time_in_zone.yaml", base_dir=tmp_path).run().failures == 0
    rows = [json.loads(line) for line in (tmp_path / "out/time_in_zone/dwell.jsonl").read_text().splitlines()]
    tracks = defaultdict(list)
    for row in rows:
        tracks[row["tracker_id"]].append(row)
    crossing_s = 240 / (truth["belt_speed_px_per_frame"] * truth["fps"])
    crossed = [seen for seen in tracks.values() if seen[0]["frame"] > 0 and seen[-1]["frame"] < truth["frames"] - 1
               and seen[-1]["frames_in_zone"] >= 25]
    assert len(crossed) >= 30
    for seen in crossed:
        first, last = seen[0], seen[-1]
        # The time is the timestamps' difference, even for a track the tracker missed on a frame.
        assert last["time_in_zone_s"] == pytest.approx(last["timestamp"] - first["timestamp"])
        assert last["time_in_zone_s"] == pytest.approx(crossing_s, abs=1.5 / truth["fps"])
