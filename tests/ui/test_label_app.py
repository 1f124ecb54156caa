"""The Label and Train modes through ``streamlit.testing.v1.AppTest``: render, pre-label, save, train's guard."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from appkit import editor_on, texts
from streamlit.testing.v1 import AppTest


def start(monkeypatch, tmp_path: Path, workflow: str = "coins.yaml") -> AppTest:
    return editor_on(monkeypatch, tmp_path, workflow, timeout=90)  # Label and Train mode load models


def test_prelabel_and_save_a_frame_of_the_workflow_source(monkeypatch, tmp_path):
    at = start(monkeypatch, tmp_path)
    at.session_state["mode"] = "Label"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert next(w for w in at.text_input if w.label.startswith("Dataset folder")).value == "datasets/coins"
    assert "**0 masks** on `coins_000000`" in texts(at.markdown)
    at.button(key="label_prelabel").click().run()
    assert not at.exception, [e.value for e in at.exception]
    count = int(re.search(r"\*\*(\d+) masks\*\* on", texts(at.markdown)).group(1))
    assert count > 0, texts(at.caption)
    at.button(key="label_save").click().run()
    labels = list((tmp_path / "datasets" / "coins" / "labels" / "train").glob("*.txt"))
    assert [p.name for p in labels] == ["coins_000000.txt"]
    assert len(labels[0].read_text().splitlines()) == count
    names = yaml.safe_load((tmp_path / "datasets" / "coins" / "data.yaml").read_text())["names"]
    assert len(names) >= 1

    # a new class becomes the chosen one, and its field empties for the next
    next(w for w in at.text_input if w.placeholder == "new class name").set_value("pebble")
    at.button(key="label_add_class").click().run()
    assert next(w for w in at.selectbox if w.label == "Class").value == "pebble"
    assert next(w for w in at.text_input if w.placeholder == "new class name").value == ""

    at.session_state["mode"] = "Train"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "1 train and 0 val frames" in texts(at.caption)
    assert at.button(key="train_start").disabled  # no val split yet: training would fail


def test_prev_and_next_draw_the_frame_index_as_the_fields_default(monkeypatch, tmp_path):
    """Next then Next then Prev lands on frame 1, and the index field is drawn with it as its declared
    default: a page that missed the run setting it would otherwise send its old index back."""
    at = start(monkeypatch, tmp_path, "belt_colour.yaml")
    at.session_state["mode"] = "Label"
    at.run()
    for step in ("label_next", "label_next", "label_prev"):
        at.button(key=step).click().run()
        assert not at.exception, [e.value for e in at.exception]
    index = next(w for w in at.number_input if w.label == "Frame index")
    assert index.value == 1 and index.proto.default == 1
    assert "on `conveyor_000001`" in texts(at.markdown)
