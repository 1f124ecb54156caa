"""Every class of user mistake is reported, located, before anything runs."""


import pytest

from segflow.engine.workflow.validate import validate_text

HEAD = "version: 1\nname: t\nnodes:\n"
CAM = "  cam: {type: source.test_pattern, params: {frames: 3}}\n"
SINK = "  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {image: cam.image}}\n"


def check(body: str, head: str = HEAD):
    return validate_text(head + body, "wf.yaml")


@pytest.mark.parametrize(
    ("body", "code", "line", "node", "hint"),
    [
        (CAM + SINK, None, None, None, None),
        (CAM + "  x: {type: debug.invrt, inputs: {image: cam.image}}\n" + SINK, "node.type", 5, "x", "debug.invert"),
        (CAM.replace("frames: 3", "frame: 3") + SINK, "param.extra_forbidden", 4, "cam", "frames"),
        (CAM.replace("frames: 3", "frames: lots") + SINK, "param.int_parsing", 4, "cam", None),
        (CAM.replace("frames: 3", "frames: -1") + SINK, "param.greater_than_equal", 4, "cam", None),
        (CAM + "  rec: {type: debug.record, inputs: {image: cam.image}}\n", "param.missing", 5, "rec", "JSONL"),
        (CAM + SINK.replace("cam.image", "camera.image"), "input.missing_node", 5, "rec", "cam.image"),
        (CAM + SINK.replace("cam.image", "cam.imag"), "input.missing_port", 5, "rec", "cam.image"),
        (CAM + SINK.replace("cam.image", "cam"), "input.ref", 5, "rec", None),
        (CAM + SINK.replace("{image: cam.image}", "{imag: cam.image}"), "input.unknown", 5, "rec", "image"),
        (CAM + "  s: {type: debug.stats, inputs: {image: cam.image}}\n"
         "  m: {type: debug.merge, inputs: {a: cam.image}}\n" + SINK, "input.kind", 6, "m", None),
        (CAM + "  inv: {type: debug.invert}\n" + SINK, "input.missing", 5, "inv", "inputs"),
        (CAM + "  a: {type: debug.noop, inputs: {image: b.image}}\n"
         "  b: {type: debug.noop, inputs: {image: a.image}}\n" + SINK, "graph.cycle", 5, "a", None),
        (CAM + "  cam2: {type: source.test_pattern}\n  s1: {type: debug.stats, inputs: {image: cam.image}}\n"
         "  r2: {type: debug.record, params: {path: o}, inputs: {image: cam2.image, value: s1.value}}\n",
         None, None, None, None),
        (CAM + "  cam2: {type: source.test_pattern}\n  s1: {type: debug.stats, inputs: {image: cam.image}}\n"
         "  m: {type: debug.merge, inputs: {a: s1.value}}\n"
         "  s2: {type: debug.stats, inputs: {image: cam2.image}}\n"
         "  m2: {type: debug.merge, inputs: {a: s1.value, b: s2.value}}\n"
         "  j: {type: debug.record, params: {path: o}, inputs: {value: m.value}}\n", None, None, None, None),
        (CAM + "  rec: {type: debug.record, params: {path: o}}\n", "input.none", 5, "rec", None),
        ("  rec: {type: debug.record, params: {path: o}, inputs: {}}\n", "input.none", 4, "rec", None),
        (CAM + SINK + "  cam: {type: source.test_pattern}\n", "yaml.duplicate_key", 6, "cam", None),
        (CAM + "  bad.id: {type: debug.noop, inputs: {image: cam.image}}\n" + SINK, "node.id", 5, "bad.id", None),
        (CAM + "  x: {type: debug.noop, input: {image: cam.image}}\n" + SINK, "key.extra_forbidden", 5, "x", "inputs"),
        (CAM + SINK.replace("inputs:", "on_error: maybe, inputs:"), "key.literal_error", 5, "rec", None),
    ],
)
def test_issue_table(body, code, line, node, hint):
    result = check(body)
    errors = [i for i in result.issues if i.is_error]
    if code is None:
        assert errors == [] and result.ok
        return
    assert not result.ok and result.graph is None
    matching = [i for i in errors if i.code == code]
    assert matching, f"expected {code}, got {[i.format() for i in errors]}"
    issue = matching[0]
    assert issue.location.line == line, issue.format()
    assert issue.node == node
    if hint:
        assert hint in issue.hint or hint in issue.message, issue.format()
    text = issue.format()
    assert text.startswith(f"wf.yaml:{line}:") and f"node '{node}'" in text


def test_every_problem_is_reported_at_once():
    result = check(
        "  cam: {type: source.test_pattern, params: {frames: x, colour: red}}\n"
        "  a: {type: debug.nope}\n"
        "  r: {type: debug.record, inputs: {image: cam.imag}}\n"
    )
    codes = sorted(i.code for i in result.issues)
    assert codes == ["input.missing_port", "node.type", "param.extra_forbidden", "param.int_parsing",
                     "param.missing"]
    assert [i.location.line for i in result.issues] == sorted(i.location.line for i in result.issues)


