"""`segflow import roboflow`: located errors, every left-out part said, the query language's translation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segflow.engine.cli import run_command
from segflow.engine.observe.exit_codes import EXIT_PARTIAL
from segflow.tools.roboflow_import.command import IMPORT
from segflow.tools.roboflow_import.operands import Untranslatable, statement
from segflow.tools.roboflow_import.selectors import Ref

ROOT = Path(__file__).resolve().parents[2]
SEG = str(ROOT / "assets/models/coffee-stones-seg.pt")
DETECTOR = {"type": "roboflow_core/roboflow_object_detection_model@v3", "name": "model",
            "images": "$inputs.image", "model_id": "yolov8n-640"}


def definition(tmp_path: Path, steps: list[dict], outputs: list[dict] | None = None) -> Path:
    path = tmp_path / "def.json"
    path.write_text(json.dumps({"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
                                "steps": steps, "outputs": outputs or []}, indent=2))
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = run_command("import", IMPORT, ["roboflow", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_model_without_a_file_names_the_flag_and_writes_nothing(tmp_path, capsys):
    path = definition(tmp_path, [DETECTOR])
    code, out, err = run(capsys, str(path), "-o", str(tmp_path / "wf.yaml"))
    assert code == 2
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if '"model_id"' in text)
    assert f"{path}:{line}:7: step 'model': model 'yolov8n-640' has no local file" in err  # at the field
    assert "hint: give --model yolov8n-640=PATH" in err
    assert not (tmp_path / "wf.yaml").exists() and "Traceback" not in err


@pytest.mark.parametrize(("text", "said"), [
    ('{"version": "1.0",\n  "steps": [}', ":2:13: not JSON: Expecting value"),
    ("[1, 2]", ":1:1: not a Roboflow Workflows definition"),
    ('{"steps": [{"type": "ObjectDetectionModel"}]}', "steps[0] needs a 'type' and a 'name'"),
])
def test_what_is_not_a_definition_is_said_where(tmp_path, capsys, text, said):
    path = tmp_path / "bad.json"
    path.write_text(text)
    code, _, err = run(capsys, str(path))
    assert code == 2 and f"{path}{said}" in err if said.startswith(":") else said in err
    assert "Traceback" not in err


def test_everything_mapped_exits_0_and_the_yaml_names_each_step(tmp_path, capsys):
    tracker = {"type": "roboflow_core/byte_tracker@v3", "name": "tracker", "detections": "$steps.model.predictions"}
    path = definition(tmp_path, [DETECTOR, tracker],
                      [{"type": "JsonField", "name": "tracks", "selector": "$steps.tracker.tracked_detections"}])
    code, out, err = run(capsys, str(path), "--model", f"yolov8n-640={SEG}")
    assert code == 0, err
    assert "# Every step and field was mapped." in out
    assert "  # step 'tracker' (roboflow_core/byte_tracker@v3)\n  tracker:\n    type: track.bytetrack" in out
    assert "inputs: {detections: tracker.detections}" in out and "type: sink.jsonl" in out


def test_unknown_blocks_fields_and_what_reads_them_are_left_out_with_reasons(tmp_path, capsys):
    odd = {"type": "acme/odd_block@v1", "name": "odd", "predictions": "$steps.model.predictions"}
    after = {"type": "roboflow_core/bounding_box_visualization@v1", "name": "boxes", "image": "$inputs.image",
             "predictions": "$steps.odd.predictions"}
    path = definition(tmp_path, [{**DETECTOR, "tile_mode": "fancy"}, odd, after])
    code, out, err = run(capsys, str(path), "--model", f"yolov8n-640={SEG}", "-o", str(tmp_path / "wf.yaml"))
    assert code == EXIT_PARTIAL == 4, err
    assert "step 'model': roboflow_core/roboflow_object_detection_model@v3: field 'tile_mode': segflow has no " \
           "counterpart for this field" in err
    assert "left out: step 'odd': acme/odd_block@v1: segflow has no node for this block" in err
    assert "step 'boxes'" in err and "reads step 'odd', which was left out" in err
    header = (tmp_path / "wf.yaml").read_text().split("version: 1")[0]
    assert header.count("#   - ") == 3


def test_a_definition_of_which_nothing_maps_exits_2_and_writes_nothing(tmp_path, capsys):
    path = definition(tmp_path, [{"type": "acme/odd@v1", "name": "odd", "image": "$inputs.image"}])
    code, _, err = run(capsys, str(path), "-o", str(tmp_path / "wf.yaml"))
    assert code == 2 and "nothing written: no step of it maps to a segflow node" in err
    assert not (tmp_path / "wf.yaml").exists()


TRACKER = {"type": "roboflow_core/byte_tracker@v3", "name": "tracker", "detections": "$steps.model.predictions"}
SECOND = {**DETECTOR, "name": "model_2", "confidence": 0.8}
ZONE = [[0, 0], [100, 0], [100, 100], [0, 100]]


def timed(**fields) -> list[dict]:
    return [DETECTOR, TRACKER, {"type": "roboflow_core/time_in_zone@v2", "name": "timer", "zone": ZONE,
                                "detections": "$steps.tracker.tracked_detections", "image": "$inputs.image",
                                **fields}]


def voted(**fields) -> list[dict]:
    return [DETECTOR, SECOND, {"type": "roboflow_core/detections_consensus@v1", "name": "vote",
                               "predictions_batches": ["$steps.model.predictions", "$steps.model_2.predictions"],
                               "required_votes": 2, **fields}]


def switch(cases: list, default: dict) -> list[dict]:
    return [DETECTOR, {"type": "roboflow_core/expression@v1", "name": "expr", "data": {"p": "$steps.model.predictions"},
                       "switch": {"type": "CasesDefinition", "cases": cases, "default": default}},
            {"type": "roboflow_core/local_file_sink@v1", "name": "save", "content": "$steps.expr.output",
             "file_type": "json", "output_mode": "separate_files", "file_name_prefix": "p"}]


SERIALISED = {"type": "DynamicCaseResult", "parameter_name": "p",
              "operations": [{"type": "DetectionsToDictionary"}, {"type": "ConvertDictionaryToJSON"}]}
CASE = {"type": "CaseDefinition", "condition": {"type": "StatementGroup", "statements": []},
        "result": {"type": "StaticCaseResult", "value": "PASS"}}
QUADS = [[[0, 0], [10, 0], [10, 10], [0, 10]], [[400, 300], [0, 300], [0, 0], [400, 0]]]


@pytest.mark.parametrize(("steps", "written", "said"), [
    (timed(), "type: zone.time\n    params:\n      polygon: [[0, 0], [100, 0], [100, 100], [0, 100]]\n"
     "      anchors: [center]\n      outside: drop\n      on_exit: reset\n", ""),  # Roboflow drops outsiders
    (timed(remove_out_of_zone_detections=False, reset_out_of_zone_detections=False, triggering_anchor="BOTTOM_CENTER"),
     "anchors: [bottom_center]\n      outside: keep\n      on_exit: accumulate\n",
     "field 'reset_out_of_zone_detections': false: on_exit accumulate written"),
    (timed(zone=[ZONE, ZONE]), None, "field 'zone': the step is left out: 2 zones: zone.time times one polygon"),
    (voted(), "type: detections.consensus\n    params:\n      required_votes: 2\n    inputs: {first: "
     "model.detections, second: model_2.detections}", ""),
    (voted(detections_merge_confidence_aggregation="max", detections_merge_coordinates_aggregation="max",
           presence_confidence_aggregation="average", class_aware=False, required_objects={"a": 1, "b": 2}),
     "required_objects: 3\n      presence_confidence: mean\n      confidence_merge: max\n"
     "      class_vote: most_confident\n      box_merge: largest\n", ""),
    (voted(required_votes=3), None, "field 'required_votes': the step is left out: required_votes 3 with 2 "
     "detectors: no object could ever be kept"),
    (voted(detections_merge_confidence_aggregation="min"), "confidence_merge: min",
     "no class of the least confident vote"),
    ([DETECTOR, {"type": "roboflow_core/detections_merge@v1", "name": "box",
                 "predictions": "$steps.model.predictions"}],
     "type: detections.union\n    params:\n      class_name: merged_detection\n", ""),  # Roboflow's default name
    ([{"type": "roboflow_core/dominant_color@v1", "name": "colour", "image": "$inputs.image", "color_clusters": 2}],
     "type: analyze.image_colour\n    params:\n      k: 2\n      max_pixels: 13333\n", ""),
    (switch([], SERIALISED), "type: sink.jsonl\n    params:\n      path: out/def/p.jsonl\n      per: frame\n"
     "      rotate_records: 1\n    inputs: {detections: model.detections}", ""),
    (switch([CASE], SERIALISED), None, "field 'switch': the step is left out: a switch over 1 case(s): segflow has "
     "no case/when"),
    ([DETECTOR, {"type": "roboflow_core/perspective_correction@v1", "name": "warp", "images": "$inputs.image",
                 "predictions": "$steps.model.predictions", "perspective_polygons": QUADS, "warp_image": True,
                 "transformed_rect_width": 40, "transformed_rect_height": 30}],
     "points: [[0, 0], [400, 0], [400, 300], [0, 300]]\n      width: 40\n      height: 30\n    inputs: "
     "{image: $inputs.image, detections: model.detections}", ""),  # the largest quad, corners in segflow's order
])
def test_analytics_blocks_map_with_roboflow_defaults_or_say_why_not(tmp_path, capsys, steps, written, said):
    code, out, err = run(capsys, str(definition(tmp_path, steps)), "--model", f"yolov8n-640={SEG}")
    assert code == (EXIT_PARTIAL if said else 0), err
    if written is not None:
        assert written in out, out
    if said:
        assert said in err
    assert "Traceback" not in err


def test_set_on_a_node_that_is_not_there_is_an_error(tmp_path, capsys):
    code, _, err = run(capsys, str(definition(tmp_path, [DETECTOR])), "--model", f"yolov8n-640={SEG}",
                       "--set", "detector.classes=null")
    assert code == 2 and "no node 'detector' in the converted workflow (nodes: model)" in err


DETS = Ref("model.detections", "detections")
LINE = Ref("line.value", "value", ("out",))


def binary(left: dict, comparator: str, right: object) -> dict:
    return {"type": "BinaryStatement", "left_operand": left, "comparator": {"type": comparator},
            "right_operand": {"type": "StaticOperand", "value": right}}


def prop(name: str) -> dict:
    return {"type": "DynamicOperand", "operand_name": "_",
            "operations": [{"type": "ExtractDetectionProperty", "property_name": name}]}


@pytest.mark.parametrize(("node", "expected"), [
    (binary(prop("class_name"), "in (Sequence)", ["banana", "dark roast"]), "class in [banana, dark roast]"),
    (binary(prop("confidence"), "(Number) >=", 0.5), "confidence >= 0.5"),
    (binary({"type": "DynamicOperand", "operand_name": "p", "operations": [{"type": "SequenceLength"}]},
            "(Number) >", 2), "count > 2"),
    (binary({"type": "DynamicOperand", "operand_name": "n"}, "==", 3), "value.out == 3"),
    ({"type": "StatementGroup", "operator": "or", "statements": [
        binary(prop("size"), "(Number) <", 100), {**binary(prop("class_name"), "==", "stone"), "negate": True}]},
     "(box_area < 100) or (not (class == stone))"),
    (binary(prop("center_x"), "(String) startsWith", "a"), Untranslatable),
    (binary(prop("keypoints_xy"), "==", 1), Untranslatable),
    (binary({"type": "DynamicOperand", "operand_name": "p"}, "==", 1), Untranslatable),  # a set is no value
])
def test_statements_become_segflow_conditions(node, expected):
    resolve = {"p": DETS, "n": LINE, "_": "_"}.__getitem__
    if expected is Untranslatable:
        with pytest.raises(Untranslatable):
            statement(node, resolve)
    else:
        assert statement(node, resolve) == expected


def test_the_shipped_example_is_what_the_import_writes(capsys, monkeypatch):
    """workflows/roboflow_tracking.yaml is Roboflow's tracking test definition, imported (run by tests/workflows)."""
    shipped = (ROOT / "workflows/roboflow_tracking.yaml").read_text()
    pin = next(line.split(": ")[1] for line in shipped.splitlines() if "sha256:" in line)
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, "tests/tools/roboflow_definitions/tracking_trace.json",
                         "--model", "yolov8n-640=assets/models/coffee-stones-seg.pt",
                         "--source", "assets/samples/conveyor.mp4", "--set", "model.classes=null",
                         "--set", f"model.sha256={pin}", "--name", "roboflow-tracking")
    assert code == 0, err
    assert shipped == "# yaml-language-server: $schema=../segflow.schema.json\n" + out


@pytest.mark.parametrize(("source", "node_type"), [
    ("belt.mp4", "source.video"), ("photos/", "source.image"), ("photos/*.jpg", "source.image"),
    ("rtsp://10.0.0.5/stream", "source.camera"), ("0", "source.camera"),
])
def test_source_feeds_the_image_input(tmp_path, capsys, source, node_type):
    code, out, err = run(capsys, str(definition(tmp_path, [DETECTOR])), "--model", f"yolov8n-640={SEG}",
                         "--source", source)
    assert f"  image:\n    type: {node_type}\n" in out and "inputs: {image: image.image}" in out
    assert "kind: image" not in out


def test_a_step_is_located_by_its_own_name_whatever_its_letters(tmp_path, capsys):
    odd = {"type": "acme/odd@v1", "name": "détecteur-2"}
    path = definition(tmp_path, [DETECTOR, odd])
    path.write_text(json.dumps(json.loads(path.read_text()), indent=2, ensure_ascii=False))  # as UTF-8, not \u
    code, _, err = run(capsys, str(path), "--model", f"yolov8n-640={SEG}")
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "détecteur-2" in text)
    assert f"{path}:{line}:7: left out: step 'détecteur-2': acme/odd@v1" in err
