"""Hostile text in a workflow: giant or disguised names are cut and escaped, never echoed whole or raw."""

import contextlib
import io

import pytest

from segflow.engine import cli
from segflow.engine.text import path_part, shorten
from segflow.engine.workflow.validate import validate_text

HEAD = "version: 1\nname: t\nnodes:\n"
CAM = "  cam: {type: source.test_pattern, params: {frames: 3}}\n"
SINK = "  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {image: cam.image}}\n"


def validate_cli(tmp_path, text: str) -> tuple[int, str]:
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["validate", str(path)])
    return code, out.getvalue() + err.getvalue()


def test_a_giant_unknown_type_is_not_echoed_whole(tmp_path):
    code, printed = validate_cli(tmp_path, HEAD + CAM + "  x: {type: " + "q" * 1_000_000 + "}\n" + SINK)
    assert code == 2
    assert len(printed) < 2_000, len(printed)
    assert "1,000,000 characters" in printed


@pytest.mark.parametrize("bad", ["cam\u202eexe", "a\nfake.yaml:1:1: node 'x': all is well", "id\x00", "z\u2066w"])
def test_a_node_id_with_hidden_characters_is_refused_and_shown_escaped(tmp_path, bad):
    quoted = bad.encode("unicode_escape").decode("ascii")
    code, printed = validate_cli(tmp_path, HEAD + CAM + f'  "{quoted}": {{type: debug.noop}}\n' + SINK)
    assert code == 2
    assert "node id" in printed
    for raw in ("\u202e", "\u2066", "\x00"):
        assert raw not in printed
    assert "\nfake.yaml" not in printed  # the newline cannot fake a line of its own
    assert "\\n" in printed or "\\u" in printed or "\\x00" in printed


def test_every_issue_message_goes_through_the_shortener():
    result = validate_text(HEAD + CAM + "  x: {type: " + "q" * 10_000 + "}\n" + SINK, "wf.yaml")
    assert all(len(i.format()) < 1_000 for i in result.issues)
    assert all(len(str(i.to_dict()["message"])) < 1_000 for i in result.issues)


def test_shorten_cuts_and_escapes():
    assert shorten("a\nb\u202ec") == "a\\nb\\u202ec"
    assert shorten("x" * 300, 10) == "xxxxxxxxxx... (300 characters)"
    assert shorten("two\nlines\r", lines=True) == "two\nlines\\r"


@pytest.mark.parametrize(
    ("name", "safe"),
    [("coffee-stones", "coffee-stones"), ("../../ESCAPED", "_._.._ESCAPED"), ("..", "_."), (".", "_"),
     ("a/b\\c", "a_b_c"), ("", "_"), ("line 3", "line_3"), ("kaffee-bohnen-ä", "kaffee-bohnen-ä")],
)  # fmt: skip
def test_path_part_is_one_safe_component(name, safe):
    assert path_part(name) == safe


def test_a_long_path_part_is_cut_and_kept_apart():
    a, b = path_part("é" * 300 + "a"), path_part("é" * 300 + "b")
    assert a != b
    assert len(a.encode()) <= 100 and len(b.encode()) <= 100


@pytest.mark.parametrize(
    ("template", "error"),
    [("{length_mm:.1f} mm", None), ("{frame:06d}", None), ("{x!r:>10}", None), ("{x:.2f+-}", None),
     ("{length_mm:-999999999}", "width"), ("{x:.999999999f}", "precision"), ("{x:{y}}", "nested"),
     ("{0}", "field name"), ("{a.b}", "field name"), ("{a[0]}", "field name"), ("{x!z}", "conversion"),
     ("{x:zz}", "format Python understands"), ("{", "Single '{'")],
)  # fmt: skip
def test_templates_are_checked(template, error):
    from segflow.engine.text import check_template

    if error is None:
        assert check_template(template, "label", suffix="+-") == template
    else:
        with pytest.raises(ValueError, match=error):
            check_template(template, "label", suffix="+-")


def test_a_template_with_samples_is_filled_once():
    from segflow.engine.text import check_template

    with pytest.raises(ValueError, match="only {source}, {frame} exist"):
        check_template("{camera}", "name", {"source": "s", "frame": 1})
    with pytest.raises(ValueError, match="Unknown format code 'd'"):
        check_template("{source:d}", "name", {"source": "s", "frame": 1})
