"""The Streamlit app driven by ``streamlit.testing.v1.AppTest``: load, edit, validate, run, save."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from appkit import node_pick, texts, widget, yaml_area
from streamlit.testing.v1 import AppTest

from segflow.ui import canvas

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "segflow" / "ui" / "app.py")
WORKFLOW_FILES = sorted((ROOT / "workflows").glob("*.yaml"))


@pytest.fixture
def workspace(tmp_path) -> Path:
    """A workspace with a copy of the coins workflow; the samples are linked, not copied."""
    (tmp_path / "workflows").mkdir()
    shutil.copy(ROOT / "workflows" / "coins.yaml", tmp_path / "workflows" / "coins.yaml")
    os.symlink(ROOT / "assets", tmp_path / "assets")
    return tmp_path


def start(monkeypatch, workspace: Path, file: str | None = "workflows/coins.yaml") -> AppTest:
    monkeypatch.setenv("SEGFLOW_EDITOR_WORKSPACE", str(workspace))
    if file:
        monkeypatch.setenv("SEGFLOW_EDITOR_FILE", file)
    else:
        monkeypatch.delenv("SEGFLOW_EDITOR_FILE", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def viewer(at: AppTest):
    """The tab's frame view engine: what the page's Run / Next / slider ask over HTTP, called directly."""
    return at.session_state["viewer_server"].viewer


def field(at: AppTest, prefix: str, name: str):
    """The params form's text field ``name`` (numbers are typed as text)."""
    found = [w for w in at.text_input if w.key.startswith(prefix) and w.key.endswith(f":{name}")]
    assert found, [w.key for w in at.text_input]
    return found[0]


def problems(at: AppTest) -> str:
    """The canvas's problems panel (the component itself is not drawn by AppTest): what it is sent."""
    editor = at.session_state["editor"]
    return "\n".join(p["text"] for p in canvas.editor_payload(editor, editor.validation().issues)["problems"])


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_round_trip_through_the_app_for_every_workflow(monkeypatch, path):
    at = start(monkeypatch, ROOT, f"workflows/{path.name}")
    assert yaml_area(at).value == path.read_text()
    nodes = yaml.safe_load(path.read_text())["nodes"]
    assert node_pick(at).options == list(nodes)


def test_load_shows_graph_summary(monkeypatch, workspace):
    at = start(monkeypatch, workspace)
    assert "7 nodes, 8 edges — valid" in texts(at.caption)
    assert "workflows/coins.yaml" in texts(at.markdown)
    assert not at.error


def test_edit_param_keeps_comments_and_marks_unsaved(monkeypatch, workspace):
    at = start(monkeypatch, workspace)
    node_pick(at).set_value("coins").run()
    field(at, "param:coins:", "blur").set_value("7")
    widget(at, "button", "apply:param:coins:").click().run()
    text = yaml_area(at).value
    assert "      blur: 7\n" in text and "# brighter than the local mean by 15 grey levels" in text
    assert "● unsaved" in texts(at.markdown)


def test_invalid_value_refused_with_pydantic_message(monkeypatch, workspace):
    at = start(monkeypatch, workspace)
    node_pick(at).set_value("measure").run()
    before = yaml_area(at).value
    mode = widget(at, "selectbox", "param:measure:")  # the scale's mode, above the form
    assert mode.label == "scale: mode" and mode.options == ["— none —", "fixed", "reference", "aruco", "plane"]
    mode.set_value("fixed").run()  # the fixed mode's own fields appear in the form
    field(at, "param:measure:", "scale.mm_per_px").set_value("-1")
    widget(at, "button", "apply:param:measure:").click().run()
    assert "measure.scale.mm_per_px: Input should be greater than 0" in texts(at.error)
    assert yaml_area(at).value == before
    field(at, "param:measure:", "scale.mm_per_px").set_value("a half")
    widget(at, "button", "apply:param:measure:").click().run()
    assert "measure.scale.mm_per_px: 'a half' is not a number" in texts(at.error)
    field(at, "param:measure:", "scale.mm_per_px").set_value("0.5")
    widget(at, "button", "apply:param:measure:").click().run()
    assert "scale: {mode: fixed, mm_per_px: 0.5}" in yaml_area(at).value
    before = yaml_area(at).value
    node_pick(at).set_value("label").run()
    field(at, "param:label:", "text_scale").set_value("0")
    widget(at, "button", "apply:param:label:").click().run()
    assert "label.text_scale: Input should be greater than 0" in texts(at.error)
    assert yaml_area(at).value == before


