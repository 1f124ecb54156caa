"""The segflow editor's Streamlit script: layout only; the work is in ``segflow.ui.editor`` and friends.

Started by ``segflow editor`` (``segflow/ui/command.py``), which passes the file and
workspace in ``SEGFLOW_EDITOR_FILE`` / ``SEGFLOW_EDITOR_WORKSPACE``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `streamlit run segflow/ui/app.py` runs this file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import streamlit as st

from segflow.engine.registry import default_registry
from segflow.ui import (
    canvas,
    deploy_panel,
    fields,
    label_panel,
    login,
    run_panel,
    secrets_view,
    train_panel,
    widgets,
    yaml_gutter,
)
from segflow.ui.command import ENV_FILE, ENV_WORKSPACE
from segflow.ui.editor import Editor
from segflow.ui.workspace import Workspace, WorkspaceError

STALE_S = 5.0  # seconds after a canvas edit in which an older YAML text is an echo (see stale_yaml)


def get_editor() -> Editor:
    if "editor" not in st.session_state:
        workspace = Workspace(os.environ.get(ENV_WORKSPACE) or Path.cwd())
        editor = Editor(workspace, default_registry())
        start = os.environ.get(ENV_FILE)
        if start:
            try:
                editor.open(start)
            except WorkspaceError as exc:
                flash(str(exc), error=True)
        st.session_state["editor"] = editor
        fields.keep("save_path", editor.path)
    return st.session_state["editor"]


def flash(text: str, error: bool = False) -> None:
    st.session_state["flash"] = (text, error)


def after_change(editor: Editor) -> None:
    """Widgets that mirror the document are reset from it before they are drawn again."""
    show_yaml(editor.state.to_yaml())
    show_selection(editor)


def show_selection(editor: Editor) -> None:
    """The node picker follows the editor's selection: drawn afresh (``fields.keep``) when they differ.

    Written under the picker's own key instead, a canvas click's selection was lost when another
    rerun came first: the page sent its old pick back over it.
    """
    if fields.value("node_pick") != editor.selected:
        fields.keep("node_pick", editor.selected)


def show_yaml(text: str) -> None:
    """Put the document's text in the YAML field (secrets masked), and remember the last few texts it was given.

    The field is drawn afresh with the text as its declared default (``fields.keep``): written under
    the widget's own key, a run cut short by the next click never sent the text to the page, which
    then sent its declared default back as if typed (an empty document, on CI).
    """
    text = secrets_view.mask_text(text)
    fields.keep("yaml_text", text)
    given = [t for t in st.session_state.get("yaml_given", []) if t != text][-9:]
    st.session_state["yaml_given"] = [*given, text]


def stale_yaml(editor: Editor, text: str) -> bool:
    """Whether ``text`` is an echo of an older document rather than the user's edit.

    Canvas events can come faster than reruns. A rerun cut short by the next
    event may never redraw the YAML field, and the browser then sends its older
    text back as if typed: applying it would undo the canvas edits since. So a
    text the field was given before, arriving within seconds of a canvas edit,
    is dropped (typing a whole earlier version back that fast is not editing).
    """
    recent = time.monotonic() - st.session_state.get("canvas_edit_at", -1e9) < STALE_S
    shown = secrets_view.mask_text(editor.state.to_yaml())
    return recent and text != shown and text in st.session_state.get("yaml_given", [])


def on_canvas() -> None:
    """One canvas event (see ``canvas.handle``); its message shows in the canvas's own toolbar."""
    editor: Editor = st.session_state["editor"]
    event = st.session_state.get("canvas")
    if not isinstance(event, dict):
        return
    st.session_state["canvas_edit_at"] = time.monotonic()
    message, error, handled = canvas.handle_value(editor, event, st.session_state.get("canvas_seq"))
    st.session_state["canvas_seq"] = handled  # echoed to the canvas: it resends what this does not cover
    if message:  # a note is about the document as it was: an undo, an edit or another file ends it
        st.session_state["canvas_note"] = {"text": message, "error": error, "seq": handled,
                                           "revision": editor.revision}
    after_change(editor)


