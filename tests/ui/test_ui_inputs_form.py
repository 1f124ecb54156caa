"""The Run tab's form for a workflow's declared inputs, through ``AppTest``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "segflow" / "ui" / "app.py")
WORKFLOW = """\
version: 1
name: tray
inputs:
  photo: {kind: image}
  area: {kind: integer, default: 50, min: 0, description: smallest part in pixels}
  zone: {kind: polygon}
nodes:
  parts:
    type: detect.threshold
    params: {channel: s, method: fixed, threshold: 100, min_area: $inputs.area}
    inputs: {image: $inputs.photo}
  in_zone:
    type: zone.count
    params: {polygon: $inputs.zone, anchors: [center]}
    inputs: {detections: parts.detections}
"""


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "tray.yaml").write_text(WORKFLOW)
    os.symlink(ROOT / "assets", tmp_path / "assets")
    monkeypatch.setenv("SEGFLOW_EDITOR_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("SEGFLOW_EDITOR_FILE", "workflows/tray.yaml")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_form_offers_each_declared_input_and_the_run_uses_its_values(app):
    app.radio(key="run_mode").set_value("Sample").run()
    app.selectbox(key="run_sample").set_value("assets/samples/tray.png").run()
    assert app.number_input(key="wf_input_area").value == 50
    assert app.text_area(key="wf_input_zone").value == ""
    assert not any(w.key == "wf_input_photo" for w in app.text_area)  # the picked frame is the image
    viewer = app.session_state["viewer_server"].viewer
    assert "input 'zone' (polygon) is required" in viewer.run().error  # the frame view shows it

    app.text_area(key="wf_input_zone").set_value("[[0, 0], [640, 0], [640, 480], [0, 480]]")
    app.number_input(key="wf_input_area").set_value(60)
    app.button(key="FormSubmitter:workflow_inputs-Set inputs").click().run()
    painted = viewer.run()
    assert not painted.error and painted.jpeg, painted.error
    outcome = app.session_state["editor"].last_run
    assert outcome.graph.nodes["parts"].params.min_area == 60
    assert outcome.result.outputs["in_zone"]["value"]["count"] == 12  # every part of the sample is in the frame
