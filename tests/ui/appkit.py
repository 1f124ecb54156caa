"""Helpers for the editor driven by ``streamlit.testing.v1.AppTest``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Selectbox, TextArea

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "segflow" / "ui" / "app.py")


def editor_on(monkeypatch, workspace: Path, workflow: str = "coins.yaml", text: str | None = None,
              timeout: float = 60) -> AppTest:
    """The editor on ``workflows/<workflow>`` in ``workspace``, drawn once; the samples are linked.

    The file is ``text`` if given, else a copy of the shipped workflow of that name.
    """
    (workspace / "workflows").mkdir(exist_ok=True)
    if text is None:
        shutil.copy(ROOT / "workflows" / workflow, workspace / "workflows" / workflow)
    else:
        (workspace / "workflows" / workflow).write_text(text)
    os.symlink(ROOT / "assets", workspace / "assets")
    monkeypatch.setenv("SEGFLOW_EDITOR_WORKSPACE", str(workspace))
    monkeypatch.setenv("SEGFLOW_EDITOR_FILE", f"workflows/{workflow}")
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    """The values of ``elements`` (captions, alerts…), one per line: what a test searches for a message."""
    return "\n".join(str(e.value) for e in elements)


def widget(at: AppTest, kind: str, prefix: str):
    """The first ``kind`` widget (``"button"``, ``"selectbox"``…) whose key starts with ``prefix``."""
    found = [w for w in getattr(at, kind) if w.key and w.key.startswith(prefix)]
    assert found, f"no {kind} with key {prefix}*"
    return found[0]


def node_pick(at: AppTest) -> Selectbox:
    """The node picker, found by its label: its key carries a generation (``segflow.ui.fields``)."""
    picks = [w for w in at.selectbox if w.label == "Node"]
    assert len(picks) == 1, f"expected one 'Node' picker, found {len(picks)}"
    return picks[0]


def yaml_area(at: AppTest) -> TextArea:
    """The YAML field, found by its label: its key carries a generation (``segflow.ui.fields``)."""
    areas = [w for w in at.text_area if w.label == "Workflow YAML (edits update the canvas)"]
    assert len(areas) == 1, f"expected one YAML field, found {len(areas)}"
    return areas[0]
