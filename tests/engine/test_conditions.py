"""One condition language: filter.where, relabel.when and a sink's only_when accept and refuse alike, before the run."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

import pytest

from segflow.engine import Inputs, Kind, Node, Port, node_type
from segflow.engine.api import loads
from segflow.engine.cli import main
from segflow.engine.registry import Registry, default_registry
from segflow.engine.workflow.conditions import MAX_DEPTH, ConditionError, parse
from segflow.engine.workflow.validate import validate_text

UPSTREAM = """version: 1
name: t
nodes:
  cam: {type: source.test_pattern, params: {frames: 2}}
  find: {type: detect.threshold, inputs: {image: cam.image}}
  measure: {type: measure.masks, params: {scale: {mode: fixed, mm_per_px: 0.1}}, inputs: {detections: find.detections}}
  colour: {type: analyze.colour, inputs: {image: cam.image, detections: measure.detections}}
"""
LOG = "  log: {type: sink.jsonl, params: {path: /dev/null}, inputs: {detections: %s.detections}}\n"
CONTEXTS = {
    "filter.where": "  f: {type: filter.detections, params: {where: [%s]}, inputs: {detections: colour.detections}}\n"
    + LOG % "f",
    "relabel.when": "  f: {type: relabel.detections, params: {rules: [{class_name: x, when: %s}]}, "
    "inputs: {detections: colour.detections}}\n" + LOG % "f",
    "sink.only_when": "  f: {type: sink.jsonl, params: {path: /dev/null, only_when: %s}, "
    "inputs: {detections: colour.detections}}\n",
}


def problems(context: str, expression: str) -> list[Any]:
    text = UPSTREAM + CONTEXTS[context] % json.dumps(expression)
    return [i for i in validate_text(text, "wf.yaml").issues if i.is_error]


@pytest.mark.parametrize("context", list(CONTEXTS))
@pytest.mark.parametrize(
    ("expression", "error", "hint"),
    [
        ("class == stone", None, None),
        ("count(class == stone) >= 2 and confidence > 0.5", None, None),
        ("length_mm > 3 and hue_mean_deg < 40", None, None),
        ("colour_name in [brown, dark orange] or colour_name not in ['black']", None, None),
        ("cx < 200 and box_width * box_height > 100 and aspect < 2 and y2 - y1 > 4", None, None),
        ("not (tracker_id == 3) or class_id in [0, 1]", None, None),
        ("max(length_mm) > 2 or count == 0", None, None),
        ("length_mm_u < 0.1 * length_mm and length_mm == (width_mm)", None, None),
        ("frame > 10 and source == cam and timestamp >= 0", None, None),
        ("class in [coffee-bean, t-shirt] or class == coffee-bean and length_mm - 1 > 0", None, None),
        ("cout >= 1", "unknown name 'cout'", "did you mean 'count'?"),
        ("count(stone) > 0", "unknown name 'stone'", "count(class == stone)"),
        ("lenght_mm > 3", "unknown name 'lenght_mm'", "did you mean 'length_mm'?"),
        ("CLASS == stone", "unknown name 'CLASS'", "did you mean 'class'?"),
        ("sam_score > 0.5", "unknown name 'sam_score'", None),
        ("class > 3", "'>' compares numbers", None),
        ("class == 3", "compares text with a number", "class_id"),
        ("length_mm == width_mm", "width_mm is read as text", "(width_mm)"),
        ("median(length_mm) > 1", "unknown function 'median'", "did you mean 'mean'?"),
        ("max(class) > 1", "max() works on numbers", None),
        ("value.mean > 1", "needs the value input", None),
        ("count >", "ends early", None),
        ("count > 0 stone", "expected 'and', 'or' or the end", "quote text"),
        ("count(count > 1) > 0", "goes over the detections", None),
    ],
)
def test_the_three_contexts_accept_and_refuse_alike(context: str, expression: str, error: str | None,
                                                     hint: str | None) -> None:
    found = problems(context, expression)
    if error is None:
        assert found == [], [i.format() for i in found]
        return
    assert len(found) == 1, [i.format() for i in found]
    issue = found[0]
    assert error in issue.message and issue.node == "f" and issue.location.line == 8, issue.format()
    assert hint is None or hint in issue.hint or hint in issue.message, issue.format()


def test_measurement_fields_need_a_scale_and_say_what_there_is() -> None:
    text = UPSTREAM.replace("params: {scale: {mode: fixed, mm_per_px: 0.1}}, ", "") + CONTEXTS["filter.where"] % (
        '"length_mm > 3"')
    [issue] = [i for i in validate_text(text, "wf.yaml").issues if i.is_error]
    assert issue.code == "param.condition" and issue.field == "where.0" and issue.hint == "did you mean 'length_px'?"
    assert issue.format().startswith("wf.yaml:8:")


def test_a_sink_without_detections_has_frame_names_only() -> None:
    text = UPSTREAM + "  f: {type: sink.jsonl, params: {path: /dev/null, only_when: 'class == stone or count > 1'}, "
    text += "inputs: {image: cam.image}}\n"
    [issue] = [i for i in validate_text(text, "wf.yaml").issues if i.is_error]
    assert "'class' is a detection field, but no detections are wired" in issue.message


def test_model_nodes_declare_their_fields_without_loading_a_model() -> None:
    registry = default_registry()
    assert registry.get("detect.yolo").added_fields(None) == {"class_name"}  # type: ignore[union-attr]
    assert registry.get("relabel.detections").added_fields(None) == {"class_name"}  # type: ignore[union-attr]
    assert registry.get("segment.sam2").added_fields(None) == {"sam_score"}  # type: ignore[union-attr]


@node_type("thirdparty.detect")
class UndeclaredDetector(Node):
    """A plugin's detector that declares no fields: names after it cannot be checked, so none is refused."""

    inputs: ClassVar[dict[str, Port]] = {"image": Port(Kind.IMAGE)}
    outputs: ClassVar[dict[str, Port]] = {"detections": Port(Kind.DETECTIONS)}

    def process(self, inputs: Inputs) -> dict[str, Any]:
        raise NotImplementedError