def on_layout_toggle(key: str) -> None:
    editor: Editor = st.session_state["editor"]
    editor.set_layout_in_yaml(bool(st.session_state.get(key)))
    after_change(editor)


def on_yaml() -> None:
    editor: Editor = st.session_state["editor"]
    text = fields.value("yaml_text", "")
    if text == secrets_view.mask_text(editor.state.to_yaml()) and not editor.yaml_problems:
        return  # the document as it stands, sent back by a field drawn afresh: not an edit, no undo step
    if stale_yaml(editor, text):
        show_yaml(editor.state.to_yaml())
        return
    if not text.strip() and editor.state.node_ids():
        # Cleared by hand, or sent back by a page that lost the field's text: either way, applied, it
        # empties the workflow (on CI a Deploy then sent an empty document). Starting over is a new file.
        show_yaml(editor.state.to_yaml())
        flash("An empty YAML field was not applied: it would remove the whole workflow. "
              "To start another one, open a new file from the sidebar.", error=True)
        return
    original = editor.state.to_yaml()
    text = secrets_view.unmask_text(text, original)  # the masked secrets left as shown keep their values
    if secrets_view.lost_secret(text, original):
        flash("YAML not applied: a password or token shown as *** was changed around its stars; "
              "type the whole secret again (or undo the change to that line)", error=True)
        return
    if editor.set_yaml(text):
        show_selection(editor)
    elif editor.yaml_problems:
        yaml_gutter.go_to(editor.yaml_problems[0].line)  # the cursor goes to the first problem


def on_add(type_name: str) -> None:
    editor: Editor = st.session_state["editor"]
    editor.add_node(type_name)
    after_change(editor)


def on_open() -> None:
    editor: Editor = st.session_state["editor"]
    try:
        editor.open(st.session_state.get("open_path") or "")
    except WorkspaceError as exc:
        flash(str(exc), error=True)
        return
    fields.keep("save_path", editor.path)
    flash(f"opened {editor.path}")
    after_change(editor)


def on_pick() -> None:
    st.session_state["editor"].selected = fields.value("node_pick")


def on_save() -> None:
    editor: Editor = st.session_state["editor"]
    try:
        flash(editor.save(fields.value("save_path"), bool(fields.value("overwrite", False))))
    except WorkspaceError as exc:
        flash(f"not saved: {exc}", error=True)
        return
    fields.keep("overwrite", False)
    fields.keep("save_path", editor.path)


def sidebar(editor: Editor) -> None:
    with st.sidebar:
        st.header("segflow editor")
        st.caption(f"Workspace: `{editor.workspace.root}`")
        files = editor.workspace.workflows()
        st.selectbox("Workflow file", files, index=None, key="open_path", accept_new_options=True,
                     placeholder="pick or type a path, e.g. workflows/new.yaml")
        st.button("Open", key="open_btn", on_click=on_open)
        st.subheader("Add a node")
        families: dict[str, list] = {}
        for name, cls in editor.registry:
            families.setdefault(cls.family(), []).append((name, cls))
        for family, types in families.items():
            with st.expander(family, expanded=False):
                for name, cls in types:
                    st.button(name, key=f"add:{name}", help=cls.summary() or None, on_click=on_add, args=(name,),
                              width="stretch")
        for failure in editor.registry.failures:
            st.warning(f"plugin {failure.origin} failed to load: {failure.error}")
        st.subheader("Save")
        st.text_input("Save as (inside the workspace)", value=fields.kept("save_path", ""), key=fields.key("save_path"))
        layout_key = f"layout_in_yaml:{editor.revision}"
        st.checkbox("Store layout in the YAML", value=editor.state.layout_in_yaml, key=layout_key,
                    on_change=on_layout_toggle, args=(layout_key,),
                    help="node positions under the workflow's `ui:` key; off: in "
                         f"`{editor.layout_path.rsplit('/', 1)[-1]}` next to it, and the YAML stays as written")
        st.checkbox("Overwrite", value=fields.kept("overwrite", False), key=fields.key("overwrite"),
                    help="replace a file that changed on disk or already exists")
        st.button("Save", key="save_btn", type="primary", on_click=on_save)


