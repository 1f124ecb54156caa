"""Undo and redo in the Editor: every kind of edit is one step back and one step forward.

The reference for "before" is the file on disk and positions read before the edit, never
what undo itself produces; each row also checks the edit really changed something.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from segflow.engine.registry import default_registry
from segflow.ui import canvas
from segflow.ui.editor import Editor
from segflow.ui.history import History, Snapshot
from segflow.ui.state import Edge
from segflow.ui.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def registry():
    return default_registry()


@pytest.fixture
def editor(tmp_path, registry) -> Editor:
    (tmp_path / "workflows").mkdir()
    shutil.copy(ROOT / "workflows" / "coins.yaml", tmp_path / "workflows" / "coins.yaml")
    ed = Editor(Workspace(tmp_path), registry)
    ed.open("workflows/coins.yaml")
    return ed


def _params(ed: Editor) -> None:  # what the params form does: change the state, then changed()
    ed.state.set_params("coins", {"blur": 9})
    ed.changed()


def _yaml(ed: Editor) -> None:
    assert ed.set_yaml(ed.state.to_yaml().replace("threshold: 25", "threshold: 30"))


EDITS: list[tuple[str, Callable[[Editor], object]]] = [
    ("add", lambda ed: canvas.handle(ed, {"action": "add", "type": "debug.invert", "x": 500, "y": 600})),
    ("delete", lambda ed: canvas.handle(ed, {"action": "delete", "node": "measure"})),
    ("delete-many", lambda ed: canvas.handle(ed, {"action": "delete", "nodes": ["measure", "colour"]})),
    ("wire", lambda ed: canvas.handle(ed, {"action": "connect", "src": "coins", "src_port": "detections",
                                           "dst": "colour", "dst_port": "detections"})),
    ("unwire", lambda ed: canvas.handle(ed, {"action": "disconnect", "src": "photo", "src_port": "image",
                                             "dst": "label", "dst_port": "image"})),
    ("move", lambda ed: canvas.handle(ed, {"action": "move", "node": "coins", "x": 777, "y": 333})),
    ("params", _params),
    ("rename", lambda ed: ed.edit("rename_node", "coins", "find")),
    ("yaml-text", _yaml),
    ("paste", lambda ed: (ed.copy(["coins", "measure"]), ed.paste())),
    ("duplicate", lambda ed: canvas.handle(ed, {"action": "duplicate", "nodes": ["label"]})),
    ("layout-toggle", lambda ed: ed.set_layout_in_yaml(True)),
]


@pytest.mark.parametrize(("kind", "edit"), EDITS, ids=[e[0] for e in EDITS])
def test_each_edit_is_undone_and_redone(editor, kind, edit):
    original = (ROOT / "workflows" / "coins.yaml").read_text()
    layout_before = editor.state.layout()
    assert not editor.can_undo
    edit(editor)
    after_text, layout_after = editor.state.to_yaml(), editor.state.layout()
    assert (after_text, layout_after) != (original, layout_before), f"the {kind} edit changed nothing"
    assert editor.can_undo and not editor.can_redo

    assert editor.undo()
    assert editor.state.to_yaml() == original  # byte for byte the file on disk
    assert editor.state.layout() == layout_before
    assert not editor.can_undo and editor.can_redo

    assert editor.redo()
    assert editor.state.to_yaml() == after_text
    assert editor.state.layout() == layout_after
    assert not editor.can_redo


def test_undo_of_a_delete_brings_back_params_edges_and_place(editor):
    plain = yaml.safe_load((ROOT / "workflows" / "coins.yaml").read_text())["nodes"]
    where = editor.state.layout()["measure"]
    canvas.handle(editor, {"action": "delete", "node": "measure"})
    assert "measure" not in editor.state.node_ids()
    assert not any("measure" in (e.src, e.dst) for e in editor.state.edges())
    message, error = canvas.handle(editor, {"action": "undo"})
    assert not error
    node = editor.state.node("measure")
    assert node.params == plain["measure"]["params"]
    assert node.inputs == {"detections": ["coins.detections"]}
    assert Edge("measure", "detections", "colour", "detections") in editor.state.edges()
    assert editor.state.layout()["measure"] == where
    assert editor.selected == "measure"  # the restored node is the one shown


def test_a_new_edit_after_undo_drops_the_redo_branch(editor):
    canvas.handle(editor, {"action": "move", "node": "coins", "x": 500, "y": 500})
    canvas.handle(editor, {"action": "move", "node": "coins", "x": 600, "y": 600})
    editor.undo()
    assert editor.state.layout()["coins"] == (500.0, 500.0)
    canvas.handle(editor, {"action": "move", "node": "photo", "x": 10, "y": 900})
    assert not editor.can_redo
    editor.undo()
    editor.undo()
    assert editor.state.layout()["coins"] != (500.0, 500.0) and not editor.can_undo


def test_selection_alone_and_a_refused_edge_are_no_undo_steps(editor):
    canvas.handle(editor, {"action": "select", "node": "colour"})
    message, error = canvas.handle(editor, {"action": "connect", "src": "coins", "src_port": "detections",
                                            "dst": "label", "dst_port": "image"})
    assert error and "cannot connect detections output" in message
    assert editor.selected == "colour" and not editor.can_undo


def test_undo_and_redo_with_nothing_to_do_say_so(editor):
    assert canvas.handle(editor, {"action": "undo"}) == ("nothing to undo", False)
    assert canvas.handle(editor, {"action": "redo"}) == ("nothing to redo", False)


def test_history_is_bounded_and_keeps_the_newest():
    history = History(limit=5)
    history.reset(Snapshot("0"))
    for i in range(1, 12):
        assert history.record(Snapshot(str(i)))
    assert not history.record(Snapshot("11"))  # the same document again: no step
    assert len(history) == 5
    seen = []
    while (snap := history.undo()) is not None:
        seen.append(snap.text)
    assert seen == ["10", "9", "8", "7"]


def test_payload_tells_the_canvas_whether_undo_and_redo_can_go_anywhere(editor):
    first = canvas.editor_payload(editor, [])
    assert (first["can_undo"], first["can_redo"]) == (False, False)
    canvas.handle(editor, {"action": "move", "node": "coins", "x": 1, "y": 2})
    assert canvas.editor_payload(editor, [])["can_undo"] is True
    editor.undo()
    second = canvas.editor_payload(editor, [])
    assert (second["can_undo"], second["can_redo"]) == (False, True)
