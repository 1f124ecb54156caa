"""What you see is what ran: an empty result says why, and messages go when their cause goes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from appkit import yaml_area
from streamlit.testing.v1 import AppTest

from segflow.engine.execution.session import EditorSession
from segflow.engine.registry import default_registry
from segflow.engine.workflow.validate import validate_text
from segflow.ui import results

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "segflow" / "ui" / "app.py")
HEAD = """\
version: 1
name: why
nodes:
  cam: {type: source.test_pattern}
  find:
    type: detect.threshold
    params: {channel: gray, method: fixed, threshold: 128, min_area: 50, class_name: square}
    inputs: {image: cam.image}
"""


def square() -> np.ndarray:
    pixels = np.zeros((120, 200, 3), np.uint8)
    pixels[40:80, 60:100] = 255
    return pixels


@pytest.mark.parametrize(
    ("tail", "pixels", "words"),
    [
        ("  track:\n    type: track.bytetrack\n    inputs: {detections: find.detections}\n",
         square(), ["'track' (track.bytetrack) got 1 detection(s) from 'find'", "seen it on more than one frame"]),
        ("  keep:\n    type: filter.detections\n    params: {classes: [circle]}\n"
         "    inputs: {detections: find.detections}\n",
         square(), ["'keep' (filter.detections) got 1 detection(s)", "filtered them all out"]),
        ("  track:\n    type: track.bytetrack\n    inputs: {detections: find.detections}\n",
         np.zeros((120, 200, 3), np.uint8), None),  # nothing found at all: nothing to explain
    ],
)
def test_an_empty_result_names_the_node_that_dropped_the_detections(tail, pixels, words):
    graph = validate_text(HEAD + tail, "wf.yaml", default_registry()).graph
    assert graph is not None
    last = graph.order[-1]
    with EditorSession(run_sinks=False) as session:
        result = session.run_sequence(graph, [(pixels, 0)])
    assert len(result.outputs[last]["detections"]) == 0
    reason = results.empty_reason(graph, result, last)
    if words is None:
        assert reason is None
    else:
        assert reason is not None and all(w in reason for w in words), reason


# -- messages that outlive their cause -------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path) -> Path:
    (tmp_path / "workflows").mkdir()
    for name in ("coins.yaml", "measure_image.yaml"):
        if (ROOT / "workflows" / name).exists():
            shutil.copy(ROOT / "workflows" / name, tmp_path / "workflows" / name)
    (tmp_path / "assets").symlink_to(ROOT / "assets")
    return tmp_path


def app(monkeypatch, workspace: Path) -> AppTest:
    monkeypatch.setenv("SEGFLOW_EDITOR_WORKSPACE", str(workspace))
    monkeypatch.setenv("SEGFLOW_EDITOR_FILE", "workflows/coins.yaml")
    monkeypatch.delenv("SEGFLOW_EDITOR_TOKEN", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    return at


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda t: t.replace("path: assets/samples/coins.png", "path: assets/samples/nothing.png"),
         ["The source 'photo' is not valid yet", "nothing.png"]),
        (lambda t: t.replace("type: measure.masks", "type: measure.maskz"),
         ["The source is fine, but 1 error(s) in 'measure'", "fix them"]),
    ],
)
def test_no_source_to_run_on_says_which_node_is_wrong(workspace, change, words):
    from segflow.ui.editor import Editor
    from segflow.ui.workspace import Workspace

    editor = Editor(Workspace(workspace), default_registry())
    editor.open("workflows/coins.yaml")
    assert editor.set_yaml(change(editor.state.to_yaml()))
    assert editor.validation().graph is None
    reason = editor.why_no_source()
    assert all(w in reason for w in words), reason


def test_the_run_tab_names_the_wrong_node_not_the_source(monkeypatch, workspace):
    at = app(monkeypatch, workspace)
    text = yaml_area(at).value
    yaml_area(at).set_value(text.replace("type: measure.masks", "type: measure.maskz")).run()
    infos = "\n".join(str(e.value) for e in at.info)
    assert "The source is fine, but 1 error(s) in 'measure'" in infos and "no valid source" not in infos