def node_panel(editor: Editor) -> None:
    ids = editor.state.node_ids()
    if not ids:
        st.info("Add a node from the palette on the left.")
        return
    if fields.value("node_pick") not in ids:
        fields.keep("node_pick", editor.selected if editor.selected in ids else ids[0])
    node_id = st.selectbox("Node", ids, index=fields.index("node_pick", ids), key=fields.key("node_pick"),
                           on_change=on_pick)
    editor.selected = node_id
    view = editor.state.node(node_id)
    cls = editor.registry.get(view.type)
    with st.container():  # the same place in the page whether there are issues or not, as the note's slot
        for issue in editor.issues_for(node_id):
            st.caption(f":red[{issue.field or 'node'}: {issue.message}]")
    if cls is None:
        st.caption(f"Unknown type '{view.type}': fix it in the YAML view.")
        return
    st.caption(f"`{view.type}` — {cls.summary()}")
    widgets.param_form(editor, node_id, cls)
    if cls.inputs:
        with st.expander("Inputs", expanded=False):
            widgets.wiring(editor, node_id, cls)
    cols = st.columns(2)
    new_id = cols[0].text_input("Rename to", key=f"rename:{node_id}:{editor.revision}")
    if cols[0].button("Rename", key=f"rename_btn:{node_id}") and new_id:
        message = editor.edit("rename_node", node_id, new_id)
        if message:
            st.error(message)
        else:
            editor.selected = new_id
            after_change(editor)
            st.rerun()
    if cols[1].button("Delete node", key=f"delete:{node_id}"):
        editor.edit("remove_node", node_id)
        after_change(editor)
        st.rerun()


def yaml_panel(editor: Editor) -> None:
    if fields.kept("yaml_text") is None or (
        not editor.yaml_problems and st.session_state.get("yaml_rev") != editor.revision
    ):
        show_yaml(editor.state.to_yaml())
    st.session_state["yaml_rev"] = editor.revision
    st.text_area("Workflow YAML (edits update the canvas)", value=fields.kept("yaml_text"),
                 key=fields.key("yaml_text"), height=560, on_change=on_yaml)
    issues = [] if editor.yaml_problems else [i for i in editor.validation().issues if i.location is not None]
    first = editor.yaml_problems[0].line if editor.yaml_problems else issues[0].location.line if issues else None
    yaml_gutter.gutter(first)
    for problem in editor.yaml_problems:
        st.error(f"YAML not applied: {problem.format()}")
    for n, issue in enumerate(issues):  # the validation's problems, each a click away from its line
        line = issue.location.line  # type: ignore[union-attr]
        cols = st.columns([5, 1], vertical_alignment="center")
        (cols[0].error if issue.is_error else cols[0].warning)(issue.format())
        cols[1].button(f"line {line}", key=f"goto:{n}:{line}", on_click=yaml_gutter.go_to, args=(line,),
                       help="move the cursor to this line")


MODES = ("Build", "Label", "Train")
# The header row stays at the top of the window while the page scrolls: Save and the mode are always in reach.
PAGE_CSS = """<style>
.block-container { padding-top: 3.9rem; padding-bottom: 2rem; }
[data-testid="stLayoutWrapper"]:has(> .st-key-sf-top) { position: sticky; top: 3.75rem; z-index: 990; }
.st-key-sf-top { background: var(--background-color, #fff); padding: 0.25rem 0; border-bottom: 1px solid #eaecf0; }
.st-key-sf-top h3 { padding: 0; margin: 0; }
</style>"""


