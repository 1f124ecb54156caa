"""The canvas-related parts of the app (sidebar layout toggle, undo through an edit) via AppTest."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml
from appkit import yaml_area
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "segflow" / "ui" / "app.py")


def start(monkeypatch, workspace: Path) -> AppTest:
    monkeypatch.setenv("SEGFLOW_EDITOR_WORKSPACE", str(workspace))
    monkeypatch.setenv("SEGFLOW_EDITOR_FILE", "workflows/coins.yaml")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_layout_toggle_puts_positions_in_the_yaml_and_save_writes_them(monkeypatch, tmp_path):
    (tmp_path / "workflows").mkdir()
    shutil.copy(ROOT / "workflows" / "coins.yaml", tmp_path / "workflows" / "coins.yaml")
    os.symlink(ROOT / "assets", tmp_path / "assets")
    at = start(monkeypatch, tmp_path)
    toggle = [c for c in at.checkbox if c.label == "Store layout in the YAML"]
    assert toggle and toggle[0].value is False
    toggle[0].check().run()
    text = yaml_area(at).value
    assert set(yaml.safe_load(text)["ui"]["positions"]) == set(yaml.safe_load(text)["nodes"])
    assert "● unsaved" in "\n".join(str(m.value) for m in at.markdown)
    at.button(key="save_btn").click().run()
    saved = yaml.safe_load((tmp_path / "workflows" / "coins.yaml").read_text())
    assert "positions" in saved["ui"]
    assert not (tmp_path / "workflows" / "coins.layout.json").exists()
    editor = at.session_state["editor"]
    assert editor.undo()  # the toggle itself is an undo step
    assert "ui:" not in editor.state.to_yaml()
