"""Forms from pydantic schemas, the workspace's save rules, and the editor command line."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from segflow.engine.hosts import is_loopback
from segflow.engine.registry import default_registry
from segflow.ui import forms
from segflow.ui.command import EDITOR
from segflow.ui.workspace import SaveConflict, Workspace, WorkspaceError


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def spec(registry, type_name: str, field: str) -> forms.FieldSpec:
    return {s.name: s for s in forms.field_specs(registry.get(type_name).Params)}[field]


@pytest.mark.parametrize(
    ("type_name", "field", "widget", "default", "low", "high", "options"),
    [
        ("detect.yolo", "confidence", "float", 0.25, 0, 1, []),
        ("detect.yolo", "imgsz", "int", 640, 32, 8192, []),
        ("detect.yolo", "half", "checkbox", False, None, None, []),
        ("detect.yolo", "model", "text", None, None, None, []),
        ("detect.threshold", "method", "choice", "otsu", None, None, ["fixed", "otsu", "adaptive"]),
        ("detect.threshold", "max_area", "yaml", None, None, None, []),
        ("annotate.detections", "label", "text", "{class_name} {confidence:.2f}", None, None, []),
        ("measure.masks", "scale", "tagged", None, None, None, []),
        ("analyze.colour", "palette", "yaml", None, None, None, []),
    ],
)
def test_widget_per_type(registry, type_name, field, widget, default, low, high, options):
    s = spec(registry, type_name, field)
    assert (s.widget, s.default, s.minimum, s.maximum, s.options) == (widget, default, low, high, options)
    assert s.help  # every field's description becomes help text


def test_a_tagged_union_gets_each_modes_own_fields(registry):
    scale = spec(registry, "measure.masks", "scale")
    assert scale.tag == "mode" and scale.optional
    assert list(scale.variants) == ["fixed", "reference", "aruco", "plane"]
    fields = {mode: {s.name: s.widget for s in subs} for mode, subs in scale.variants.items()}
    assert fields["fixed"] == {"mm_per_px": "float", "mm_per_px_u": "float"}
    assert fields["reference"]["dimension"] == "choice" and fields["aruco"]["plane"] == "checkbox"
    assert fields["plane"]["points_px"] == "points"  # a list of points: a table inside the sub-form
    assert scale.mode_of({"mode": "aruco", "marker_mm": 20}) == "aruco" and scale.mode_of({"mode": "x"}) is None


def test_required_field_is_marked(registry):
    assert spec(registry, "detect.yolo", "model").required
    assert not spec(registry, "detect.yolo", "confidence").required


@pytest.mark.parametrize(
    ("type_name", "values", "error_field", "words"),
    [
        ("detect.yolo", {"model": "m.pt", "confidence": 0.5}, None, ""),
        ("detect.yolo", {"model": "m.pt", "confidence": 1.5}, "confidence", "less than or equal to 1"),
        ("detect.yolo", {"confidence": 0.5}, "model", "Field required"),
        ("detect.threshold", {"method": "magic"}, "method", "'fixed', 'otsu' or 'adaptive'"),
        ("annotate.detections", {"text_scale": 0.0}, "text_scale", "greater than 0"),
        ("annotate.detections", {"label": None}, None, ""),
        ("detect.threshold", {"colour": 3}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_check_refuses_with_pydantic_messages(registry, type_name, values, error_field, words):
    model = registry.get(type_name).Params
    if error_field is None:
        forms.check(model, values)
        return
    with pytest.raises(forms.FormError) as info:
        forms.check(model, values)
    assert words in info.value.messages[error_field]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("[1, 2]", [1, 2]), ("{mode: fixed, mm_per_px: 0.5}", {"mode": "fixed", "mm_per_px": 0.5}), ("", None),
     ("[1, 2", forms.FormError), ("&a [*a]", forms.FormError), ("[" * 5000 + "]" * 5000, forms.FormError),
     ("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
      "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]",
      forms.FormError)],  # a recursive alias, deep nesting and an alias bomb (5.3 million values)
)
def test_yaml_fields_parse_or_refuse(registry, raw, expected):
    s = spec(registry, "analyze.colour", "palette")
    if expected is forms.FormError:
        with pytest.raises(forms.FormError, match="not valid YAML"):
            forms.parse_widget_value(s, raw)
    else:
        assert forms.parse_widget_value(s, raw) == expected


def test_changes_keep_untouched_values_implicit(registry):
    specs = forms.field_specs(registry.get("detect.threshold").Params)
    current = {"blur": 5, "offset": -15}
    entered = {s.name: current.get(s.name, s.default) for s in specs}
    entered["offset"] = -15.0  # a float widget shows the int -15 as -15.0: not a change
    assert forms.changes(specs, current, entered) == {}
    entered["blur"] = 7
    entered["invert"] = True
    assert forms.changes(specs, current, entered) == {"blur": 7, "invert": True}


# -- workspace -------------------------------------------------------------------------------------


@pytest.fixture
def ws(tmp_path) -> Workspace:
    (tmp_path / "work" / "workflows").mkdir(parents=True)
    (tmp_path / "work" / "workflows" / "a.yaml").write_text("version: 1\n")
    (tmp_path / "secret.yaml").write_text("x: 1\n")
    os.symlink(tmp_path, tmp_path / "work" / "escape")
    return Workspace(tmp_path / "work")


@pytest.mark.parametrize(
    ("path", "ok"),
    [("workflows/a.yaml", True), ("new.yaml", True), ("../secret.yaml", False), ("/etc/passwd", False),
     ("escape/secret.yaml", False), ("workflows/../../secret.yaml", False), ("", False)],
)
def test_paths_outside_the_workspace_are_refused(ws, path, ok):
    if ok:
        assert ws.resolve(path).is_relative_to(ws.root)
    else:
        with pytest.raises(WorkspaceError):
            ws.resolve(path)


def test_save_refuses_silent_overwrites(ws):
    opened = ws.open("workflows/a.yaml")
    saved = ws.save("workflows/a.yaml", "version: 1\nname: b\n", opened)
    assert (ws.root / "workflows/a.yaml").read_text() == "version: 1\nname: b\n"
    (ws.root / "workflows/a.yaml").write_text("changed elsewhere\n")
    with pytest.raises(SaveConflict, match="changed on disk"):
        ws.save("workflows/a.yaml", "mine\n", saved)
    assert (ws.root / "workflows/a.yaml").read_text() == "changed elsewhere\n"
    with pytest.raises(SaveConflict, match="already exists"):
        ws.save("workflows/a.yaml", "mine\n", None)
    ws.save("workflows/a.yaml", "mine\n", saved, overwrite=True)
    assert (ws.root / "workflows/a.yaml").read_text() == "mine\n"
    with pytest.raises(WorkspaceError, match="ends in .yaml"):
        ws.save("notes.txt", "x", None)
    new = ws.save("sub/dir/new.yaml", "version: 1\n", None)
    assert new.path == "sub/dir/new.yaml" and not list((ws.root / "sub/dir").glob(".*.tmp"))
    assert ws.workflows() == ["sub/dir/new.yaml", "workflows/a.yaml"]


# -- command line ----------------------------------------------------------------------------------


def args(**kw) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    EDITOR.add_arguments(parser)
    argv = [kw.pop("file")] if "file" in kw else []
    for key, value in kw.items():
        argv += [f"--{key}", str(value)]
    return parser.parse_args(argv)


def test_command_binds_loopback_headless_without_stats(tmp_path):
    (tmp_path / "w.yaml").write_text("version: 1\n")
    cmd, env = EDITOR.command_line(args(file=str(tmp_path / "w.yaml"), workspace=tmp_path, port=8600))
    flags = dict(zip(cmd[5::2], cmd[6::2], strict=False))
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("ui/app.py")
    assert flags["--server.address"] == "127.0.0.1" and flags["--server.port"] == "8600"
    assert flags["--server.headless"] == "true" and flags["--browser.gatherUsageStats"] == "false"
    assert env["SEGFLOW_EDITOR_FILE"] == "w.yaml" and Path(env["SEGFLOW_EDITOR_WORKSPACE"]) == tmp_path.resolve()
    # One script thread per session: with fast reruns a new thread starts while the old one is still in
    # a callback, and both edit the one document (a YAML echo replaced the state after a quick add).
    assert flags["--runner.fastReruns"] == "false"


@pytest.mark.parametrize(
    ("kw", "words"),
    [({"file": "/etc/hosts"}, "outside the workspace"), ({"port": 0}, "expected 1-65535"),
     ({"workspace": "/no/such/folder"}, "not a folder")],
)
def test_command_refuses_bad_arguments(tmp_path, kw, words):
    kw.setdefault("workspace", tmp_path)
    with pytest.raises(ValueError, match=words):
        EDITOR.command_line(args(**kw))


@pytest.mark.parametrize(("host", "refused"), [("127.0.0.1", False), ("::1", False), ("localhost", False),
                                               ("0.0.0.0", True), ("192.168.1.5", True), ("myhost.lan", True)])
def test_non_loopback_host_needs_a_token(tmp_path, monkeypatch, capsys, host, refused):
    calls = []
    monkeypatch.delenv("SEGFLOW_TOKEN", raising=False)
    monkeypatch.setattr("segflow.ui.command.serve", lambda cmd, env, cwd: calls.append((cmd, env)) or 0)
    assert EDITOR.run(args(host=host, workspace=tmp_path)) == (2 if refused else 0)
    err = capsys.readouterr().err
    assert is_loopback(host) is not refused
    assert (f"refusing to listen on {host} without a token" in err) is refused
    assert ("hint: --token-file FILE" in err) is refused
    if refused:
        assert not calls and "Traceback" not in err
        return
    cmd, env = calls[0]
    assert cmd[cmd.index("--server.address") + 1] == host and "SEGFLOW_EDITOR_TOKEN" not in env


@pytest.mark.parametrize("how", ["flag", "file", "env"])
def test_a_token_opens_a_network_address_and_reaches_the_app_only(tmp_path, monkeypatch, capsys, how):
    calls = []
    monkeypatch.delenv("SEGFLOW_TOKEN", raising=False)
    monkeypatch.setattr("segflow.ui.command.serve", lambda cmd, env, cwd: calls.append((cmd, env)) or 0)
    kw = {"host": "0.0.0.0", "workspace": tmp_path}
    if how == "flag":
        kw["token"] = "s3cret-token"
    elif how == "file":
        (tmp_path / "token.txt").write_text("s3cret-token\n")
        kw["token-file"] = tmp_path / "token.txt"
    else:
        monkeypatch.setenv("SEGFLOW_TOKEN", "s3cret-token")
    assert EDITOR.run(args(**kw)) == 0
    cmd, env = calls[0]
    assert env["SEGFLOW_EDITOR_TOKEN"] == "s3cret-token"
    assert "s3cret-token" not in " ".join(cmd) and "s3cret-token" not in capsys.readouterr().err


def test_an_empty_token_file_is_refused(tmp_path, capsys):
    (tmp_path / "token.txt").write_text("\n")
    assert EDITOR.run(args(host="0.0.0.0", workspace=tmp_path, **{"token-file": tmp_path / "token.txt"})) == 2
    assert "cannot read the token" in capsys.readouterr().err


@pytest.mark.parametrize("mode", [0o644, 0o664, 0o600, 0o755])
def test_save_keeps_the_files_mode(ws, mode):
    target = ws.root / "workflows" / "a.yaml"
    target.chmod(mode)
    ws.save("workflows/a.yaml", "version: 1\nname: b\n", ws.open("workflows/a.yaml"))
    assert target.stat().st_mode & 0o7777 == mode and target.read_text() == "version: 1\nname: b\n"


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_a_new_file_gets_the_umask_mode(ws, umask):
    old = os.umask(umask)
    try:
        ws.save("workflows/new.yaml", "version: 1\n", None)
    finally:
        os.umask(old)
    assert (ws.root / "workflows" / "new.yaml").stat().st_mode & 0o777 == 0o666 & ~umask


# -- Apply: write the changes, or say why not ------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "current", "typed", "changes", "messages"),
    [
        ("detect.yolo", {"model": "m.pt", "confidence": 0.35}, {"confidence": 0.5}, {"confidence": 0.5}, {}),
        ("detect.yolo", {"model": "m.pt", "confidence": 0.35}, {"confidence": 5.0}, {},
         {"confidence": "Input should be less than or equal to 1"}),
        ("detect.yolo", {"model": "m.pt"}, {"imgsz": 8}, {}, {"imgsz": "Input should be greater than or equal to 32"}),
        # Two bad fields: both messages, nothing written.
        ("annotate.detections", {}, {"text_scale": 0.0, "thickness": -3}, {},
         {"text_scale": "greater than 0", "thickness": "greater than"}),
        # Letters in a number field: a message, not a value that vanishes.
        ("detect.yolo", {"model": "m.pt"}, {"confidence": "0.4x"}, {}, {"confidence": "'0.4x' is not a number"}),
        ("detect.yolo", {"model": "m.pt"}, {"imgsz": "1e3"}, {"imgsz": 1000}, {}),
        # A cross-field error comes with the field errors, under the field it names.
        ("detect.threshold", {}, {"block_size": "4", "min_area": "ten"}, {},
         {"block_size": "block_size must be odd", "min_area": "not a whole number"}),
        # The scale's sub-form: the mode's own fields, parsed and checked like the others.
        ("measure.masks", {}, {"scale": {"mode": "fixed", "mm_per_px": "0.5", "mm_per_px_u": "0"}},
         {"scale": {"mode": "fixed", "mm_per_px": 0.5}}, {}),
        ("measure.masks", {}, {"scale": {"mode": "fixed", "mm_per_px": "half"}, "skeleton": True}, {},
         {"scale": "'half' is not a number"}),
        ("measure.masks", {}, {"scale": {"mode": "fixed", "mm_per_px": "-1"}}, {}, {"scale": "greater than 0"}),
        ("measure.masks", {"scale": {"mode": "fixed", "mm_per_px": 0.5}}, {"scale": None}, {"scale": None}, {}),
        ("detect.yolo", {"model": "m.pt", "confidence": 0.35}, {}, {}, {}),  # nothing touched
    ],
)
def test_apply_writes_changes_or_gives_pydantic_messages(registry, type_name, current, typed, changes, messages):
    cls = registry.get(type_name)
    specs = forms.field_specs(cls.Params)
    entered = {s.name: s.display(current.get(s.name, s.default)) for s in specs} | typed
    applied = forms.apply_entered(cls.Params, specs, current, entered)
    assert applied.changes == changes
    assert set(applied.messages) == set(messages) or all(
        any(k.split(".")[0] == name for k in applied.messages) for name in messages)
    for name, words in messages.items():
        text = " ".join(v for k, v in applied.messages.items() if k.split(".")[0] == name)
        assert words in text, applied.messages


def test_number_fields_state_their_range_in_the_help(registry):
    assert spec(registry, "detect.yolo", "confidence").bounds_text() == "from 0 to 1"
    assert spec(registry, "detect.yolo", "imgsz").bounds_text() == "from 32 to 8192"
    assert spec(registry, "detect.yolo", "model").bounds_text() == ""


# -- points: a zone, a line, a plane's points as a table ---------------------------------------------


def test_lists_of_points_are_tables(registry):
    polygon = spec(registry, "zone.count", "polygon")
    line = spec(registry, "line.count", "line")
    assert (polygon.widget, polygon.optional, line.widget, line.optional) == ("points", False, "points", True)
    assert spec(registry, "measure.masks", "scale").variants["plane"][0].widget == "points"  # points_px
    assert polygon.display([[0, 0], [640, 0.5]]) == [{"x": 0, "y": 0}, {"x": 640, "y": 0.5}]


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        (None, [[0, 0], [10, 0], [10, 10]]),
        ({"edited_rows": {1: {"x": 20.5}}}, [[0, 0], [20.5, 0], [10, 10]]),
        ({"deleted_rows": [0], "added_rows": [{"x": 0, "y": 10}, {}]}, [[10, 0], [10, 10], [0, 10]]),
        ({"added_rows": [{"x": 5}]}, forms.FormError),  # half a point
    ],
)
def test_table_edits_make_the_points(registry, edits, expected):
    polygon = spec(registry, "zone.count", "polygon")
    rows = forms.table_rows(polygon.display([[0, 0], [10, 0], [10, 10]]), edits)
    if expected is forms.FormError:
        with pytest.raises(forms.FormError, match="point 4 needs a number for both x and y"):
            forms.parse_widget_value(polygon, rows)
    else:
        assert forms.parse_widget_value(polygon, rows) == expected


def test_a_polygon_table_applies_like_any_field(registry):
    cls = registry.get("zone.count")
    specs = forms.field_specs(cls.Params)
    current = {"polygon": [[0, 0], [10, 0], [10, 10]]}
    rows = forms.table_rows(specs[0].display(current["polygon"]), {"deleted_rows": [2]})
    applied = forms.apply_entered(cls.Params, specs, current, {"polygon": rows})
    assert "at least 3 points" in applied.messages["polygon"] and not applied.changes
    rows = forms.table_rows(specs[0].display(current["polygon"]), {"added_rows": [{"x": 0, "y": 10}]})
    applied = forms.apply_entered(cls.Params, specs, current, {"polygon": rows})
    assert applied.changes == {"polygon": [[0, 0], [10, 0], [10, 10], [0, 10]]}
