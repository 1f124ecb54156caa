"""Canvas values: batches of unconfirmed events are applied once each, in order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from segflow.engine.registry import default_registry
from segflow.ui import canvas
from segflow.ui.editor import Editor
from segflow.ui.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def editor(tmp_path) -> Editor:
    (tmp_path / "workflows").mkdir()
    shutil.copy(ROOT / "workflows" / "coins.yaml", tmp_path / "workflows" / "coins.yaml")
    ed = Editor(Workspace(tmp_path), default_registry())
    ed.open("workflows/coins.yaml")
    return ed


def test_a_batch_resent_after_a_lost_value_applies_each_event_once(editor):
    first = {"seq": 1.0, "action": "move", "node": "coins", "x": 500, "y": 500}
    second = {"seq": 2.0, "action": "add", "type": "debug.invert", "x": 900, "y": 900}
    # The first value was handled; the second arrives carrying both (the canvas had no echo yet).
    message, error, handled = canvas.handle_value(editor, {"action": "batch", "events": [first]}, None)
    assert handled == 1.0 and not error
    message, error, handled = canvas.handle_value(editor, {"action": "batch", "events": [first, second]}, handled)
    assert handled == 2.0 and message == "added 'invert'"
    assert editor.state.node_ids().count("invert") == 1 and "invert2" not in editor.state.node_ids()
    # A value Streamlit replaced before it was handled: its events come in the next batch, none lost.
    third = {"seq": 3.0, "action": "delete", "node": "invert"}
    fourth = {"seq": 4.0, "action": "move", "node": "photo", "x": 7, "y": 8}
    message, error, handled = canvas.handle_value(editor, {"action": "batch", "events": [third, fourth]}, handled)
    assert handled == 4.0 and "invert" not in editor.state.node_ids()
    assert editor.state.layout()["photo"] == (7.0, 8.0) and editor.state.layout()["coins"] == (500.0, 500.0)
    # Four edits, four undo steps.
    for _ in range(4):
        assert editor.undo()
    assert not editor.can_undo


def test_a_single_event_and_an_unknown_one(editor):
    assert canvas.handle_value(editor, {"seq": 5, "action": "select", "node": "label"}, None) == ("", False, 5)
    assert editor.selected == "label"
    message, error, _ = canvas.handle_value(editor, {"seq": 6, "action": "explode"}, 5)
    assert error and "unknown canvas action 'explode'" in message