def test_an_empty_yaml_field_does_not_empty_the_workflow(monkeypatch, workspace):
    """A YAML field emptied by hand or by a page that lost its text is not applied: it emptied the
    workflow that Deploy then sent (a 422 for version, name and nodes, on CI)."""
    at = start(monkeypatch, workspace)
    original = yaml_area(at).value
    yaml_area(at).set_value("").run()
    assert "An empty YAML field was not applied" in texts(at.error)
    assert yaml_area(at).value == original  # drawn again from the workflow
    assert "7 nodes, 8 edges — valid" in texts(at.caption)
    assert at.session_state["editor"].state.to_yaml() == original


def test_the_yaml_field_is_drawn_with_the_current_document_as_its_default(monkeypatch, workspace):
    """What the page shows and sends back when a run that changed the text is cut short is the
    field's declared default: it has to be the current document, not an older or empty text."""
    at = start(monkeypatch, workspace)
    assert yaml_area(at).proto.default == yaml_area(at).value
    at.button(key="add:detect.yolo").click().run()
    area = yaml_area(at)
    assert "  yolo:\n    type: detect.yolo\n" in area.proto.default
    assert area.proto.default == area.value == at.session_state["editor"].state.to_yaml()


def test_the_yaml_field_sent_back_unchanged_is_not_an_edit(monkeypatch, workspace):
    """A field drawn afresh sends the document back as it stands: applying it was an undo step of
    nothing, and it replaced the document that a canvas edit running beside it had just changed."""
    at = start(monkeypatch, workspace)
    editor = at.session_state["editor"]
    editor.add_node("debug.noop")  # an edit the field has not shown yet
    revision, document = editor.revision, editor.state
    yaml_area(at).set_value(editor.state.to_yaml()).run()
    assert editor.revision == revision and editor.state is document
    assert "8 nodes" in texts(at.caption)


def test_yaml_view_updates_graph_and_reports_errors(monkeypatch, workspace):
    at = start(monkeypatch, workspace)
    original = yaml_area(at).value
    yaml_area(at).set_value(original.replace("  coins:\n    type: detect.threshold",
                                                             "  coins:\n    type: detect.treshold")).run()
    errors = problems(at)
    assert "unknown node type 'detect.treshold'" in errors and "did you mean 'detect.threshold'?" in errors
    assert "error(s)" in texts(at.caption)
    broken = original.replace("nodes:\n", "nodes:\n  bad: [\n", 1)
    yaml_area(at).set_value(broken).run()
    assert "YAML not applied: line 11" in texts(at.error)
    yaml_area(at).set_value(original).run()
    assert "7 nodes, 8 edges — valid" in texts(at.caption)
    assert not at.error and not problems(at)


def test_palette_adds_a_node_that_validation_flags(monkeypatch, workspace):
    at = start(monkeypatch, workspace)
    at.button(key="add:detect.yolo").click().run()
    assert node_pick(at).value == "yolo"
    assert "8 nodes" in texts(at.caption)
    assert "missing required param 'model'" in problems(at)
    assert "  yolo:\n    type: detect.yolo\n" in yaml_area(at).value


def test_a_stale_pick_sent_by_the_page_does_not_undo_a_new_selection(monkeypatch, workspace):
    """A quick click: the app moves the selection, then the page, which has not yet heard of it,
    sends its picker's old value with its next event. The new selection must stand."""
    at = start(monkeypatch, workspace)
    at.run()
    page_before = node_pick(at)  # the page as it was before the click, picker included
    before = page_before.value
    at.button(key="add:detect.yolo").click().run()
    assert node_pick(at).value == "yolo" != before
    # The page's next event carries every widget, its picker as it still shows it. AppTest has no
    # public way to send a widget from an older page, hence its private _widget_state, _tree, _run.
    stale = page_before.set_value(before)._widget_state
    states = at._tree.get_widget_states()
    kept = [w for w in states.widgets if w.id != stale.id]
    del states.widgets[:]
    states.widgets.extend([*kept, stale])
    at._run(states)
    assert not at.exception, [e.value for e in at.exception]
    assert node_pick(at).value == "yolo"
    assert at.session_state["editor"].selected == "yolo"
    assert "8 nodes" in texts(at.caption)  # the stale page did not undo the add either


