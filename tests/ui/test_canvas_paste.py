"""Copy, paste and duplicate: new unique ids, params kept, edges among the copies rewired."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from segflow.engine.registry import default_registry
from segflow.engine.workflow.validate import validate_text
from segflow.ui import canvas
from segflow.ui.editor import Editor
from segflow.ui.placement import overlaps
from segflow.ui.state import PASTE_OFFSET, EditorState
from segflow.ui.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
COINS = (ROOT / "workflows" / "coins.yaml").read_text()
PLAIN = yaml.safe_load(COINS)["nodes"]


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def test_paste_gives_new_ids_keeps_params_and_rewires_inner_edges(registry):
    state = EditorState.from_yaml(COINS)
    before = state.layout()
    clip = state.copy_nodes(["coins", "measure"])
    new = state.paste(clip)
    assert new == ["coins2", "measure2"]
    nodes = yaml.safe_load(state.to_yaml())["nodes"]
    assert nodes["coins2"]["params"] == PLAIN["coins"]["params"]
    assert nodes["measure2"]["params"] == PLAIN["measure"]["params"]
    assert nodes["measure2"]["inputs"] == {"detections": "coins2.detections"}  # the edge inside the copy
    assert nodes["coins2"]["inputs"] == {"image": "photo.image"}  # an input from outside stays wired
    assert {k: nodes[k] for k in PLAIN} == PLAIN  # the originals untouched
    layout = state.layout()
    # The copies keep their places relative to each other, shifted from the originals by
    # PASTE_OFFSET and then further down as far as needed to cover no node.
    shifts = {(layout[copy][0] - before[old][0], layout[copy][1] - before[old][1])
              for old, copy in (("coins", "coins2"), ("measure", "measure2"))}
    assert len(shifts) == 1
    (dx, dy), = shifts
    assert dx == PASTE_OFFSET[0] and dy > PASTE_OFFSET[1]  # 40 px down would cover the originals
    assert not any(overlaps(layout[copy], [xy for k, xy in layout.items() if k not in new]) for copy in new)
    assert validate_text(state.to_yaml(), "t.yaml", registry).ok
    assert state.paste(clip) == ["coins3", "measure3"]  # a second paste: ids still unique


def test_paste_at_a_point_keeps_the_copies_relative_layout():
    state = EditorState.from_yaml(COINS)
    state.move("coins", 100, 100)
    state.move("measure", 400, 160)
    new = state.paste(state.copy_nodes(["coins", "measure"]), at=(1000, 800))
    layout = state.layout()
    assert layout[new[0]] == (1000.0, 800.0) and layout[new[1]] == (1300.0, 860.0)


def test_inputs_from_nodes_missing_in_the_target_are_dropped(registry):
    clip = EditorState.from_yaml(COINS).copy_nodes(["measure", "colour"])
    other = EditorState.new("other")
    new = other.paste(clip)
    nodes = yaml.safe_load(other.to_yaml())["nodes"]
    assert new == ["measure", "colour"]  # free ids in a workflow that lacks them
    assert "inputs" not in nodes["measure"]  # read from 'coins', which is not here
    assert nodes["colour"]["inputs"] == {"detections": "measure.detections"}  # 'photo.image' dropped


def test_duplicate_and_paste_through_canvas_events(tmp_path, registry):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "coins.yaml").write_text(COINS)
    editor = Editor(Workspace(tmp_path), registry)
    editor.open("workflows/coins.yaml")
    message, error = canvas.handle(editor, {"action": "duplicate", "nodes": ["label"]})
    assert not error and "label2" in message and editor.selected == "label2"
    assert editor.state.node("label2").params == PLAIN["label"]["params"]
    assert canvas.handle(editor, {"action": "paste"}) == ("nothing copied yet", False)
    canvas.handle(editor, {"action": "copy", "nodes": ["photo"]})
    canvas.handle(editor, {"action": "delete", "node": "photo"})
    message, _ = canvas.handle(editor, {"action": "paste", "x": 50, "y": 60})  # a cut, then paste
    assert message == "pasted photo"
    assert editor.state.layout()["photo"] == (50.0, 60.0)
    assert editor.state.node("photo").params == PLAIN["photo"]["params"]
