"""Hostile workflow files end in one located exit-2 error, never a hang, a RecursionError or a memory blow-up."""

import os

import pytest

from segflow.engine.workflow.limits import Limits
from segflow.engine.workflow.validate import validate_file, validate_text
from segflow.engine.workflow.yaml_source import load_yaml

HEAD = "version: 1\nname: t\nnodes:\n"
CAM = "  cam: {type: source.test_pattern, params: {frames: 3}}\n"
SINK = "  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {image: cam.image}}\n"


def alias_bomb(levels: int = 8) -> str:
    """Nine aliases per level, ``levels`` levels: about 430 bytes that expand to 9**(levels+1) values."""
    names = "abcdefghijklmnop"
    text = f"{names[0]}: &{names[0]} [x,x,x,x,x,x,x,x,x]\n"
    for i in range(1, levels + 1):
        text += f"{names[i]}: &{names[i]} [" + ",".join([f"*{names[i - 1]}"] * 9) + "]\n"
    return text


@pytest.mark.parametrize(
    ("text", "code", "line", "hint"),
    [
        (alias_bomb(), "yaml.size", None, "SEGFLOW_MAX_VALUES="),
        ("x: &a [*a]\n", "yaml.recursive", 1, ""),
        ("x: &a {y: *a}\n", "yaml.recursive", 1, ""),
        ("x: &a {<<: *a}\n", "yaml.recursive", 1, ""),
        ("x: " + "[" * 5000 + "]" * 5000 + "\n", "yaml.depth", 1, "SEGFLOW_MAX_DEPTH="),
        ("x: " + "{a: " * 400 + "1" + "}" * 400 + "\n", "yaml.depth", 1, "SEGFLOW_MAX_DEPTH="),
        ("x:\n" + "".join("  " * i + "- \n" for i in range(1, 300)), "yaml.depth", None, "SEGFLOW_MAX_DEPTH="),
        # aliases multiply depth: each level is shallow, the expansion is not
        ("a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [[[*a{i - 1}]]]\n" for i in range(1, 40)), "yaml.depth", None, ""),
    ],
)
def test_hostile_yaml_is_one_located_error(text, code, line, hint):
    loaded = load_yaml(text, "wf.yaml")
    assert loaded.data is None
    assert [i.code for i in loaded.issues] == [code]
    issue = loaded.issues[0]
    assert issue.location.file == "wf.yaml"
    if line is not None:
        assert issue.location.line == line
    assert hint in issue.hint


def test_a_merge_chain_is_measured_as_it_doubles():
    chain = "m0: &m0 {a: 1, b: 2}\n" + "".join(f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}\n"
                                               for i in range(1, 40))
    loaded = load_yaml(chain, "wf.yaml", Limits(values=10_000))
    assert loaded.data is None or sum(len(v) for v in loaded.data.values()) < 10_000


def test_limits_are_raised_from_the_environment():
    assert Limits.from_env({"SEGFLOW_MAX_DEPTH": "200", "SEGFLOW_MAX_NODES": "50_000"}) == Limits(depth=200,
                                                                                                   nodes=50_000)
    assert Limits.from_env({"SEGFLOW_MAX_DEPTH": "lots"}) == Limits()  # nonsense keeps the default
    deep = "x: " + "[" * 100 + "]" * 100 + "\n"
    assert load_yaml(deep, "wf.yaml").issues[0].code == "yaml.depth"
    assert load_yaml(deep, "wf.yaml", Limits(depth=200)).issues == []


def test_version_true_is_not_version_1():
    result = validate_text("version: true\nname: t\nnodes:\n" + CAM + SINK, "wf.yaml")
    assert not result.ok
    assert [(i.code, i.location.line) for i in result.issues] == [("key.value_error", 1)]


def test_node_count_limit_names_itself_and_allows_large_generated_graphs():
    def chain(n):
        body = CAM + "".join(f"  n{i}: {{type: debug.invert, inputs: {{image: {'cam' if i == 0 else f'n{i - 1}'}"
                             ".image}}\n" for i in range(n))
        return HEAD + body + SINK.replace("cam.image", f"n{n - 1}.image")

    assert validate_text(chain(10_000), "big.yaml").ok  # the speed of this is bench/validate_large.py's job
    refused = validate_text(chain(50), "big.yaml", limits=Limits(nodes=20))
    assert [i.code for i in refused.issues] == ["file.nodes"]
    assert refused.issues[0].location.line == 3 and "SEGFLOW_MAX_NODES=" in refused.issues[0].hint