def test_run_then_rerun_only_changed_nodes(monkeypatch, workspace):
    at = start(monkeypatch, workspace)
    viewer(at).run()
    at.run()
    assert "5 node(s) ran, 0 reused" in texts(at.caption)
    assert len(at.dataframe) == 2  # results and timings
    results = at.dataframe[0].value
    assert len(results) > 10 and {"length_mm", "class_name"} <= set(results.columns)
    timings = at.dataframe[1].value
    assert set(timings["node"]) == {"photo", "coins", "measure", "colour", "label", "log", "picture"}
    assert set(timings.loc[timings["node"].isin(["log", "picture"]), "status"]) == {"off"}
    node_pick(at).set_value("label").run()
    widget(at, "checkbox", "param:label:").set_value(True)  # masks stays on; boxes is the 3rd field
    [w for w in at.checkbox if w.key.startswith("param:label:") and w.key.endswith(":boxes")][0].set_value(True)
    widget(at, "button", "apply:param:label:").click().run()
    viewer(at).run()  # what the page's auto-run asks when the revision changes
    at.run()
    assert "2 node(s) ran, 3 reused from cache" in texts(at.caption)  # photo (the frame) and label


def test_save_inside_workspace_and_refuse_conflicts(monkeypatch, workspace):
    at = start(monkeypatch, workspace)
    node_pick(at).set_value("coins").run()
    field(at, "param:coins:", "blur").set_value("7")
    widget(at, "button", "apply:param:coins:").click().run()
    at.button(key="save_btn").click().run()
    saved = (workspace / "workflows" / "coins.yaml").read_text()
    assert "      blur: 7\n" in saved and saved == yaml_area(at).value
    assert "saved workflows/coins.yaml" in texts(at.success)

    (workspace / "workflows" / "coins.yaml").write_text(saved.replace("blur: 7", "blur: 9"))
    at.button(key="save_btn").click().run()
    assert "changed on disk" in texts(at.error)
    assert "blur: 9" in (workspace / "workflows" / "coins.yaml").read_text()

    save_as = next(w for w in at.text_input if w.label == "Save as (inside the workspace)")
    assert save_as.value == "workflows/coins.yaml"  # the path it was saved to, kept after the save
    save_as.set_value("../outside.yaml")
    at.button(key="save_btn").click().run()
    assert "outside the workspace" in texts(at.error)
    assert not (workspace.parent / "outside.yaml").exists()

    next(w for w in at.text_input if w.label == "Save as (inside the workspace)").set_value("workflows/coins.yaml")
    next(w for w in at.checkbox if w.label == "Overwrite").check()
    at.button(key="save_btn").click().run()
    assert "blur: 7" in (workspace / "workflows" / "coins.yaml").read_text()
    assert next(w for w in at.checkbox if w.label == "Overwrite").value is False  # one save only, not sticky


def test_new_file_saved_runs_like_the_engine(monkeypatch, workspace):
    import json

    at = start(monkeypatch, workspace, "workflows/fresh.yaml")
    assert "0 nodes" in texts(at.caption)
    for type_name in ("source.image", "debug.invert", "debug.stats"):
        at.button(key=f"add:{type_name}").click().run()
    text = yaml_area(at).value.replace(
        "type: source.image\n", "type: source.image\n    params: {path: assets/samples/coins.png}\n")
    text = text.replace("type: debug.invert\n", "type: debug.invert\n    inputs: {image: image.image}\n")
    text = text.replace("type: debug.stats\n", "type: debug.stats\n    inputs: {image: invert.image}\n")
    yaml_area(at).set_value(text).run()
    assert "3 nodes, 2 edges" in texts(at.caption)
    at.button(key="save_btn").click().run()
    from segflow.engine.api import load

    wf = load(workspace / "workflows" / "fresh.yaml", base_dir=workspace)
    assert "ui" not in yaml.safe_load((workspace / "workflows" / "fresh.yaml").read_text())  # the YAML stays clean
    side = json.loads((workspace / "workflows" / "fresh.layout.json").read_text())  # positions go beside it
    assert set(side["positions"]) == {"image", "invert", "stats"}
    assert wf.graph.order == ["image", "invert", "stats"]