def test_cycle_names_every_node_on_it():
    result = check(CAM + "  a: {type: debug.noop, inputs: {image: [cam.image, c.image]}}\n"
                   "  b: {type: debug.noop, inputs: {image: a.image}}\n"
                   "  c: {type: debug.noop, inputs: {image: b.image}}\n" + SINK)
    cycle = [i for i in result.issues if i.code == "graph.cycle"]
    assert len(cycle) == 1
    for name in ("a", "b", "c"):
        assert f"{name} ->" in cycle[0].message or f"-> {name}" in cycle[0].message


def test_workflow_without_sink_is_a_warning_not_an_error():
    result = check(CAM + "  s: {type: debug.stats, inputs: {image: cam.image}}\n")
    assert result.ok
    assert [i.code for i in result.issues] == ["graph.no_sink"]
    assert not result.issues[0].is_error


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "file.empty"),
        ("- a\n- b\n", "file.shape"),
        ("version: 2\nname: t\nnodes: {}\n", "key.literal_error"),
        ("version: 1\nname: t\nnodes: {}\n", "graph.empty"),
        ("version: 1\nnodes: {a: {type: debug.noop}}\n", "key.missing"),
        ("version: 1\nname: t\nnodez: {}\n", "key.extra_forbidden"),
        ("version: 1\nname: t\nsettings: {max_inflight: 0}\nnodes: {}\n", "key.greater_than_equal"),
        ("version: 1\nname: t\nnodes:\n  s: {type: debug.stats, inputs: {image: s2.value}}\n"
         "  s2: {type: debug.stats, inputs: {image: s.image}}\n", "input.missing_port"),
    ],
)
def test_file_level_problems(text, code):
    result = validate_text(text, "wf.yaml")
    assert code in [i.code for i in result.issues]
    assert not result.ok


def test_overrides_apply_before_validation():
    ok = validate_text(HEAD + CAM + SINK, "wf.yaml", overrides=["cam.frames=7"])
    assert ok.ok and ok.graph.nodes["cam"].params.frames == 7
    bad = validate_text(HEAD + CAM + SINK, "wf.yaml", overrides=["cam.frames=many"])
    assert [i.code for i in bad.issues] == ["param.int_parsing"]
    missing = validate_text(HEAD + CAM + SINK, "wf.yaml", overrides=["camera.frames=1"])
    assert missing.issues[0].code == "set.node" and "cam" in missing.issues[0].hint


def test_unwritable_sink_path_is_found_before_running(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = check(CAM + f"  rec: {{type: debug.record, params: {{path: {blocker}/out.jsonl}}, "
                   "inputs: {image: cam.image}}\n")
    assert [i.code for i in result.issues] == ["param.check"]
    assert result.issues[0].field == "path"


def test_a_broken_header_or_a_duplicate_key_does_not_hide_the_nodes_problems():
    result = validate_text(
        "version: 1\nsettings: {on_eror: stop}\nnodes:\n"
        "  cam: {type: source.test_pattern}\n  cam: {type: source.test_pattern}\n"
        "  s: {type: debug.stats, inputs: {image: nope.image}}\n"
        "  m: {type: debug.merge, inputs: {a: cam.image}}\n", "wf.yaml")
    found = {(i.code, i.location.line) for i in result.issues}
    assert {("key.missing", 1), ("key.extra_forbidden", 2), ("yaml.duplicate_key", 5),
            ("input.missing_node", 6), ("input.kind", 7)} <= found
    nested = next(i for i in result.issues if i.code == "key.extra_forbidden")
    assert nested.hint == "did you mean 'on_error'?"


def test_non_text_node_id_and_input_are_located_and_explained():
    result = check("  1: {type: source.test_pattern}\n" + CAM + "  s: {type: debug.stats, inputs: {image: 5}}\n" + SINK)
    by_code = {i.code: i for i in result.issues}
    assert by_code["node.id"].location.line == 4
    assert "node.port" in by_code["key.string_type"].hint
    assert len([i for i in result.issues if i.location.line == 6]) == 1  # one mistake, one message


def test_a_param_taken_from_a_node_of_unknown_type_is_one_error_not_a_crash():
    # Found by tests/workflows/test_fuzz.py: the zone's node had a broken type, and the graph pass that
    # follows sources through params looked it up (KeyError) instead of leaving it to its own error.
    result = validate_text(
        "version: 1\nname: t\nnodes:\n  cam: {type: source.test_pattern}\n"
        "  find: {type: detect.threshold, inputs: {image: cam.image}}\n"
        "  outline: {type: -1e308, inputs: {detections: find.detections}}\n"
        "  zone: {type: zone.count, params: {polygon: $outline.polygon}, inputs: {detections: find.detections}}\n"
        "  log: {type: sink.jsonl, params: {path: /dev/null}, inputs: {value: zone.value}}\n", "wf.yaml")
    errors = [i for i in result.issues if i.is_error]
    assert [i.location.line for i in errors] == [6]