def header(editor: Editor) -> str:
    """The workflow's name and description, the file, the mode, Save and Deploy: the first thing on the page."""
    with st.container(key="sf-top"):
        cols = st.columns([5, 3, 1, 1], vertical_alignment="center")
        doc = editor.state.doc
        name = doc.get("name") if isinstance(doc, dict) else None
        description = doc.get("description") if isinstance(doc, dict) else None
        marker = " ● unsaved" if editor.dirty else ""
        cols[0].markdown(f"### {name or 'untitled'} <small>`{editor.path}`{marker}</small>", unsafe_allow_html=True)
        if description:
            cols[0].caption(str(description))
        mode = cols[1].segmented_control("Mode", MODES, default=MODES[0], key="mode", label_visibility="collapsed")
        cols[2].button("Save", key="save_top", type="primary", on_click=on_save, width="stretch",
                       help="save to the file named in the sidebar's 'Save as'")
        with cols[3]:
            deploy_panel.button()
    deploy_panel.dialog_if_open(editor)
    return mode or MODES[0]


def main() -> None:
    # The sidebar (open, save as, the palette by family) starts folded: the canvas has its own palette,
    # and the header has Save, so the canvas and the form get the window's width.
    st.set_page_config(page_title="segflow editor", layout="wide", initial_sidebar_state="collapsed")
    if not login.let_in():
        return  # nothing of the editor exists in this session until it gives the token
    st.html(PAGE_CSS)
    editor = get_editor()
    sidebar(editor)
    mode = header(editor)
    note = st.session_state.pop("flash", None)
    # The note's slot is on the page whether or not there is a note: a note that came and went moved
    # everything under it to another place in the page's tree, where the browser drew it all afresh
    # (the canvas reloaded, the tabs went back to "Node").
    with st.container():
        if note:
            (st.error if note[1] else st.success)(note[0])
    if mode == "Label":
        label_panel.render(editor)
        return
    if mode == "Train":
        train_panel.render(editor)
        return
    build(editor)


def build(editor: Editor) -> None:
    """The canvas on the left; on the right the frame view and, under it, the selected node, the run, the YAML.

    So at 1440x900 the toolbar, the picture, the canvas and the form are on screen together.
    """
    validation = editor.validation()
    errors = [i for i in validation.issues if i.is_error]
    left, right = st.columns([11, 9], gap="small")
    with left:
        st.caption(f"{len(editor.state.node_ids())} nodes, {len(editor.state.edges())} edges — "
                   + ("valid" if validation.ok else f"{len(errors)} error(s)"))
        live = run_panel.live(editor)  # before the last run is read: a run ending in between never looks older
        graph = canvas.editor_payload(editor, validation.issues)
        note = st.session_state.get("canvas_note")
        graph["note"] = note if note and note.get("revision") == editor.revision else None
        graph["seq"] = editor.canvas_seq if editor.canvas_seq is not None else st.session_state.get("canvas_seq")
        graph["live"] = live  # during Play the footers follow the frame view, with no rerun
        # Every problem is listed in the canvas's own panel of fixed height (and marked on its node):
        # banners on the page moved the canvas with each edit, and a click then landed on the page.
        canvas.graph_canvas(graph, key="canvas", height=580, on_change=on_canvas)
    with right:
        view_slot = st.container()  # filled last: the Run tab below picks what it shows
        # A key lets the browser keep the open tab if this part of the page is ever drawn afresh.
        node_tab, run_tab, yaml_tab = st.tabs(["Node", "Run", "YAML"], key="panel_tabs")
        with node_tab:
            node_panel(editor)
        with run_tab:
            run_panel.render_tab(editor)
        with yaml_tab:
            yaml_panel(editor)
        with view_slot:
            run_panel.frame_view(editor)


main()
