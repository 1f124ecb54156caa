"""sink.stdout: one readable line per frame, gated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import supervision as sv
from sinkkit import feed, make_node, rendered_detections

from segflow.nodes.sinks.stdout import StdoutSink


def test_lines(tmp_path: Path, capsys) -> None:
    node = make_node(StdoutSink, tmp_path)
    feed(node, 12, rendered_detections(), ts=1.2, value={"mean": np.float32(2.5)})
    feed(node, 13, sv.Detections.empty(), ts=1.3)
    feed(
        node,
        14,
        sv.Detections(xyxy=np.array([[0, 0, 2, 2.0]] * 2), class_id=np.array([4, 4])),
        ts=1.4,
    )
    many = sv.Detections(
        xyxy=np.array([[0, 0, 2, 2.0]] * 5),
        class_id=np.zeros(5, dtype=int),
        confidence=np.array([0.5, 0.9, 0.7, 0.55, 0.8]),
    )
    feed(node, 15, many, ts=1.5)
    node.close()
    assert capsys.readouterr().out.splitlines() == [
        'cam #12 t=1.20s: 3 found: stone x2 (0.91 0.77), bean (0.42) | {"mean":2.5}',
        "cam #13 t=1.30s: 0 found",
        "cam #14 t=1.40s: 2 found: 4 x2",
        "cam #15 t=1.50s: 5 found: 0 x5 (0.50..0.90)",
    ]


def test_only_when_and_cooldown_keep_it_quiet(tmp_path: Path, capsys) -> None:
    node = make_node(StdoutSink, tmp_path, stream="stderr", only_when="count > 0", cooldown_s=1.0)
    for i in range(30):
        feed(node, i, rendered_detections() if i % 3 else sv.Detections.empty(), ts=i * 0.1)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" ")[1] for line in lines] == ["#1", "#11", "#22"]
