"""EditorState and the YAML round trip: exact text back, edits touch only their lines."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml

from segflow.engine.registry import default_registry
from segflow.engine.workflow.validate import validate_text
from segflow.ui.state import Edge, EditError, EditorState
from segflow.ui.yaml_roundtrip import YamlParseError

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = sorted((ROOT / "workflows").glob("*.yaml"))
COINS = (ROOT / "workflows" / "coins.yaml").read_text()


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.fixture(scope="module")
def registry():
    return default_registry()


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_workflow_round_trips_exactly(path):
    text = path.read_text()
    state = EditorState.from_yaml(text)
    assert state.to_yaml() == text
    plain = yaml.safe_load(text)
    assert state.node_ids() == list(plain["nodes"])
    refs = sorted((dst, port, ref) for dst, spec in plain["nodes"].items()
                  for port, value in (spec.get("inputs") or {}).items()
                  for ref in (value if isinstance(value, list) else [value]))
    assert sorted((e.dst, e.dst_port, e.ref) for e in state.edges()) == refs


def test_set_params_changes_only_that_line_and_keeps_comments():
    state = EditorState.from_yaml(COINS)
    state.set_params("coins", {"blur": 7, "offset": -15})  # offset unchanged: not rewritten
    diff = changed_lines(COINS, state.to_yaml())
    assert diff == ["-      blur: 5", "+      blur: 7"]
    assert "# brighter than the local mean by 15 grey levels" in state.to_yaml()


def test_new_param_in_flow_mapping_and_nested_value():
    state = EditorState.from_yaml(COINS)
    state.set_params("photo", {"loop": True})
    state.set_params("measure", {"scale": {"mode": "fixed", "mm_per_px": 0.5}})
    out = state.to_yaml()
    assert "params: {path: assets/samples/coins.png, loop: true}" in out
    assert "scale: {mode: fixed, mm_per_px: 0.5}" in out
    assert "# No ruler in this photo" in out  # the comment above the changed key survives
    assert yaml.safe_load(out)["nodes"]["measure"]["params"]["scale"] == {"mode": "fixed", "mm_per_px": 0.5}


def test_positions_go_under_ui_and_the_engine_ignores_them(registry):
    state = EditorState.from_yaml(COINS)
    state.move("coins", 300, 120)
    out = state.to_yaml()
    assert out.startswith(COINS)  # everything above the new ui: block is untouched
    positions = yaml.safe_load(out)["ui"]["positions"]
    assert positions["coins"] == [300, 120] and set(positions) == set(state.node_ids())
    assert validate_text(out, "coins.yaml", registry).ok
    assert EditorState.from_yaml(out).positions()["coins"] == (300.0, 120.0)


@pytest.mark.parametrize(
    ("edge", "error"),
    [
        (Edge("coins", "detections", "label", "image"), "cannot connect detections output 'coins.detections' "
                                                        "to image input 'label.image'"),
        (Edge("photo", "image", "measure", "detections"), "image output 'photo.image' to detections input"),
        (Edge("colour", "detections", "coins", "image"), "detections"),
        (Edge("label", "image", "photo", "image"), "has no input 'image'"),
        (Edge("measure", "detections", "coins", "detections"), "has no input 'detections'"),
        (Edge("ghost", "image", "coins", "image"), "no node 'ghost'"),
        (Edge("label", "image", "coins", "image"), "would make a cycle"),
    ],
)
def test_connect_refuses_bad_edges(registry, edge, error):
    state = EditorState.from_yaml(COINS)
    with pytest.raises(EditError, match=error.replace("(", r"\(").replace(")", r"\)")):
        state.connect(edge, registry)
    assert state.to_yaml() == COINS


def test_add_wire_disconnect_remove_and_validate(registry):
    state = EditorState.from_yaml(COINS)
    node_id = state.add_node("filter.detections", registry)
    assert node_id == "detections"  # named after the type's last part
    state.connect(Edge("measure", "detections", node_id, "detections"), registry)
    state.disconnect(Edge("measure", "detections", "colour", "detections"))
    state.connect(Edge(node_id, "detections", "colour", "detections"), registry)
    result = validate_text(state.to_yaml(), "t.yaml", registry)
    assert result.ok, [i.format() for i in result.issues]
    assert "colour" in result.graph.downstream(node_id)
    state.remove_node(node_id)
    issues = validate_text(state.to_yaml(), "t.yaml", registry).issues
    assert any(i.node == "colour" and i.code == "input.missing" for i in issues)
    assert node_id not in yaml.safe_load(state.to_yaml())["ui"]["positions"]


def test_added_node_with_required_params_is_flagged_by_validation(registry):
    state = EditorState.from_yaml(COINS)
    node_id = state.add_node("detect.yolo", registry)
    state.connect(Edge("photo", "image", node_id, "image"), registry)
    issues = [i for i in validate_text(state.to_yaml(), "t.yaml", registry).issues if i.node == node_id]
    assert issues and issues[0].field == "model"


def test_rename_updates_references_and_positions(registry):
    state = EditorState.from_yaml(COINS)
    state.move("coins", 10, 10)
    state.rename_node("coins", "find")
    plain = yaml.safe_load(state.to_yaml())
    assert list(plain["nodes"])[1] == "find"
    assert plain["nodes"]["measure"]["inputs"] == {"detections": "find.detections"}
    assert "find" in plain["ui"]["positions"] and "coins" not in plain["ui"]["positions"]
    assert validate_text(state.to_yaml(), "t.yaml", registry).ok
    with pytest.raises(EditError, match="already exists"):
        state.rename_node("find", "photo")
    with pytest.raises(EditError, match="letters, digits"):
        state.rename_node("find", "a.b")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("version: 1\nname: x\nnodes:\n  a: {type: b\n", 5, "expected ',' or '}'"),
        ("version: 1\nname: x\nname: y\nnodes: {}\n", 3, "duplicate key 'name'"),
        ("version: 1\nname: !!python/object:os.system x\n", 2, "tag"),
        ("version: 1\nnodes:\n\t a: 1\n", 3, "found character"),
        ("version: 1\nname: x\nnodes: {}\n", None, ""),
        ("# only a comment\n", None, ""),
    ],
)
def test_parse_errors_carry_line_numbers(text, line, words):
    if line is None:
        assert EditorState.from_yaml(text).to_yaml() == text
        return
    with pytest.raises(YamlParseError) as info:
        EditorState.from_yaml(text)
    problem = info.value.problems[0]
    assert problem.line == line
    assert words in problem.message or words in problem.format()


def test_layout_places_every_node_in_reading_order():
    state = EditorState.from_yaml(COINS)
    layout = state.layout()
    assert set(layout) == set(state.node_ids())
    # left to right, and a long pipeline continues in a band below (like lines of text)
    reading = {k: (y, x) for k, (x, y) in layout.items()}
    assert reading["photo"] < reading["coins"] < reading["measure"] < reading["label"]
    assert len(set(layout.values())) == len(layout)  # no two nodes on the same spot


MULTILINE = """version: 1
name: m
nodes:
  cam: {type: source.test_pattern}
  objects:
    type: detect.threshold
    params: {channel: gray, blur: 3,
             min_area: 80}   # a flow mapping over two lines
    inputs: {image: cam.image}
  tail:
    type: annotate.detections
    params: {thickness: 2}
    inputs: {image: cam.image, detections: objects.detections}
