"""The Run tab's form for the workflow's declared inputs (``inputs:``), one widget per kind.

What the form holds lives on the :class:`~segflow.ui.editor.Editor`
(``input_values``) and is given to each run, where it is checked like the
values of ``segflow run --input``: a wrong one is the run's located error.
Image inputs are not in the form: the frame picked in the Run tab (a sample,
an upload) is their value. Polygons and lines are typed as YAML or JSON
(``[[x, y], ...]``).
"""

from __future__ import annotations

from typing import Any

import streamlit as st
import yaml

from segflow.engine.workflow.inputs import InputSpec, TextValue
from segflow.ui.editor import Editor


def render(editor: Editor, specs: dict[str, InputSpec]) -> None:
    """The form; on submit its values replace the editor's and the next run uses them."""
    shown = {name: spec for name, spec in specs.items() if spec.kind != "image"}
    if not shown:
        return
    with st.form("workflow_inputs"):
        st.caption("Workflow inputs (empty: the default; a required input needs a value)")
        values = {name: _widget(name, spec, editor.input_values.get(name)) for name, spec in shown.items()}
        if st.form_submit_button("Set inputs"):
            editor.input_values = {k: v for k, v in values.items() if v is not None}  # the frame view re-runs


def _widget(name: str, spec: InputSpec, current: Any) -> Any:
    """One input's widget; its value, or None for 'not given' (the default applies)."""
    label = f"{name} ({spec.kind}{', required' if spec.required else ''})"
    help_ = spec.description or None
    key = f"wf_input_{name}"
    start = current if current is not None else (None if spec.required else spec.default)
    if spec.kind in ("number", "integer"):
        integer = spec.kind == "integer"
        cast = int if integer else float
        return st.number_input(label, value=None if start is None else cast(start), help=help_, key=key,
                               min_value=None if spec.min is None else cast(spec.min),
                               max_value=None if spec.max is None else cast(spec.max),
                               step=1 if integer else None, format=None if integer else "%g")
    if spec.kind == "bool":
        return st.checkbox(label, value=bool(start), help=help_, key=key)
    if spec.kind == "enum":
        options = list(spec.choices or [])
        index = options.index(start) if start in options else None
        return st.selectbox(label, options, index=index, help=help_, key=key)
    if spec.kind == "string":
        text = st.text_input(label, value="" if start is None else str(start), help=help_, key=key)
        return text if text or not spec.required else None
    text = st.text_area(label, value="" if start is None else _points_text(start), help=help_, key=key,
                        placeholder="[[x, y], [x, y], ...]")
    return TextValue(text) if text.strip() else None


def _points_text(points: Any) -> str:
    if isinstance(points, str):
        return points
    return yaml.safe_dump(points, default_flow_style=True).strip()
