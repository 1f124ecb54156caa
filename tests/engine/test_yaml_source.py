import pytest

from segflow.engine.workflow.yaml_source import load_yaml


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("a: 1\nb: 2\na: 3\n", "yaml.duplicate_key", 3),
        ("nodes:\n  x: {type: a}\n  x: {type: b}\n", "yaml.duplicate_key", 3),
        ("a: !!python/object:os.system {}\n", "yaml.syntax", 1),
        ("a: !!python/name:os.system\n", "yaml.syntax", 1),
        ("a: [1, 2\n", "yaml.syntax", 2),
        ("a:\n\tb: 1\n", "yaml.syntax", 2),
        ("a: 1\nb: {c: 2}\n", None, None),
    ],
)
def test_load_reports_problems_with_their_line(text, code, line):
    loaded = load_yaml(text, "wf.yaml")
    if code is None:
        assert loaded.issues == []
        return
    assert [i.code for i in loaded.issues] == [code]
    assert loaded.issues[0].location.line == line
    assert loaded.issues[0].location.file == "wf.yaml"


def test_tags_never_construct_python_objects():
    loaded = load_yaml("x: !!python/object/apply:os.system ['echo pwned']\n")
    assert loaded.data is None
    assert "tag not allowed" in loaded.issues[0].message


def test_positions_of_keys_and_values():
    loaded = load_yaml("nodes:\n  cam:\n    params: {fps: 30}\n")
    assert loaded.where(("nodes", "cam"), prefer_key=True).line == 2
    fps = loaded.where(("nodes", "cam", "params", "fps"))
    assert (fps.file, fps.line, fps.col) == ("<string>", 3, 19)
    # an unknown path falls back to its nearest known ancestor
    assert loaded.where(("nodes", "cam", "params", "nope")).line == 3


def test_merge_keys_are_plain_data():
    loaded = load_yaml("base: &b {x: 1}\nother: {<<: *b, y: 2}\n")
    assert loaded.data["other"] == {"x": 1, "y": 2}