"""


def test_edit_elsewhere_keeps_a_multiline_flow_mapping():
    state = EditorState.from_yaml(MULTILINE)
    assert state.to_yaml() == MULTILINE
    state.set_params("tail", {"thickness": 3})
    assert changed_lines(MULTILINE, state.to_yaml()) == ["-    params: {thickness: 2}", "+    params: {thickness: 3}"]


def test_edit_inside_a_multiline_flow_mapping_reflows_only_it():
    state = EditorState.from_yaml(MULTILINE)
    state.set_params("objects", {"blur": 5})
    out = state.to_yaml()
    assert yaml.safe_load(out)["nodes"]["objects"]["params"] == {"channel": "gray", "blur": 5, "min_area": 80}
    assert "# a flow mapping over two lines" in out
    removed = [line for line in changed_lines(MULTILINE, out) if line.startswith("-")]
    assert removed == ["-    params: {channel: gray, blur: 3,",
                       "-             min_area: 80}   # a flow mapping over two lines"]


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_workflow_survives_an_edit_that_goes_through_the_serializer(path):
    """Moving every node forces a real dump and merge: the workflow itself must come out unchanged."""
    text = path.read_text()
    state = EditorState.from_yaml(text)
    for i, node_id in enumerate(state.node_ids()):
        state.move(node_id, 40.0 * i, 10.0 * i)
    edited = state.to_yaml()
    assert edited != text
    before, after = yaml.safe_load(text), yaml.safe_load(edited)
    assert {k: v for k, v in after.items() if k != "ui"} == {k: v for k, v in before.items() if k != "ui"}
    assert set(after["ui"]["positions"]) == set(before["nodes"])
    assert EditorState.from_yaml(edited).positions() == state.positions()


@pytest.mark.parametrize(("base", "wanted"), [
    ("yolo", "yolo"), ("3d", "n_3d"), ("-x", "n_-x"), ("a b.c", "a_b_c"), ("", "node"), ("measure", "measure2"),
])
def test_a_free_id_is_a_node_id_validation_accepts(base, wanted):
    from segflow.engine.workflow.spec import is_node_id

    state = EditorState.from_yaml(COINS)
    assert state.free_id(base) == wanted and is_node_id(wanted)
