"""A replay after a jump starts trackers *and* what follows track ids (annotate's traces) afresh, together."""

from __future__ import annotations

import numpy as np

from segflow.engine.execution.session import EditorSession
from segflow.engine.registry import default_registry
from segflow.engine.workflow.validate import validate_text

WORKFLOW = """\
version: 1
name: replay
nodes:
  cam: {type: source.test_pattern}
  find:
    type: detect.threshold
    params: {channel: gray, method: fixed, threshold: 128, min_area: 50}
    inputs: {image: cam.image}
  track:
    type: track.bytetrack
    inputs: {detections: find.detections}
  label:
    type: annotate.detections
    params: {masks: false, boxes: false, label: '', traces: true, thickness: 3}
    inputs: {image: cam.image, detections: track.detections}
"""


def frame(index: int) -> np.ndarray:
    """A white square on black moving right by 6 px a frame."""
    pixels = np.zeros((120, 400, 3), np.uint8)
    x = 10 + 6 * index
    pixels[50:80, x:x + 30] = 255
    return pixels


def test_after_a_jump_no_trace_joins_the_old_path():
    graph = validate_text(WORKFLOW, "wf.yaml", default_registry()).graph
    assert graph is not None
    with EditorSession(run_sinks=False) as session:
        session.run_sequence(graph, [(frame(i), i) for i in range(10)])  # the track is drawn along x 25..79
        jumped = session.run_sequence(graph, [(frame(i), i) for i in range(40, 46)])  # the square at x 250..
        picture = jumped.outputs["label"]["image"].pixels
        assert len(jumped.outputs["track"]["detections"]) == 1
        drawn = np.argwhere(np.any(picture != frame(45), axis=2))
        assert len(drawn) > 0, "no trace drawn at all"
        # every trace point lies on the new path (x >= 40 * 6 + 10): none reaches back to the old one
        assert drawn[:, 1].min() >= 240, f"a trace reaches x={drawn[:, 1].min()}, back to the old path"