def test_video_stepped_frame_by_frame(monkeypatch, workspace):
    import cv2

    (workspace / "workflows" / "belt.yaml").write_text(
        "version: 1\nname: belt\nnodes:\n"
        "  belt: {type: source.video, params: {path: assets/samples/conveyor.mp4}}\n"
        "  stats: {type: debug.stats, inputs: {image: belt.image}}\n")
    capture = cv2.VideoCapture(str(ROOT / "assets" / "samples" / "conveyor.mp4"))
    means = []
    for _ in range(3):
        ok, pixels = capture.read()
        assert ok
        means.append(float(pixels.mean()))
    capture.release()
    at = start(monkeypatch, workspace, "workflows/belt.yaml")
    view = viewer(at)
    assert view.input.count > 10
    view.step(1)
    painted = view.step(1)
    assert painted.index == 2 and painted.jpeg and view.index == 2
    node_pick(at).set_value("stats").run()
    view.run()
    at.run()
    assert "belt frame 2" in texts(at.caption)
    import json

    assert len(at.json) == 1
    assert abs(json.loads(at.json[0].value)["mean"] - means[2]) < 0.5  # the stats node's output of frame 2
    assert abs(means[2] - means[1]) > 0.01 or abs(means[1] - means[0]) > 0.01  # the frames differ
    view.step(-1)
    at.run()
    assert "belt frame 1" in texts(at.caption)


def test_flagship_change_confidence_run_save_and_segflow_run_agrees(monkeypatch, tmp_path):
    """The issue's story: open coffee_stones, change the confidence, run a frame, see the stones
    measured, save, and `segflow run` of the saved file logs the same stones for that frame."""
    import json
    import subprocess
    import sys

    (tmp_path / "workflows").mkdir()
    shutil.copy(ROOT / "workflows" / "coffee_stones.yaml", tmp_path / "workflows" / "coffee_stones.yaml")
    os.symlink(ROOT / "assets", tmp_path / "assets")
    at = start(monkeypatch, tmp_path, "workflows/coffee_stones.yaml")
    node_pick(at).set_value("detect").run()
    field(at, "param:detect:", "confidence").set_value("0.5")
    widget(at, "button", "apply:param:detect:").click().run()
    viewer(at).goto(20)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "belt frame 20" in texts(at.caption)
    table = at.dataframe[0].value
    assert len(table) >= 1 and "feret_max_mm" in table.columns and (table["confidence"] >= 0.5).all()
    # Track ids after a jump count from the warm-up, so compare the measurements, not the ids.
    editor_stones = sorted(round(float(mm), 2) for mm in table["feret_max_mm"])

    at.button(key="save_btn").click().run()
    saved = (tmp_path / "workflows" / "coffee_stones.yaml").read_text()
    assert "confidence: 0.5" in saved
    res = subprocess.run([sys.executable, "-m", "segflow.engine.cli", "run", "workflows/coffee_stones.yaml",
                          "--max-frames", "21", "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in (tmp_path / "out" / "coffee_stones" / "stones.jsonl").read_text().splitlines()]
    run_stones = sorted(round(float(r["feret_max_mm"]), 2) for r in rows if r["frame"] == 20)
    assert run_stones == editor_stones


def test_a_polygon_param_is_a_table_that_applies_unchanged(monkeypatch, workspace):
    (workspace / "workflows" / "zone.yaml").write_text(
        "version: 1\nname: zone\nnodes:\n"
        "  photo: {type: source.image, params: {path: assets/samples/coins.png}}\n"
        "  coins: {type: detect.threshold, inputs: {image: photo.image}}\n"
        "  zone: {type: zone.count, params: {polygon: [[0, 0], [300, 0], [300, 200]]},"
        " inputs: {detections: coins.detections}}\n")
    at = start(monkeypatch, workspace, "workflows/zone.yaml")
    node_pick(at).set_value("zone").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("polygon *" in str(c.value) for c in at.caption)  # the table's title
    before = yaml_area(at).value
    at.session_state[widget(at, "button", "apply:param:zone:").key.replace("apply:", "") + ":polygon"] = {
        "edited_rows": {}, "added_rows": [{"x": 0, "y": 200}], "deleted_rows": []}  # what the table reports
    widget(at, "button", "apply:param:zone:").click().run()
    assert not at.error, [e.value for e in at.error]
    text = yaml_area(at).value
    assert text != before and "polygon: [[0, 0], [300, 0], [300, 200], [0, 200]]" in text
