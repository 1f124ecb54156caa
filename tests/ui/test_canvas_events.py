"""Canvas values: batches of unconfirmed events are applied once each, in order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from segflow.engine.registry import default_registry
from segflow.engine.workflow.issues import Issue, Location
from segflow.ui import canvas
from segflow.ui.editor import Editor
from segflow.ui.placement import overlaps
from segflow.ui.state import GRID_X
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


def test_an_add_resent_after_the_sessions_mark_was_lost_is_not_applied_again(editor):
    """The session's mark (``handled``) may fall behind what was applied; the editor's own does not.

    A quick add was once drawn twice on a loaded CI machine (13 nodes for 12): replayed with
    no mark, the same add would make a second node.
    """
    add = {"seq": 5.0, "action": "add", "type": "debug.noop", "x": 900, "y": 900}
    before = len(editor.state.node_ids())
    canvas.handle_value(editor, {"action": "batch", "events": [add]}, None)
    message, error, handled = canvas.handle_value(editor, {"action": "batch", "events": [add]}, None)
    assert len(editor.state.node_ids()) == before + 1 and handled == 5.0 and message == ""


def test_a_single_event_and_an_unknown_one(editor):
    assert canvas.handle_value(editor, {"seq": 5, "action": "select", "node": "label"}, None) == ("", False, 5)
    assert editor.selected == "label"
    message, error, _ = canvas.handle_value(editor, {"seq": 6, "action": "explode"}, 5)
    assert error and "unknown canvas action 'explode'" in message


@pytest.mark.parametrize(("wire", "type_name", "edge"), [
    # from an output: the new node's input of that kind (the same name first) takes it
    ({"node": "photo", "port": "image", "side": "out"}, "debug.invert", ("photo", "image", "{new}", "image")),
    ({"node": "coins", "port": "detections", "side": "out"}, "annotate.detections",
     ("coins", "detections", "{new}", "detections")),
    # from an input: the new node's output of that kind feeds it
    ({"node": "label", "port": "image", "side": "in"}, "debug.invert", ("{new}", "image", "label", "image")),
])
def test_a_wire_dropped_on_the_canvas_adds_a_wired_node_in_one_undo_step(editor, wire, type_name, edge):
    before = (editor.state.node_ids(), editor.state.edges())
    message, error, _ = canvas.handle_value(editor, {"seq": 1, "action": "add", "type": type_name,
                                                     "x": 900, "y": 60, "wire": wire}, None)
    assert not error, message
    new = editor.selected
    assert new not in before[0] and editor.state.layout()[new] == (900.0, 60.0)
    src, src_port, dst, dst_port = (part.format(new=new) for part in edge)
    assert any((e.src, e.src_port, e.dst, e.dst_port) == (src, src_port, dst, dst_port) for e in editor.state.edges())
    assert message.startswith(f"added '{new}', wired {src}.{src_port} -> {dst}.{dst_port}")
    assert editor.undo()  # node and edge go together
    assert (editor.state.node_ids(), editor.state.edges()) == before


@pytest.mark.parametrize(("wire", "type_name", "expected"), [
    ({"node": "photo", "port": "image", "side": "out"}, "filter.detections",
     "filter.detections has no image input to wire"),
    ({"node": "photo", "port": "nope", "side": "out"}, "debug.invert", "node 'photo' has no output 'nope'"),
    ({"node": "ghost", "port": "image", "side": "out"}, "debug.invert", "no node 'ghost'"),
    ({"node": "photo", "port": "image", "side": "out"}, "detect.nothing", "unknown node type 'detect.nothing'"),
])
def test_a_wired_add_that_cannot_fit_is_refused_and_adds_nothing(editor, wire, type_name, expected):
    before = editor.state.node_ids()
    message, error, _ = canvas.handle_value(editor, {"seq": 1, "action": "add", "type": type_name, "wire": wire}, None)
    assert error and expected in message
    assert editor.state.node_ids() == before and not editor.can_undo


def test_the_payload_lists_every_problem_with_its_node_and_each_types_port_kinds(editor):
    editor.add_node("detect.yolo", (900.0, 60.0))  # no model, no input: problems on 'yolo'
    payload = canvas.editor_payload(editor, editor.validation().issues)
    problems = [p for p in payload["problems"] if p["node"] == "yolo"]
    assert any("missing required param 'model'" in p["text"] and p["error"] for p in problems)
    assert any("no input is wired" in p["text"] and "hint: wire one of: image" in p["text"] for p in problems)
    assert all(p["text"].startswith("workflows/coins.yaml:") for p in problems)  # file:line:col, as the CLI says
    kinds = {t["type"]: t for t in payload["types"]}
    assert kinds["annotate.detections"]["inputs"] == ["detections", "image"]
    assert kinds["sink.jsonl"]["outputs"] == []


def test_a_secret_in_a_problem_is_masked_on_the_node_and_in_the_panel(editor):
    issue = Issue("source", "cannot open rtsp://op:hunter2@cam/1", Location("workflows/coins.yaml", 11, 5), "photo")
    payload = canvas.editor_payload(editor, [issue])
    on_node = next(n for n in payload["nodes"] if n["id"] == "photo")["issues"]
    assert on_node == ["cannot open rtsp://op:***@cam/1"]
    assert payload["problems"][0]["text"] == "workflows/coins.yaml:11:5: node 'photo': cannot open rtsp://op:***@cam/1"


def test_a_node_added_without_a_place_lands_right_of_the_selected_one_on_no_node(editor):
    editor.selected = "coins"
    x, y = editor.state.layout()["coins"]
    first = editor.add_node("debug.invert")
    editor.selected = "coins"
    second = editor.add_node("debug.invert")
    layout = editor.state.layout()
    assert layout[first][0] == x + GRID_X and layout[first][1] >= y
    assert layout[second][0] >= x + GRID_X and layout[second] != layout[first]
    for new in (first, second):
        assert not overlaps(layout[new], [xy for k, xy in layout.items() if k != new])
