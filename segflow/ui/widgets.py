"""Streamlit widgets for the editor's panels: params form, wiring, run inputs, outputs.

Each function draws one panel from plain data (``segflow.ui.forms`` specs, the
``Editor``) and returns what the user entered; decisions stay in the plain
modules. Widget keys carry the document revision, so after any edit (canvas,
YAML text) the widgets are drawn afresh from the document.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from segflow.engine.node import Node
from segflow.engine.workflow.spec import parse_ref
from segflow.ui import forms, results, secrets_view
from segflow.ui.editor import Editor
from segflow.ui.media import jpeg_data_url
from segflow.ui.state import Edge


def param_form(editor: Editor, node_id: str, cls: type[Node]) -> None:
    """The selected node's params; a rejected value gets pydantic's message under its field.

    Apply validates in the submit button's callback, before the page is drawn again, so
    the messages can be drawn under the fields they belong to; the document keeps its
    values, and the widgets (keyed by the unchanged revision) keep what the user typed.
    Number fields are text: bounds are pydantic's to enforce, with its message, and letters
    get one too (a browser's number field would silently drop them). A tagged union
    (``scale``) gets its mode picker above the form, since a widget inside a form reruns
    nothing, and that mode's own fields inside it.
    """
    view = editor.state.node(node_id)
    specs = forms.field_specs(cls.Params)
    if not specs:
        st.caption("This node type has no parameters.")
        return
    prefix = f"param:{node_id}:{editor.revision}"
    rejected = st.session_state.get(REJECTED, {}).get(prefix, {})
    fields = {s.name for s in specs}
    for spec in specs:
        if spec.widget == "tagged" and not forms.is_reference(view.params.get(spec.name)):
            _mode_picker(spec, view.params.get(spec.name, spec.default), prefix)
    with st.form(key=f"form:{prefix}", border=False):
        for name, message in rejected.items():
            if name.split(".", 1)[0] not in fields:
                st.error(f"{node_id}.{name}: {message}")
        for spec in specs:
            value = view.params.get(spec.name, spec.default)
            if forms.is_reference(value):
                st.text_input(spec.name, value=value, disabled=True, key=f"{prefix}:{spec.name}",
                              help="given at run time (a workflow input or another node's value); edit it in YAML")
                continue
            if spec.widget == "tagged":
                _sub_form(spec, value, prefix)
            else:
                _widget(spec, secrets_view.mask_value(spec.name, value), f"{prefix}:{spec.name}")
            for name, message in rejected.items():
                if name.split(".", 1)[0] == spec.name:
                    st.error(f"{node_id}.{name}: {message}")
        st.form_submit_button("Apply", type="primary", key=f"apply:{prefix}", on_click=_apply,
                              args=(editor, node_id, cls, prefix))


REJECTED = "rejected_params"  # session key: {form prefix: {field: pydantic's message}}


def _apply(editor: Editor, node_id: str, cls: type[Node], prefix: str) -> None:
    view = editor.state.node(node_id)
    specs = forms.field_specs(cls.Params)
    entered = {s.name: _entered_tagged(s, prefix, view.params.get(s.name, s.default)) if s.widget == "tagged"
               else _entered(s, f"{prefix}:{s.name}", view.params.get(s.name, s.default)) for s in specs}
    outcome = forms.apply_entered(cls.Params, specs, view.params, entered)
    if outcome.messages:
        st.session_state[REJECTED] = {prefix: outcome.messages}
        return
    st.session_state.pop(REJECTED, None)
    if outcome.changes:
        editor.state.set_params(node_id, outcome.changes)
        editor.changed()


NO_MODE = "— none —"


def _mode_picker(spec: forms.FieldSpec, value: Any, prefix: str) -> None:
    options = ([NO_MODE] if spec.optional else []) + list(spec.variants)
    mode = spec.mode_of(value) or options[0]
    st.selectbox(f"{spec.name}: {spec.tag}", options, index=options.index(mode), key=f"{prefix}:{spec.name}:{spec.tag}",
                 help=spec.help + f" — each {spec.tag} has its own fields, in the form below")


def _sub_form(spec: forms.FieldSpec, value: Any, prefix: str) -> None:
    """The fields of the mode picked above the form, filled from the param when it is in that mode."""
    mode = st.session_state.get(f"{prefix}:{spec.name}:{spec.tag}")
    if mode not in spec.variants:
        st.caption(f"**{spec.name}**: none (pick a {spec.tag} above the form to set it)")
        return
    current = value if spec.mode_of(value) == mode else {}
    with st.container(border=True):
        st.caption(f"**{spec.name}** — {spec.tag}: {mode}")
        for sub in spec.variants[mode]:
            _widget(sub, secrets_view.mask_value(sub.name, current.get(sub.name, sub.default)),
                    f"{prefix}:{spec.name}.{sub.name}")


def _entered(spec: forms.FieldSpec, key: str, value: Any) -> Any:
    """A widget's value; for a points table, the rows shown with the edits the data editor reports.

    A masked secret left as shown keeps its real value (``segflow.ui.secrets_view``).
    """
    if spec.widget == "points":
        return forms.table_rows(spec.display(value), st.session_state.get(key))
    return secrets_view.restore_entry(st.session_state.get(key),
                                      spec.display(secrets_view.mask_value(spec.name, value)), spec.display(value))


def _entered_tagged(spec: forms.FieldSpec, prefix: str, value: Any) -> dict[str, Any] | None:
    mode = st.session_state.get(f"{prefix}:{spec.name}:{spec.tag}")
    if mode not in spec.variants:
        return None
    current = value if spec.mode_of(value) == mode else {}
    return {spec.tag: mode, **{sub.name: _entered(sub, f"{prefix}:{spec.name}.{sub.name}",
                                                  current.get(sub.name, sub.default))
                               for sub in spec.variants[mode]}}


def _widget(spec: forms.FieldSpec, value: Any, key: str) -> Any:
    label = spec.name + (" *" if spec.required else "")
    help_text = spec.help + (f" (default: {spec.default!r})" if not spec.required else " (required)")
    bounds = spec.bounds_text()
    if bounds:
        help_text += f"; {bounds}"
    shown = spec.display(value)
    if spec.widget == "checkbox":
        return st.checkbox(label, value=bool(shown), help=help_text, key=key)
    if spec.widget == "choice":
        options = list(spec.options)
        index = options.index(shown) if shown in options else 0
        return st.selectbox(label, options, index=index, help=help_text, key=key)
    if spec.widget in ("int", "float"):  # text: letters get a message on Apply instead of vanishing
        return st.text_input(label, value=shown, help=help_text, key=key,
                             placeholder="a whole number" if spec.widget == "int" else "a number")
    if spec.widget == "text":
        return st.text_input(label, value=shown, help=help_text, key=key)
    if spec.widget == "points":  # a zone, a line, a plane's points: one row per [x, y], rows added below
        import pandas as pd

        st.caption(f"{label} — " + help_text.split(" (default", 1)[0])
        return st.data_editor(pd.DataFrame(shown, columns=["x", "y"], dtype=float), key=key, num_rows="dynamic",
                              width="stretch", column_config={"x": st.column_config.NumberColumn("x"),
                                                              "y": st.column_config.NumberColumn("y")})
    return st.text_area(label, value=shown, help=help_text + " — YAML, e.g. [1, 2] or {a: 1}",
                        height=68, key=key)


def wiring(editor: Editor, node_id: str, cls: type[Node]) -> None:
    """A select box per input port, listing only outputs of the same kind (the canvas's keyboard twin)."""
    view = editor.state.node(node_id)
    for port, spec in cls.inputs.items():
        options = ["—"]
        for other in editor.state.nodes():
            other_cls = editor.registry.get(other.type)
            if other.id == node_id or other_cls is None:
                continue
            options += [f"{other.id}.{p}" for p, s in other_cls.outputs.items() if s.kind == spec.kind]
        current = view.inputs.get(port, [])
        if current and current[0] not in options:  # `$inputs.photo`, or a ref still being typed: kept as written
            options.append(current[0])
        index = options.index(current[0]) if current else 0
        label = f"{port} ({spec.kind})" + ("" if spec.required else ", optional")
        choice = st.selectbox(label, options, index=index, key=f"wire:{node_id}:{port}:{editor.revision}",
                              help=spec.description or None)
        if choice == (current[0] if current else "—"):
            continue
        for ref in current:
            src_ref = parse_ref(ref)
            if src_ref is not None:
                editor.state.disconnect(Edge(src_ref[0], src_ref[1], node_id, port))
        message = ""
        if choice != "—":
            src, src_port = parse_ref(choice) or (choice, "")
            message = editor.edit("connect", Edge(src, src_port, node_id, port), editor.registry)
        if message:
            st.error(message)
        else:
            editor.changed()
            st.rerun()


def outputs(editor: Editor, node_id: str) -> None:
    run = editor.last_run
    if run is None or node_id not in run.result.runs:
        st.caption("Run the graph to see this node's output.")
        return
    record = run.result.runs[node_id]
    st.caption(f"{record.status}" + (f" in {record.seconds * 1000:.1f} ms" if record.status == "ran" else "")
               + (f": {record.error}" if record.error else ""))
    for port, shown in results.node_outputs(run.result, node_id).items():
        st.markdown(f"**{node_id}.{port}** {shown.caption}")
        if shown.kind == "image":
            st.image(jpeg_data_url(shown.value), width="stretch")
        elif shown.kind == "table":
            st.dataframe(shown.value, hide_index=True)
        else:
            st.json(shown.value)
