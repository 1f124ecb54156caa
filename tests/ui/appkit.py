"""Helpers for the editor driven by ``streamlit.testing.v1.AppTest``."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Selectbox, TextArea


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
