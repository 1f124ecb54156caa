"""The header's "Deploy to…" button and its dialog: server, token, which pipeline, Deploy, and what the server said.

The work is :mod:`segflow.ui.deploy`'s; this draws it. The dialog stays open
across the page's reruns (the frame view reruns the page after a step) until it
is dismissed, so a step taken meanwhile does not close it.

The fields are one form, so what was typed reaches the server together with
the button pressed (a field's own change event could arrive after the click).
The token is typed into a password field that is emptied as soon as it is
taken: the value then lives in this browser session's server-side state only
(never sent back to the page, gone when the session ends), and the dialog says
only that a token is kept, with a button to forget it.
"""

from __future__ import annotations

import re

import streamlit as st

from segflow.client.models import PipelineInfo
from segflow.ui import deploy, fields
from segflow.ui.editor import Editor

OPEN = "deploy_open"
TOKEN = "deploy_token"  # the token taken from its field, kept for this browser session only
LISTED = "deploy_pipelines"  # the server's pipelines as last listed
OUTCOME = "deploy_outcome"
# The fields (:mod:`segflow.ui.fields`) are drawn afresh with their kept values whenever the app changes
# what they show: the dialog opens, a form is taken, a pipeline is picked.
URL_FIELD, TOKEN_FIELD, TARGET_FIELD = "deploy_url", "deploy_token_field", "deploy_target"


def _redraw_fields(url: str | None = None, target: str | None = None) -> None:
    fields.keep(URL_FIELD, fields.kept(URL_FIELD, "") if url is None else url)
    fields.keep(TOKEN_FIELD, "")  # the page never gets a typed token back
    fields.keep(TARGET_FIELD, fields.kept(TARGET_FIELD) if target is None else target)


def button() -> None:
    """The header's button; the dialog is drawn by :func:`dialog_if_open` on every run while it is open."""
    st.button("Deploy to…", key="deploy_btn", width="stretch", on_click=_open,
              help="send this workflow to a running `segflow serve`: start it there or change a running pipeline")


def dialog_if_open(editor: Editor) -> None:
    if st.session_state.get(OPEN):
        _dialog(editor)


def _open() -> None:
    st.session_state[OPEN] = True
    _redraw_fields()


def _close() -> None:
    st.session_state[OPEN] = False


@st.dialog("Deploy to a segflow server", width="large", on_dismiss=_close)
def _dialog(editor: Editor) -> None:
    if st.session_state.get(TOKEN):
        cols = st.columns([3, 1], vertical_alignment="center")
        cols[0].caption("Token: kept for this browser session (not shown)")
        cols[1].button("Forget token", key="deploy_forget", on_click=_forget, width="stretch")
    listed: list[PipelineInfo] = st.session_state.get(LISTED, [])
    labels = {deploy.NEW: "a new pipeline (POST /pipelines)",
              **{p.id: f"pipeline {p.id}: {p.workflow} ({p.state}, {p.frames_done} frames)" for p in listed}}
    options = list(labels)
    # One form: the fields' values reach the server together with the button pressed, never after it.
    with st.form("deploy_form", border=False, enter_to_submit=False):
        st.text_input("Server URL", value=fields.kept(URL_FIELD, ""), key=fields.key(URL_FIELD),
                      placeholder="http://edge-box:8765",
                      help="where `segflow serve` listens (it listens on 127.0.0.1:8765 unless given --host/--port)")
        if not st.session_state.get(TOKEN):
            st.text_input("Token", key=fields.key(TOKEN_FIELD), type="password", autocomplete="off",
                          help="the server's --token (none needed for a server on this machine's loopback); "
                               "kept for this browser session only")
        st.selectbox("Deploy as", options, index=fields.index(TARGET_FIELD, options),
                     format_func=labels.__getitem__, key=fields.key(TARGET_FIELD),
                     help="a running pipeline is changed in place (PUT /pipelines/{id}): the server validates "
                          "the new version first, then applies it live or drains and resumes")
        errors = [i for i in editor.validation().issues if i.is_error]
        if errors:
            st.warning(f"The workflow has {len(errors)} error(s) here; the server checks it again and says what "
                       "it refuses.")
        st.caption("Paths in the workflow are read on the server, relative to the folder it was started in.")
        cols = st.columns([1, 1, 3])
        cols[0].form_submit_button("Deploy", type="primary", on_click=_deploy, args=(editor,), width="stretch")
        cols[1].form_submit_button("List pipelines", on_click=_list, args=(editor,), width="stretch")
    outcome: deploy.Outcome | None = st.session_state.get(OUTCOME)
    if outcome is not None:
        (st.success if outcome.ok else st.error)(_as_text(outcome.message))
        if outcome.problems:
            st.code("\n".join(outcome.problems), language=None, wrap_lines=True)


MARKDOWN = re.compile(r"([\\`*_\[\]<>$~|#])")


def _as_text(message: str) -> str:
    """``message`` as it reads, not as Markdown: a masked ``op:***@`` must not turn bold."""
    return MARKDOWN.sub(r"\\\1", message)


def _given() -> tuple[str, str | None, str]:
    """The URL, token and target submitted with the button; the typed token moves out of its field at once.

    The fields are then drawn afresh (a new generation): the token's field empty, so the page never gets
    it back.
    """
    url = (fields.value(URL_FIELD) or "").strip()
    typed = (fields.value(TOKEN_FIELD) or "").strip()
    if typed:
        st.session_state[TOKEN] = typed
    target = fields.value(TARGET_FIELD) or deploy.NEW
    _redraw_fields(url, target)
    return url, st.session_state.get(TOKEN), target


def _pick(target: str) -> None:
    _redraw_fields(target=target)


def _forget() -> None:
    st.session_state.pop(TOKEN, None)


def _list(editor: Editor) -> None:
    """List the server's pipelines; a running one of this workflow's name becomes the target."""
    url, token, _ = _given()
    listed, failed = deploy.pipelines(url, token)
    st.session_state[LISTED] = listed
    if failed is not None:
        st.session_state[OUTCOME] = failed
        return
    st.session_state.pop(OUTCOME, None)
    name = editor.state.doc.get("name") if isinstance(editor.state.doc, dict) else None
    same = [p.id for p in listed if p.workflow == name and p.state in ("starting", "running")]
    _pick(same[0] if same else deploy.NEW)


def _deploy(editor: Editor) -> None:
    url, token, target = _given()
    outcome = deploy.deploy(url, token, editor.state.to_yaml(), target)
    st.session_state[OUTCOME] = outcome
    if outcome.ok:  # the list shows the new pipeline, and the next Deploy changes it
        listed, _ = deploy.pipelines(url, token)
        st.session_state[LISTED] = listed
        _pick(outcome.pipeline_id)