def test_size_limits_on_files_and_set_values(tmp_path):
    wf = tmp_path / "wf.yaml"
    wf.write_text(HEAD + CAM + SINK + "#" * 5000 + "\n")
    result = validate_file(wf, limits=Limits(file_bytes=4096))
    assert [i.code for i in result.issues] == ["file.size"] and "SEGFLOW_MAX_FILE_BYTES" in result.issues[0].hint
    huge = validate_text(HEAD + CAM + SINK, "wf.yaml", overrides=["cam.frames=" + "9" * 100_000])
    assert [i.code for i in huge.issues] == ["set.size"]
    assert len(huge.issues[0].format()) < 500


@pytest.mark.parametrize("value", ["[" * 3000, "{a: " * 300 + "1" + "}" * 300, "&a [*a]"])
def test_hostile_set_values(value):
    result = validate_text(HEAD + CAM + SINK, "wf.yaml", overrides=[f"cam.frames={value}"])
    assert not result.ok
    assert result.issues[0].code in ("yaml.depth", "yaml.recursive")
    assert result.issues[0].location.file == "--set"
    assert len(result.issues[0].format()) < 500


def test_devices_fifos_and_folders_are_not_workflows(tmp_path):
    fifo = tmp_path / "wf.fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", fifo, tmp_path):
        result = validate_file(path)
        assert [i.code for i in result.issues] == ["file.read"], path
        assert "regular file" in result.issues[0].message or "folder" in result.issues[0].message


def test_long_values_are_cut_in_messages():
    result = validate_text(HEAD + CAM.replace("frames: 3", "frames: " + "x" * 2_000_000) + SINK, "wf.yaml")
    assert [i.code for i in result.issues] == ["param.int_parsing"]
    assert len(result.issues[0].format()) < 500
    assert "2,000,002 characters" in result.issues[0].message  # the repr: quotes included


@pytest.mark.parametrize(("tail", "hint"), [("bad: [1, 2\n", ""), ("x:\n\ty: 1\n", "tabs")])
def test_a_syntax_error_in_a_big_file_is_located(tail, hint):
    """Past 256 KiB the libyaml error is reported as it is (re-reading it in pure Python takes seconds)."""
    text = "".join(f"k{i}: {i}\n" for i in range(40_000)) + tail
    loaded = load_yaml(text, "big.yaml")
    assert [i.code for i in loaded.issues] == ["yaml.syntax"]
    assert loaded.issues[0].location.line >= 40_001 and hint in loaded.issues[0].hint


def deep_block(levels: int) -> str:
    return "x:\n" + "".join("  " * i + "- \n" for i in range(1, levels))


@pytest.mark.parametrize(
    ("text", "limits"),
    [
        (HEAD + CAM + SINK, Limits()),
        ("x: " + "[" * 65 + "]" * 65 + "\n", Limits()),
        ("a: 1\nb: {c: " + "[" * 70 + "]" * 70 + "}\n", Limits()),
        (deep_block(80), Limits()),
        ("x: " + "{a: " * 40 + "1" + "}" * 40 + "\n", Limits(depth=20)),
        ("a: [1, 2]\nb: {c: [" + ", ".join(["x"] * 400) + "]}\n", Limits(values=300)),
        ("a: {" + ", ".join(f"k{i}: {i}" for i in range(200)) + "}\n", Limits(values=300)),
        ("a: 1\na: 2\nb: [" + ", ".join(["x"] * 50) + "]\n", Limits(values=40)),
    ],
)
def test_plain_documents_are_refused_as_the_events_pass_refuses_them(text, limits):
    """A document with no alias skips the events pass and is measured while built: same issues, same places.

    A ``*`` in a comment sends the same document through the events pass.
    """
    plain, measured = load_yaml(text, "wf.yaml", limits), load_yaml(text + "# *\n", "wf.yaml", limits)
    assert [(i.code, i.message, i.location, i.hint) for i in plain.issues] == \
        [(i.code, i.message, i.location, i.hint) for i in measured.issues]
    assert plain.data == measured.data
