"""Workflow inputs: declared, given, substituted into params, and every mistake located before the run."""

from __future__ import annotations

import numpy as np
import pytest

from segflow.engine.api import loads
from segflow.engine.workflow.inputs import InputSpec, TextValue, coerce
from segflow.engine.workflow.issues import WorkflowError
from segflow.engine.workflow.validate import validate_text

HEAD = "version: 1\nname: t\n"
INPUTS = """inputs:
  confidence: {kind: number, default: 0.4, min: 0, max: 1}
  zone: {kind: polygon}
  area: {kind: integer, default: 10}
  mode: {kind: enum, choices: [fixed, otsu], default: otsu}
"""
NODES = """nodes:
  cam: {type: source.test_pattern, params: {frames: 2, width: 64, height: 48}}
  find:
    type: detect.threshold
    params: {min_area: $inputs.area, method: $inputs.mode}
    inputs: {image: cam.image}
  zone:
    type: zone.count
    params: {polygon: $inputs.zone}
    inputs: {detections: find.detections}
  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {image: cam.image}}
"""
SQUARE = [[0, 0], [64, 0], [64, 48], [0, 48]]


def errors(text: str, inputs=None) -> list:
    result = validate_text(text, "wf.yaml", inputs=inputs)
    return [i for i in result.issues if i.is_error]


def test_defaults_and_given_values_replace_the_references():
    result = validate_text(HEAD + INPUTS + NODES, "wf.yaml", inputs={"zone": SQUARE, "area": 25})
    assert [i.format() for i in result.issues if i.is_error] == []
    graph = result.graph
    assert graph.bound
    assert graph.nodes["find"].params.min_area == 25
    assert graph.nodes["find"].params.method == "otsu"
    assert graph.nodes["zone"].params.polygon == [tuple(p) for p in SQUARE]


def test_a_required_input_may_wait_for_the_run_but_the_run_needs_it():
    result = validate_text(HEAD + INPUTS + NODES, "wf.yaml")  # segflow validate: declarations only
    assert [i.format() for i in result.issues if i.is_error] == []
    assert not result.graph.bound
    (issue,) = errors(HEAD + INPUTS + NODES, inputs={})
    assert issue.code == "input.missing" and issue.location.line == 5 and issue.field == "zone"
    assert "--input zone=" in issue.hint


@pytest.mark.parametrize(
    ("inputs", "code", "line", "words"),
    [
        ({"zone": SQUARE, "confidence": 2}, "input.value", 4, "above the maximum 1"),
        ({"zone": SQUARE, "confidence": "high"}, "input.value", 4, "expected a number"),
        ({"zone": [[0, 0], [1, 1]]}, "input.value", 5, "at least 3 points"),
        ({"zone": SQUARE, "mode": "adaptiv"}, "input.value", 7, "not one of fixed, otsu"),
        ({"zone": SQUARE, "area": 2.5}, "input.value", 6, "expected an integer"),
        ({"zone": SQUARE, "confdence": 0.5}, "input.unknown", 3, "does not declare"),
    ],
)
def test_a_value_of_the_wrong_kind_is_located_at_its_declaration(inputs, code, line, words):
    (issue,) = errors(HEAD + INPUTS + NODES, inputs)
    assert (issue.code, issue.location.file, issue.location.line) == (code, "wf.yaml", line)
    assert words in issue.message


def test_cli_text_is_parsed_by_the_declared_kind(tmp_path):
    (tmp_path / "zone.yaml").write_text("- [0, 0]\n- [10, 0]\n- [10, 10]\n")
    polygon = InputSpec(kind="polygon")
    assert coerce(polygon, TextValue("@zone.yaml"), tmp_path) == [[0, 0], [10, 0], [10, 10]]
    assert coerce(polygon, TextValue("[[0,0],[5,0],[5,5]]")) == [[0, 0], [5, 0], [5, 5]]
    assert coerce(InputSpec(kind="bool"), TextValue("yes")) is True
    assert coerce(InputSpec(kind="integer"), TextValue("7")) == 7
    with pytest.raises(ValueError, match="cannot read"):
        coerce(polygon, TextValue("@missing.yaml"), tmp_path)
    with pytest.raises(ValueError, match="exactly 2 points"):
        coerce(InputSpec(kind="line"), TextValue("[[0, 0], [1, 1], [2, 2]]"))


@pytest.mark.parametrize(
    ("replace", "code", "line", "node", "words"),
    [
        # a param names an input nobody declared
        (("$inputs.area", "$inputs.aera"), "input.undeclared", 12, "find", "did you mean '$inputs.area'"),
        # a polygon where a number belongs (found even before a value is given)
        (("$inputs.area", "$inputs.zone"), "param.int_type", 12, "find", "from input 'zone'"),
        # a default that fits the input but not the param
        (("area: {kind: integer, default: 10}", "area: {kind: integer, default: -3}"),
         "param.greater_than_equal", 12, "find", "from input 'area' = -3"),
        # an image input used as a param value
        (("zone: {kind: polygon}", "zone: {kind: image}"), "input.image_param", 16, "zone", "image input"),
        # a number wired to a port
        (("inputs: {image: cam.image}\n  zone", "inputs: {image: $inputs.area}\n  zone"), "input.kind", 13, "find",
         "only an image input"),
    ],
)
def test_mistakes_with_inputs_are_located_at_the_node(replace, code, line, node, words):
    text = (HEAD + INPUTS + NODES).replace(*replace)
    found = errors(text)
    assert found, "expected an error"
    issue = next(i for i in found if i.code == code)
    assert (issue.location.file, issue.location.line, issue.node) == ("wf.yaml", line, node), issue.format()
    assert words in issue.format()


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("{kind: enum}", "needs `choices`"),
        ("{kind: string, min: 1}", "apply to number and integer"),
        ("{kind: colour}", "kind"),
        ("{kind: number, defualt: 1}", "unknown key 'defualt'"),
        ("{kind: number, min: 2, max: 1}", "above max"),
    ],
)
def test_a_bad_declaration_is_located_at_the_input(spec, words):
    text = HEAD + f"inputs:\n  x: {spec}\n" + NODES.replace("$inputs.area", "3").replace("$inputs.mode", "otsu") \
        .replace("$inputs.zone", "[[0, 0], [5, 0], [5, 5]]")
    (issue,) = errors(text)
    assert issue.location.line == 4 and issue.field == "x" and words in issue.format()


