"""aggregate.window: tumbling windows of seconds or frames, per source; only_on_change on sinks."""

from __future__ import annotations

import json

import numpy as np
import pydantic
import pytest
import supervision as sv

from segflow.engine.api import loads
from segflow.engine.frame import PacketInfo
from segflow.engine.node import Inputs
from segflow.nodes.analyze.window import WindowAggregate, summarise


def stones(n: int, beans: int = 1) -> sv.Detections:
    names = ["stone"] * n + ["bean"] * beans
    xy = np.array([[i * 10, 0, i * 10 + 5, 5] for i in range(len(names))], float).reshape(-1, 4)
    return sv.Detections(xyxy=xy, class_id=np.zeros(len(names), int), data={"class_name": np.array(names)})


def test_windows_of_seconds_close_on_the_first_frame_past_their_end(make_node, run_packet):
    node = make_node(WindowAggregate, {"window_s": 1.0, "values": {"stones": "count(class == stone)"},
                                       "reduce": ["sum", "mean", "max", "first", "last", "difference", "count"]})
    counts = [1, 3, 2, 5, 0, 4]  # frames at 0.0 0.4 0.8 | 1.2 1.6 | 2.0
    outs = []
    for i, n in enumerate(counts):
        packet = PacketInfo("cam", i, round(i * 0.4, 6), "test")
        outs.append(node.process(Inputs({"detections": stones(n)}, packet))["value"])
    assert outs[:3] == [None, None, None]
    first = outs[3]
    assert first["closed"] is True
    assert (first["window"], first["start"], first["end"], first["frames"]) == (0, 0.0, 1.0, 3)
    assert first["stones"] == {"sum": 6, "mean": 2.0, "max": 3, "first": 1, "last": 2, "difference": 1, "count": 3}
    assert first["per_class"] == {"bean": 3, "stone": 6}
    assert outs[4] == {**first, "closed": False}  # the last closed window, not again closed
    assert outs[5]["window"] == 1 and outs[5]["stones"]["sum"] == 5 and outs[5]["closed"]


def test_windows_of_frames_close_on_their_last_frame_per_source(make_node, run_packet):
    node = make_node(WindowAggregate, {"window_frames": 2, "values": {"n": "count"}, "reduce": ["sum"],
                                       "per_class": False})
    seen = {}
    for i in range(4):
        for source, n in (("a", 1), ("b", 10)):
            out = run_packet(node, source=source, index=i, detections=stones(n, 0))["value"]
            seen.setdefault(source, []).append(None if out is None else (out["window"], out["n"]["sum"], out["closed"]))
    assert seen["a"] == [None, (0, 2, True), (0, 2, False), (1, 2, True)]
    assert seen["b"] == [None, (0, 20, True), (0, 20, False), (1, 20, True)]


def test_summarise_skips_missing_values() -> None:
    assert summarise([None, 2.0, float("nan"), 4.0], ["count", "mean", "difference"]) == {
        "count": 2, "mean": 3.0, "difference": 2.0}
    assert summarise([None], ["max", "count"]) == {"max": None, "count": 0}


def test_exactly_one_window_length() -> None:
    for params in ({}, {"window_s": 1, "window_frames": 3}):
        with pytest.raises(pydantic.ValidationError, match="exactly one of window_s"):
            WindowAggregate.Params(**params)


WORKFLOW = """version: 1
name: t
nodes:
  cam: {{type: source.test_pattern, params: {{frames: 9, fps: 10}}}}
  find: {{type: detect.threshold, inputs: {{image: cam.image}}}}
  win: {{type: aggregate.window, params: {{window_frames: 3, values: {{objects: count}}, reduce: [sum, max]}},
        inputs: {{detections: find.detections}}}}
  log: {{type: sink.jsonl, params: {{path: {out}/w.jsonl, per: frame, only_when: value.closed}},
        inputs: {{value: win.value}}}}
  changes: {{type: sink.jsonl, params: {{path: {out}/c.jsonl, per: frame, only_on_change: [value.window]}},
            inputs: {{value: win.value}}}}
"""


def test_a_sink_writes_each_window_once(tmp_path) -> None:
    report = loads(WORKFLOW.format(out=tmp_path), base_dir=tmp_path).run()
    assert report.failures == 0
    windows = [json.loads(line)["value"] for line in (tmp_path / "w.jsonl").read_text().splitlines()]
    assert [w["window"] for w in windows] == [0, 1, 2] and all(w["frames"] == 3 for w in windows)
    changes = [json.loads(line).get("value") for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    # only_on_change: the first frame (no window yet), then each new window once
    assert [None if c is None else c["window"] for c in changes] == [None, 0, 1, 2]


def test_value_names_are_checked_before_the_run(tmp_path) -> None:
    from segflow.engine.workflow.validate import validate_text

    text = WORKFLOW.format(out=tmp_path).replace("objects: count}", "objects: max(confidnce)}")
    [issue] = [i for i in validate_text(text, "wf.yaml").issues if i.is_error]
    assert issue.node == "win" and "did you mean 'confidence'" in issue.hint


def test_only_on_change_writes_a_frame_when_a_value_changes_per_source() -> None:
    from segflow.delivery.gate import Gate
    from segflow.delivery.records import Findings

    gate = Gate(on_change=["count(class == stone)"])
    written = []
    for i, (source, n) in enumerate([("a", 1), ("a", 1), ("b", 1), ("a", 2), ("a", 2), ("a", 1), ("b", 1)]):
        if gate.admit(Findings(PacketInfo(source, i, i / 10), stones(n))):
            written.append((source, n))
    assert written == [("a", 1), ("b", 1), ("a", 2), ("a", 1)]
