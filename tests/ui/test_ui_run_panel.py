"""The Run tab through ``AppTest``: auto-run on step, play started, restarted by an edit, stopped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "segflow" / "ui" / "app.py")
BELT = """\
version: 1
name: belt
nodes:
  belt: {type: source.video, params: {path: assets/samples/conveyor.mp4}}
  stats: {type: debug.stats, inputs: {image: belt.image}}
  dim: {type: debug.invert, inputs: {image: belt.image}}
"""


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "belt.yaml").write_text(BELT)
    os.symlink(ROOT / "assets", tmp_path / "assets")
    monkeypatch.setenv("SEGFLOW_EDITOR_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("SEGFLOW_EDITOR_FILE", "workflows/belt.yaml")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    yield at
    player = at.session_state["player"] if "player" in at.session_state else None
    if player is not None:
        player.stop()


def captions(at: AppTest) -> str:
    return "\n".join(str(c.value) for c in at.caption)


def test_a_step_runs_the_new_frame_without_pressing_run(app):
    assert "node(s) ran" not in captions(app)  # nothing runs by itself on opening
    app.button(key="frame_next").click().run()
    assert "Input: belt frame 1 — 3 node(s) ran" in captions(app)
    app.button(key="frame_next").click().run()
    assert "Input: belt frame 2 — 3 node(s) ran" in captions(app)
    app.toggle(key="run_auto").set_value(False).run()
    app.button(key="frame_next").click().run()
    assert "Input: belt frame 2 —" in captions(app)  # auto-run off: the last run stays


def test_play_restarts_on_an_edit_and_stop_closes(app):
    app.button(key="play_btn").click().run()
    first = app.session_state["player"]
    assert first.graph.nodes["stats"] is not None and app.button(key="play_btn").label == "■ Stop"
    text = app.text_area(key="yaml_text").value
    app.text_area(key="yaml_text").set_value(text.replace("  dim: {type: debug.invert, inputs: {image: belt.image}}\n",
                                                          "")).run()
    second = app.session_state["player"]
    assert second is not first and not first.running and first.session.live_nodes == {}
    assert "dim" not in second.graph.nodes  # play goes on with the edited graph
    app.button(key="play_btn").click().run()
    assert "player" not in app.session_state and not second.running and second.session.live_nodes == {}
    assert app.button(key="play_btn").label == "▶ Play"


def test_results_columns_are_picked_and_remembered(tmp_path, monkeypatch):
    import shutil

    (tmp_path / "workflows").mkdir()
    shutil.copy(ROOT / "workflows" / "coins.yaml", tmp_path / "workflows" / "coins.yaml")
    os.symlink(ROOT / "assets", tmp_path / "assets")
    monkeypatch.setenv("SEGFLOW_EDITOR_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("SEGFLOW_EDITOR_FILE", "workflows/coins.yaml")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.button(key="run_btn").click().run()
    table = at.dataframe[0].value
    first = list(table.columns)
    assert first[:2] == ["#", "class_name"] and "x1" not in first  # boxes are not in the default pick
    picker = [m for m in at.multiselect if m.key.startswith("columns:")][0]
    assert picker.options[-1] in ("mask_px", "mm_per_px", "mm_per_px_u", "tracker_id", "class_id", "y2")
    picker.set_value(["x1", "length_mm"]).run()
    assert list(at.dataframe[0].value.columns) == ["length_mm", "x1"]  # in table order
    at.selectbox(key="node_pick").set_value("coins").run()  # another selection; the table's node is the same
    at.button(key="run_btn").click().run()
    assert list(at.dataframe[0].value.columns) == ["length_mm", "x1"]  # remembered