IMAGE_WF = HEAD + """inputs:
  photo: {kind: image}
  area: {kind: integer, default: 4}
nodes:
  find:
    type: detect.threshold
    params: {method: fixed, threshold: 128, min_area: $inputs.area}
    inputs: {image: $inputs.photo}
  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {image: $inputs.photo}}
"""


def _picture() -> np.ndarray:
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[5:15, 5:15] = 255  # 100 px
    pixels[25:27, 40:42] = 255  # 4 px
    return pixels


def test_an_image_input_runs_a_workflow_with_no_source(tmp_path):
    wf = loads(IMAGE_WF, "wf.yaml", base_dir=tmp_path)
    assert wf.graph.source_ids == ["photo"] and not wf.graph.bound
    out = wf.run_image(_picture())
    assert len(out["find"]["detections"]) == 2 and "_errors" not in out
    out = wf.run_image(_picture(), inputs={"area": 50})
    assert len(out["find"]["detections"]) == 1
    report = wf.run(inputs={"photo": _picture()})
    assert report.frames == 1 and report.failures == 0
    with pytest.raises(WorkflowError, match=r"wf.yaml:4:3: input 'photo' \(image\) is required"):
        wf.run()
    with pytest.raises(WorkflowError, match="expected an image"):
        wf.run(inputs={"photo": [1, 2, 3]})


def test_an_image_input_named_like_a_node_is_refused():
    text = IMAGE_WF.replace("  find:\n", "  photo: {type: source.test_pattern}\n  find:\n")
    assert any(i.code == "input.name" and i.location.line == 4 for i in errors(text))


def test_segflow_run_reads_inputs_from_files(tmp_path, capsys, monkeypatch):
    import cv2

    from segflow.engine.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "wf.yaml").write_text(IMAGE_WF.replace("out.jsonl", str(tmp_path / "rec.jsonl")))
    cv2.imwrite(str(tmp_path / "photo.png"), _picture())
    assert main(["run", "wf.yaml", "--input", "photo=@photo.png", "--input", "area=50", "--quiet"]) == 0
    assert (tmp_path / "rec.jsonl").read_text().count("\n") == 1
    assert main(["run", "wf.yaml", "--input", "photo=@nope.png", "--input", "area=many", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "wf.yaml:5:9: input 'area' (integer): the value given is wrong: expected an integer, got 'many'" in err
    assert "wf.yaml:4:10: input 'photo' (image): the value given is wrong: no image file nope.png" in err
    assert "Traceback" not in err
    assert main(["run", "wf.yaml", "--quiet"]) == 2
    assert "input 'photo' (image) is required" in capsys.readouterr().err


def test_graph_plan_lists_the_inputs(tmp_path, capsys):
    from segflow.engine.cli import main

    (tmp_path / "wf.yaml").write_text(IMAGE_WF)
    assert main(["graph", str(tmp_path / "wf.yaml"), "--plan"]) == 0
    out = capsys.readouterr().out
    assert "input photo (image, required)" in out and "input area (integer, default 4)" in out
    assert "sources photo" in out


def test_a_line_input_gives_line_count_its_line():
    text = HEAD + """inputs:
  gate: {kind: line, default: [[100, 0], [100, 200]]}
nodes:
  cam: {type: source.test_pattern, params: {frames: 2}}
  find: {type: detect.threshold, inputs: {image: cam.image}}
  track: {type: track.bytetrack, inputs: {detections: find.detections}}
  count: {type: line.count, params: {line: $inputs.gate}, inputs: {detections: track.detections}}
  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {image: cam.image}}
"""
    result = validate_text(text, "wf.yaml", inputs={"gate": [[10, 0], [10, 50]]})
    assert result.graph.nodes["count"].params.ends() == ((10, 0), (10, 50))
    (issue,) = errors(text, inputs={"gate": [[10, 0], [10, 50], [20, 20]]})
    assert issue.code == "input.value" and "exactly 2 points" in issue.message and issue.location.line == 4


def test_the_json_schema_knows_inputs_and_which_params_take_node_values():
    import jsonschema
    import yaml

    from segflow.engine.registry import default_registry
    from segflow.engine.workflow.schema import workflow_schema

    schema = workflow_schema(default_registry())
    good = yaml.safe_load(HEAD + INPUTS + NODES)
    jsonschema.validate(good, schema)
    good["nodes"]["zone"]["params"]["polygon"] = "$find.polygon"  # zone.count's polygon takes a node's value
    jsonschema.validate(good, schema)
    for bad in ({"min_area": "$find.detections"}, {"min_area": "inputs.area"}):
        data = yaml.safe_load(HEAD + INPUTS + NODES)
        data["nodes"]["find"]["params"].update(bad)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(data, schema)
    data = yaml.safe_load(HEAD + INPUTS + NODES)
    data["inputs"]["zone"]["knd"] = "polygon"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