def test_fields_of_a_node_that_declares_none_are_not_refused() -> None:
    registry = Registry()
    for _, cls in default_registry():
        registry.register(cls)
    registry.register(UndeclaredDetector)
    text = UPSTREAM.replace("detect.threshold", "thirdparty.detect") + CONTEXTS["filter.where"] % (
        '"plugin_score > 0.5 and length_mm > 1"')
    assert [i.format() for i in validate_text(text, "wf.yaml", registry).issues if i.is_error] == []
    wrong_type = text.replace("plugin_score > 0.5", "class > 3")  # built-in names keep their types
    [issue] = [i for i in validate_text(wrong_type, "wf.yaml", registry).issues if i.is_error]
    assert "'>' compares numbers" in issue.message


def test_enum_values_get_a_did_you_mean() -> None:
    text = UPSTREAM + "  z: {type: zone.count, params: {polygon: [[0, 0], [9, 0], [9, 9]], anchors: [CENTER]}, "
    text += "inputs: {detections: colour.detections}}\n" + LOG % "z"
    [issue] = [i for i in validate_text(text, "wf.yaml").issues if i.is_error]
    assert issue.field == "anchors.0" and issue.hint == "did you mean 'center'?"


def test_a_misspelt_only_when_exits_2_with_the_place(tmp_path, capsys) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(UPSTREAM + CONTEXTS["sink.only_when"] % '"cout >= 1"')
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:8:" in err and "unknown name 'cout'" in err and "did you mean 'count'?" in err


def test_a_type_mismatch_at_run_time_is_the_nodes_failure_on_that_frame() -> None:
    """colour_name is declared but its type is not: text ordered against a number fails each frame, named."""
    report = loads(UPSTREAM + CONTEXTS["filter.where"] % '"colour_name > 3"').run()
    assert report.failures == 2, report.to_dict()
    assert {(f["node"], f["frame"]) for f in report.failure_log} == {("f", 0), ("f", 1)}
    assert all("where[0] 'colour_name > 3': '>' compares numbers" in f["error"] for f in report.failure_log)


@pytest.mark.parametrize(
    ("text", "message", "col"),
    [
        ("count >", "ends early", 8),
        ("(count > 0", "expected ')'", 11),
        ("count > 0 stone", "expected 'and', 'or' or the end", 11),
        ("== 3", "expected a name", 1),
        ("count $ 3", "unexpected '$'", 7),
        ("count = 3", "unexpected '='", 7),
        ("class in 3", "expected a list", 10),
        ("class == 'stone", "no closing '", 10),
        ("__import__('os').system('x')", "unexpected '.'", 17),
        ("[1] > 0", "expected a name", 1),
        ("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1), f"deeper than {MAX_DEPTH}", MAX_DEPTH + 1),
        ("count > 0 or " * 200 + "true", "the limit is 2,000", 0),
    ],
)
def test_syntax_errors_say_the_column(text: str, message: str, col: int) -> None:
    with pytest.raises(ConditionError, match=re.escape(message)) as err:
        parse(text)
    assert err.value.col == col


def test_empty_is_always() -> None:
    assert parse("   ") is None


@pytest.mark.parametrize(
    ("value", "code", "message", "hint"),
    [
        ("count(class == stone) * 10", None, None, None),
        ("max(lenght_mm) * 10", "param.condition", "unknown name 'lenght_mm'", "did you mean 'length_mm'?"),
        ("length_mm", "param.value_error", "a value per detection", "max(length_mm)"),  # refused by the params
    ],
)
def test_a_line_outputs_values_are_checked_like_conditions(value: str, code: str | None, message: str | None,
                                                           hint: str | None) -> None:
    text = UPSTREAM + "  f: {type: sink.modbus, params: {writes: [{register: 1, value: " + json.dumps(value)
    text += "}]}, inputs: {detections: colour.detections}}\n"
    found = [i for i in validate_text(text, "wf.yaml").issues if i.is_error]
    if code is None:
        assert found == [], [i.format() for i in found]
        return
    [issue] = found
    assert (issue.code, issue.field, issue.node) == (code, "writes.0.value", "f"), issue.format()
    assert message in issue.message and hint in issue.format()
