"""The Build page's parts that keep state in the browser stay at one place in the page's tree.

Streamlit's page draws afresh whatever changes place in its tree: the canvas reloads (a click on it
in that moment is lost), the tabs go back to the first, an expander closes. So a note that comes and
goes (Save's, a node's issues, "the graph changed since this run") must not move what follows it.
Driven by ``AppTest``: each state's places are compared with the state before. The browser tests
(``test_editor_what_ran_browser.py``) show the same faults as a user meets them.
"""

from __future__ import annotations

import pytest
from appkit import editor_on, node_pick, texts, widget
from streamlit.testing.v1 import AppTest


@pytest.fixture
def at(monkeypatch, tmp_path) -> AppTest:
    return editor_on(monkeypatch, tmp_path)


def places(at: AppTest) -> dict[str, tuple[int, ...]]:
    """Where each part that keeps state in the browser is: components, the tabs, expanders by label."""
    found: dict[str, tuple[int, ...]] = {}

    def walk(node, path: tuple[int, ...]) -> None:
        kind = getattr(node, "type", None)
        if kind == "component_instance":
            found[node.proto.component_name.rsplit(".", 1)[-1]] = path
        elif kind == "tab_container":
            found["tabs"] = path
        elif type(node).__name__ == "Expander" and node.label in ("Inputs", "Per-node timings"):
            found[f"expander {node.label}"] = path
        for index, child in getattr(node, "children", {}).items():
            walk(child, (*path, index))

    walk(at.main, ())
    return found


def test_saves_note_moves_nothing(at):
    before = places(at)
    assert {"segflow_canvas", "segflow_viewer", "tabs"} <= set(before)
    at.button(key="save_top").click().run()
    assert "saved workflows/coins.yaml" in texts(at.success)
    assert places(at) == before
    at.run()  # the note is gone
    assert "saved workflows/coins.yaml" not in texts(at.success)
    assert places(at) == before


def test_a_nodes_issue_moves_nothing_in_its_form(at):
    node_pick(at).set_value("measure").run()
    before = places(at)
    assert "expander Inputs" in before
    wire = widget(at, "selectbox", "wire:measure:detections:")
    wire.set_value("—").run()
    assert "'detections'" in texts(at.caption) and "not wired" in texts(at.caption)
    assert places(at) == before
    wire = widget(at, "selectbox", "wire:measure:detections:")
    wire.set_value("coins.detections").run()
    assert "not wired" not in texts(at.caption)
    assert places(at) == before


def test_a_note_on_the_last_run_moves_nothing(at):
    node_pick(at).set_value("label").run()
    at.session_state["viewer_server"].viewer.run()  # what the page's Run asks over HTTP
    at.run()
    before = places(at)
    assert "expander Per-node timings" in before
    [w for w in at.checkbox if w.key.startswith("param:label:") and w.key.endswith(":boxes")][0].set_value(True)
    widget(at, "button", "apply:param:label:").click().run()
    assert "The graph changed since this run" in texts(at.caption)
    assert places(at) == before
