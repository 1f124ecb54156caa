"""The editor safe on a network: the token gate, secrets masked on the page, writes kept in the workspace.

The page is driven by ``streamlit.testing.v1.AppTest`` (the script, its widgets and
callbacks, no browser); the browser-side login is in ``test_editor_safe_browser.py``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from appkit import node_pick, texts, yaml_area
from streamlit.testing.v1 import AppTest

from segflow.engine.registry import default_registry
from segflow.ui import secrets_view
from segflow.ui.editor import Editor
from segflow.ui.state import EditError
from segflow.ui.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "segflow" / "ui" / "app.py")
PASSWORD = "Pa55:w/rd@x"  # a real password holds ':' '/' '@'
HOOK = (f"  hook:\n    type: sink.webhook\n    params:\n      url: 'http://op:{PASSWORD}@127.0.0.1:9/hook'\n"
        f"      headers: {{Authorization: Bearer tok-123456}}\n    inputs: {{detections: measure.detections}}\n")


@pytest.fixture
def workspace(tmp_path) -> Path:
    (tmp_path / "workflows").mkdir()
    text = (ROOT / "workflows" / "coins.yaml").read_text()
    (tmp_path / "workflows" / "coins.yaml").write_text(text.rstrip("\n") + "\n" + HOOK)
    os.symlink(ROOT / "assets", tmp_path / "assets")
    return tmp_path


def app(monkeypatch, workspace: Path, token: str | None = None) -> AppTest:
    monkeypatch.setenv("SEGFLOW_EDITOR_WORKSPACE", str(workspace))
    monkeypatch.setenv("SEGFLOW_EDITOR_FILE", "workflows/coins.yaml")
    if token:
        monkeypatch.setenv("SEGFLOW_EDITOR_TOKEN", token)
    else:
        monkeypatch.delenv("SEGFLOW_EDITOR_TOKEN", raising=False)
    return AppTest.from_file(APP, default_timeout=60)


# -- the token gate --------------------------------------------------------------------------------


def test_without_the_token_nothing_of_the_editor_exists(monkeypatch, workspace):
    at = app(monkeypatch, workspace, token="the-right-token")
    at.run()
    assert not at.exception
    assert [w.label for w in at.text_input] == ["Token"] and not at.text_area and not at.sidebar.button
    assert "editor" not in at.session_state
    at.text_input[0].input("a-wrong-token")
    at.button[0].click().run()
    assert "not the token" in texts(at.error) and "editor" not in at.session_state
    at.text_input[0].input("the-right-token")
    at.button[0].click().run()
    assert not at.exception and "editor" in at.session_state
    assert yaml_area(at).value.startswith("# yaml-language-server")


def test_a_link_with_the_token_lets_in_and_leaves_the_address_bar(monkeypatch, workspace):
    at = app(monkeypatch, workspace, token="the-right-token")
    at.query_params["token"] = "the-right-token"
    at.run()
    assert not at.exception and "editor" in at.session_state and "token" not in at.query_params


def test_a_link_with_a_wrong_token_gets_the_form(monkeypatch, workspace):
    at = app(monkeypatch, workspace, token="the-right-token")
    at.query_params["token"] = "the-wrong-token"
    at.run()
    assert "editor" not in at.session_state and [w.label for w in at.text_input] == ["Token"]


def test_on_loopback_there_is_no_login(monkeypatch, workspace):
    at = app(monkeypatch, workspace)
    at.run()
    assert "editor" in at.session_state and not [w for w in at.text_input if w.label == "Token"]


# -- secrets on the page ---------------------------------------------------------------------------


def test_the_yaml_tab_and_the_form_mask_secrets_and_edits_keep_them(monkeypatch, workspace):
    at = app(monkeypatch, workspace)
    at.run()
    shown = yaml_area(at).value
    assert PASSWORD not in shown and "tok-123456" not in shown
    assert "url: 'http://op:***@127.0.0.1:9/hook'" in shown and "Authorization: ***" in shown
    # an edit elsewhere in the masked text applies, and the secrets keep their values
    yaml_area(at).set_value(shown.replace("blur: 5", "blur: 7")).run()
    document = at.session_state["editor"].state.to_yaml()
    assert "blur: 7" in document and PASSWORD in document and "Bearer tok-123456" in document
    assert PASSWORD not in yaml_area(at).value
    # the form: the URL field shows the masked URL; Apply with another field changed keeps it
    node_pick(at).set_value("hook").run()
    fields = {w.key.rsplit(":", 1)[-1]: w for w in at.text_input if w.key and w.key.startswith("param:hook:")}
    assert fields["url"].value == "http://op:***@127.0.0.1:9/hook"
    headers = next(w for w in at.text_area if w.key and w.key.startswith("param:hook:") and w.key.endswith("headers"))
    assert "tok-123456" not in headers.value
    fields["timeout_s"].set_value("3")  # a number field is text (letters get a message)
    next(b for b in at.button if b.key and b.key.startswith("apply:param:hook:")).click().run()
    document = at.session_state["editor"].state.to_yaml()
    assert "timeout_s: 3" in document and PASSWORD in document and "Bearer tok-123456" in document


def test_an_edit_around_a_masked_password_is_refused_not_saved_as_stars(monkeypatch, workspace):
    at = app(monkeypatch, workspace)
    at.run()
    shown = yaml_area(at).value
    yaml_area(at).set_value(shown.replace("127.0.0.1:9/hook", "127.0.0.1:9/other")).run()
    assert "type the whole secret again" in texts(at.error)
    assert PASSWORD in at.session_state["editor"].state.to_yaml()
    assert "/hook'" in at.session_state["editor"].state.to_yaml()


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("url: rtsp://op:pw123@cam/1\n", "pw123", "url: rtsp://op:***@cam/1"),
        ("{url: 'rtsp://op:a,b c@cam/1', fps: 5}\n", "a,b c", "fps: 5}"),
        ("password: hunter22  # mail\n", "hunter22", "# mail"),
        ("smtp_password: 'hunter22'\n", "hunter22", "smtp_password: ***"),
        ("query: {api_key: k-998877, n: 1}\n", "k-998877", "n: 1}"),
        ("url: https://h.example/x?token=abc123&n=1\n", "abc123", "n=1"),
        ("password: ${SMTP_PASSWORD}\n", None, "${SMTP_PASSWORD}"),  # a reference is no secret
        ("token: ''\n", None, "token: ''"),
        ('headers: {Authorization: "Bearer ${TOKEN}"}\n', None, "Bearer ${TOKEN}"),
        ("headers: {Authorization: Bearer abc123}\n", "abc123", "{Authorization: ***}"),
    ],
)
def test_mask_text_hides_secrets_and_unmask_gives_them_back(text, hidden, kept):
    shown = secrets_view.mask_text(text)
    assert kept in shown and (hidden is None or hidden not in shown)
    assert secrets_view.unmask_text(shown, text) == text
    assert not secrets_view.lost_secret(secrets_view.unmask_text(shown, text), text)


# -- writes stay in the workspace ------------------------------------------------------------------


def test_a_run_whose_sink_writes_outside_the_workspace_is_refused_before_it_runs(tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "workflows", ws / "workflows", ignore=lambda d, names: [n for n in names
                                                                                   if n != "coins.yaml"])
    editor = Editor(Workspace(ws), default_registry())
    editor.open("workflows/coins.yaml")
    assert editor.set_yaml(editor.state.to_yaml().replace("{path: out/coins.jsonl}", "{path: ../escaped.jsonl}"))
    with pytest.raises(EditError, match=r"coins.yaml:\d+:\d+: node 'log': param 'path': writes .*outside the"):
        editor.run(np.zeros((8, 8, 3), np.uint8), run_sinks=True)
    assert not (tmp_path / "escaped.jsonl").exists()


def test_a_new_secret_typed_in_is_no_lost_one():
    original = "password: hunter22\n"
    edited = secrets_view.unmask_text("password: ***\ntoken: brand-new-1\n", original)
    assert edited == "password: hunter22\ntoken: brand-new-1\n" and not secrets_view.lost_secret(edited, original)
    assert secrets_view.lost_secret("password: hunter22\ntoken: ***\n", original)  # stars nothing stands for
    url = "url: https://h.example/x?token=abc123\n"
    moved = secrets_view.unmask_text(secrets_view.mask_text(url).replace("h.example", "g.example"), url)
    assert secrets_view.lost_secret(moved, url)  # an edit around a masked query token is caught too
