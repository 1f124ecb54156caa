"""Positions: stable across edits, kept in a side file (the YAML untouched) or, if asked, in the YAML."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
import yaml

from segflow.engine.registry import default_registry
from segflow.ui import canvas, layout_file
from segflow.ui.editor import Editor
from segflow.ui.placement import NODE_H, NODE_W
from segflow.ui.state import EditorState
from segflow.ui.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
COINS = ROOT / "workflows" / "coins.yaml"


@pytest.fixture(scope="module")
def registry():
    return default_registry()


@pytest.fixture
def workspace(tmp_path) -> Path:
    (tmp_path / "workflows").mkdir()
    shutil.copy(COINS, tmp_path / "workflows" / "coins.yaml")
    return tmp_path


def opened(workspace: Path, registry, path: str = "workflows/coins.yaml") -> Editor:
    editor = Editor(Workspace(workspace), registry)
    editor.open(path)
    return editor


def test_side_file_round_trip_leaves_the_yaml_byte_identical(workspace, registry):
    original = (workspace / "workflows" / "coins.yaml").read_bytes()
    editor = opened(workspace, registry)
    assert not editor.dirty and not editor.state.layout_in_yaml
    canvas.handle(editor, {"action": "move", "node": "measure", "x": 612, "y": 344})
    assert editor.state.to_yaml().encode() == original
    assert editor.dirty  # only the layout changed, and that is still worth saving
    editor.save()
    assert (workspace / "workflows" / "coins.yaml").read_bytes() == original
    side = json.loads((workspace / "workflows" / "coins.layout.json").read_text())
    assert side["positions"]["measure"] == [612, 344]
    assert set(side["positions"]) == set(yaml.safe_load(original)["nodes"])
    assert not editor.dirty

    again = opened(workspace, registry)
    assert again.state.layout()["measure"] == (612.0, 344.0)
    assert again.state.layout() == editor.state.layout()
    assert not again.dirty


def test_side_file_gets_ordinary_permissions(workspace, registry):
    editor = opened(workspace, registry)
    canvas.handle(editor, {"action": "move", "node": "measure", "x": 1, "y": 1})
    old = os.umask(0o022)
    try:
        editor.save()
    finally:
        os.umask(old)
    mode = stat.S_IMODE((workspace / "workflows" / "coins.layout.json").stat().st_mode)
    assert mode == 0o644


def test_unreadable_side_file_means_a_fresh_layout(workspace, registry):
    (workspace / "workflows" / "coins.layout.json").write_text("{not json")
    editor = opened(workspace, registry)
    assert set(editor.state.layout()) == set(editor.state.node_ids())
    assert layout_file.side_path("a/b.yml") == "a/b.layout.json"


def test_a_file_with_ui_positions_keeps_them_in_the_yaml(workspace, registry):
    text = COINS.read_text() + "ui:\n  positions:\n    photo: [10, 20]\n"
    (workspace / "workflows" / "placed.yaml").write_text(text)
    editor = opened(workspace, registry, "workflows/placed.yaml")
    assert editor.state.layout_in_yaml
    assert editor.state.layout()["photo"] == (10.0, 20.0)
    canvas.handle(editor, {"action": "move", "node": "photo", "x": 30, "y": 40})
    editor.save()
    saved = (workspace / "workflows" / "placed.yaml").read_text()
    assert saved.startswith(COINS.read_text())  # the workflow part untouched
    assert yaml.safe_load(saved)["ui"]["positions"]["photo"] == [30, 40]
    assert not (workspace / "workflows" / "placed.layout.json").exists()


def test_toggle_moves_positions_into_the_yaml_and_back_out(workspace, registry):
    original = COINS.read_text()
    editor = opened(workspace, registry)
    canvas.handle(editor, {"action": "move", "node": "coins", "x": 400, "y": 222})
    where = editor.state.layout()
    editor.set_layout_in_yaml(True)
    plain = yaml.safe_load(editor.state.to_yaml())
    assert plain["ui"]["positions"]["coins"] == [400, 222]
    assert {k: v for k, v in plain.items() if k != "ui"} == yaml.safe_load(original)
    assert editor.state.layout() == where
    editor.set_layout_in_yaml(False)
    assert editor.state.to_yaml() == original
    assert editor.state.layout() == where


def test_adding_and_deleting_nodes_never_moves_the_others(workspace, registry):
    editor = opened(workspace, registry)
    before = editor.state.layout()
    new_id = editor.add_node("filter.detections")  # no position given
    after_add = editor.state.layout()
    assert {k: after_add[k] for k in before} == before
    x, y = after_add[new_id]
    assert all(abs(x - ox) >= NODE_W or abs(y - oy) >= NODE_H for ox, oy in before.values())
    canvas.handle(editor, {"action": "delete", "node": "coins"})
    after_delete = editor.state.layout()
    assert {k: v for k, v in after_add.items() if k != "coins"} == after_delete
    # A node written into the YAML text gets a place of its own and moves nobody.
    text = editor.state.to_yaml().replace("nodes:\n", "nodes:\n  extra:\n    type: debug.invert\n"
                                          "    inputs: {image: photo.image}\n", 1)
    assert editor.set_yaml(text)
    after_text = editor.state.layout()
    assert {k: v for k, v in after_text.items() if k != "extra"} == after_delete
    ex, ey = after_text["extra"]
    assert all(abs(ex - ox) >= NODE_W or abs(ey - oy) >= NODE_H for ox, oy in after_delete.values())


def test_node_added_from_the_canvas_lands_where_asked(workspace, registry):
    editor = opened(workspace, registry)
    canvas.handle(editor, {"action": "add", "type": "debug.stats", "x": 1234, "y": 567})
    assert editor.selected == "stats"
    assert editor.state.layout()["stats"] == (1234.0, 567.0)


def test_bare_state_keeps_positions_under_ui_as_before(registry):
    state = EditorState.from_yaml(COINS.read_text())
    state.move("coins", 5, 6)
    assert yaml.safe_load(state.to_yaml())["ui"]["positions"]["coins"] == [5, 6]
