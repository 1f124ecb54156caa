"""One editing session of one workflow: open, edit, validate, run, save — without Streamlit.

The app keeps one :class:`Editor` per browser tab and maps widgets onto its
methods; tests drive the same methods directly. ``revision`` counts changes
to the document, so the app knows when its widgets show stale values.

The contract every editing path follows: change ``editor.state``, then call
``editor.changed()``. That one call bumps the revision, fixes the layout of
nodes that had none, and records an undo step (``segflow.ui.history``), so
``undo()``/``redo()`` cover every edit without each edit knowing about them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segflow.engine.execution.session import EditorSession, SessionResult
from segflow.engine.node import RunContext
from segflow.engine.registry import Registry
from segflow.engine.workflow.issues import Issue, errors_in
from segflow.engine.workflow.validate import ValidationResult, validate_text
from segflow.ui import layout_file
from segflow.ui.history import History, Snapshot
from segflow.ui.state import GRID_X, EditError, EditorState
from segflow.ui.workspace import Opened, Workspace, WorkspaceError
from segflow.ui.yaml_roundtrip import YamlParseError, YamlProblem


@dataclass
class RunOutcome:
    result: SessionResult
    graph: Any  # the CompiledGraph that ran
    revision: int
    input_name: str
    frame: int  # the index of the frame it ran on (0 for a still image)


@dataclass
class Editor:
    workspace: Workspace
    registry: Registry
    state: EditorState = field(default_factory=EditorState.new)
    opened: Opened | None = None
    path: str = "workflows/untitled.yaml"
    selected: str | None = None
    revision: int = 0
    yaml_problems: list[YamlProblem] = field(default_factory=list)
    last_run: RunOutcome | None = None
    history: History = field(default_factory=History)
    clipboard: dict[str, Any] | None = None  # copied nodes (EditorState.copy_nodes), kept across files
    input_values: dict[str, Any] = field(default_factory=dict)  # the Run tab's form: values of `inputs:`
    # the highest canvas event seq applied to this editor (canvas.handle_value)
    canvas_seq: float | None = None
    _saved_layout: dict[str, tuple[float, float]] | None = None  # the side file as last read or written
    _validated: tuple[str, ValidationResult] | None = None
    _session: EditorSession | None = None

    def __post_init__(self) -> None:
        if not self.state.has_yaml_positions():
            self.state.use_side_layout({})
        self.history.reset(self.snapshot())

    # -- files ---------------------------------------------------------------------------------

    def open(self, path: str) -> None:
        """Open a workflow in the workspace (a missing file starts a new one saved there).

        Positions come from the YAML's ``ui: positions:`` when it has them, else from
        the side file ``<name>.layout.json`` (``segflow.ui.layout_file``).
        """
        opened = self.workspace.open(path)
        state = EditorState.from_yaml(opened.text) if opened.text.strip() else \
            EditorState.new(_name_from(opened.path))
        self._saved_layout = None
        if not state.has_yaml_positions():
            side = self.workspace.resolve(layout_file.side_path(opened.path))
            state.use_side_layout(layout_file.read(side) if side.is_file() else {})
            self._saved_layout = state.positions()  # computed places are no unsaved change
        self.state, self.opened, self.path = state, opened, opened.path
        self.selected = next(iter(state.node_ids()), None)
        self.yaml_problems = []
        self.last_run = None
        self.revision += 1
        self.history.reset(self.snapshot())

    def save(self, path: str | None = None, overwrite: bool = False) -> str:
        """Save inside the workspace; returns a message (raises WorkspaceError when refused).

        With the layout outside the YAML, the positions go to the side file next to it.
        """
        target = path or self.path
        opened = self.workspace.save(target, self.state.to_yaml(), self.opened, overwrite)
        self.opened, self.path = opened, opened.path
        if not self.state.layout_in_yaml:
            positions = self.state.positions()
            layout_file.write(self.workspace.resolve(self.layout_path), positions)
            self._saved_layout = positions
        errors = errors_in(self.validation().issues)
        return f"saved {opened.path}" + (f" (with {len(errors)} errors still to fix)" if errors else "")

    @property
    def layout_path(self) -> str:
        return layout_file.side_path(self.path)

    @property
    def dirty(self) -> bool:
        if self.opened is None or self.opened.text != self.state.to_yaml():
            return True
        return not self.state.layout_in_yaml and bool(self.state.node_ids()) and \
            _rounded(self.state.positions()) != _rounded(self._saved_layout or {})

    # -- editing -------------------------------------------------------------------------------

    def changed(self) -> None:
        """Call after any change to ``state``: new revision, stable layout, one undo step."""
        self.revision += 1
        self.state.freeze_layout()
        if self.selected not in self.state.node_ids():
            self.selected = next(iter(self.state.node_ids()), None)
        self.history.record(self.snapshot())

    def snapshot(self) -> Snapshot:
        positions = () if self.state.layout_in_yaml else tuple(
            (k, float(x), float(y)) for k, (x, y) in self.state.side_positions.items())
        return Snapshot(self.state.to_yaml(), positions, self.state.layout_in_yaml)

    def undo(self) -> bool:
        snapshot = self.history.undo()
        return snapshot is not None and self._restore(snapshot)

    def redo(self) -> bool:
        snapshot = self.history.redo()
        return snapshot is not None and self._restore(snapshot)

    @property
    def can_undo(self) -> bool:
        return self.history.can_undo

    @property
    def can_redo(self) -> bool:
        return self.history.can_redo

    def _restore(self, snapshot: Snapshot) -> bool:
        before = set(self.state.node_ids())
        state = EditorState.from_yaml(snapshot.text)
        if not snapshot.layout_in_yaml:
            state.use_side_layout({k: (x, y) for k, x, y in snapshot.positions})
        self.state, self.yaml_problems = state, []
        back = [n for n in state.node_ids() if n not in before]  # e.g. the node a delete took away
        if back:
            self.selected = back[0]
        elif self.selected not in state.node_ids():
            self.selected = next(iter(state.node_ids()), None)
        self.revision += 1
        return True

    def set_yaml(self, text: str) -> bool:
        """Replace the document with ``text``; on a parse error keep the graph and record the problems."""
        try:
            state = EditorState.from_yaml(text)
        except YamlParseError as exc:
            self.yaml_problems = exc.problems
            return False
        if not state.has_yaml_positions() and not self.state.layout_in_yaml:
            state.use_side_layout(self.state.side_positions)
        self.state, self.yaml_problems = state, []
        self.changed()
        return True

    def set_layout_in_yaml(self, in_yaml: bool) -> None:
        """Store positions in the workflow (``ui: positions:``) or in the side file."""
        if in_yaml != self.state.layout_in_yaml:
            self.state.set_layout_in_yaml(in_yaml)
            self.changed()

    def add_node(self, type_name: str, position: tuple[float, float] | None = None) -> str:
        """Add a node at ``position``, or right of the selected node where it covers no node.

        Right of the selected one is the usual next step of a pipeline; the sidebar's
        palette gets the place the canvas's "+ Add node" gives.
        """
        beside = self.state.layout().get(self.selected or "") if position is None else None
        if beside is not None:
            position = self.state.free_spot((beside[0] + GRID_X, beside[1]))
        node_id = self.state.add_node(type_name, self.registry, position)
        self.selected = node_id
        self.changed()
        return node_id

    def delete_nodes(self, node_ids: list[str]) -> None:
        """Delete at once (one undo step) with every edge to and from them; asks nothing."""
        self.state.remove_nodes([n for n in node_ids if n in self.state.node_ids()])
        self.changed()

    def copy(self, node_ids: list[str]) -> int:
        known = [n for n in node_ids if n in self.state.node_ids()]
        if known:
            self.clipboard = self.state.copy_nodes(known)
        return len(known)

    def paste(self, at: tuple[float, float] | None = None) -> list[str]:
        """Paste the clipboard (see ``EditorState.paste`` for what happens to outside inputs)."""
        if not self.clipboard:
            return []
        new_ids = self.state.paste(self.clipboard, at)
        if new_ids:
            self.selected = new_ids[0]
            self.changed()
        return new_ids

    def duplicate(self, node_ids: list[str]) -> list[str]:
        known = [n for n in node_ids if n in self.state.node_ids()]
        if not known:
            return []
        new_ids = self.state.paste(self.state.copy_nodes(known))
        self.selected = new_ids[0]
        self.changed()
        return new_ids

    def edit(self, action: str, *args: Any) -> str:
        """Run a state edit by name (``connect``, ``remove_node``...); returns an error message or ''."""
        try:
            getattr(self.state, action)(*args)
        except EditError as exc:
            return str(exc)
        self.changed()
        return ""

    # -- checking and running ------------------------------------------------------------------

    def context(self) -> RunContext:
        """Relative paths from the workspace, every path a run writes inside it (as Save is), models shared.

        One loaded copy of a model serves every browser session of this editor process. The
        session follows the workflow's name and settings.
        """
        return RunContext(base_dir=self.workspace.root, write_root=self.workspace.root, share_models=True)

    def validation(self) -> ValidationResult:
        text = self.state.to_yaml()
        if self._validated is None or self._validated[0] != text:
            self._validated = (text, validate_text(text, self.path, self.registry, context=self.context()))
        return self._validated[1]

    def issues_for(self, node_id: str | None) -> list[Issue]:
        return [i for i in self.validation().issues if i.node == node_id]

    @property
    def session(self) -> EditorSession:
        if self._session is None:
            self._session = EditorSession(self.context(), run_sinks=False)
        return self._session

    def run(self, pixels: Any, source_id: str | None = None, index: int = 0, run_sinks: bool = False,
            input_name: str = "", history: list[tuple[Any, int]] | None = None) -> RunOutcome:
        """Run the current graph on one frame; only nodes whose inputs or params changed run again.

        ``history`` (earlier frames as ``(pixels, index)``) is replayed first when the graph
        has stateful nodes (trackers), which start afresh so the shown frame sees a run's history.
        """
        validation = self.validation()
        if validation.ok and validation.graph is not None and validation.graph.inputs:
            validation = self._with_inputs(validation.graph, pixels, source_id)
        if not validation.ok or validation.graph is None:
            errors = errors_in(validation.issues)
            raise EditError(f"fix the {len(errors)} error(s) first: " + "; ".join(i.format() for i in errors[:3]))
        self.session.run_sinks = run_sinks
        if history is not None and self.has_stateful_nodes():
            frames = [*history, (pixels, index)]
            result = self.session.run_sequence(validation.graph, frames, source_id)
        else:
            result = self.session.run_image(validation.graph, pixels, source_id, index)
        self.last_run = RunOutcome(result, validation.graph, self.revision, input_name, index)
        return self.last_run

    def _with_inputs(self, graph: Any, pixels: Any, source_id: str | None) -> ValidationResult:
        """The workflow checked with the form's values; the frame run on is the value of its image input."""
        target = source_id or (graph.source_ids[0] if graph.source_ids else None)
        images = {name: pixels for name, spec in graph.inputs.items() if spec.kind == "image" and name == target}
        known = {k: v for k, v in self.input_values.items() if k in graph.inputs}  # a renamed input is forgotten
        return validate_text(self.state.to_yaml(), self.path, self.registry, context=self.context(),
                             inputs={**known, **images})

    def why_no_source(self) -> str:
        """Why the workflow's own source cannot be run on: none yet, the source itself wrong, or another node."""
        errors = errors_in(self.validation().issues)
        sources = [n for n in self.state.node_ids()
                   if (cls := self.registry.get(self.state.node(n).type)) is not None and cls.is_source]
        if not sources:
            return "The workflow has no source yet: add one from the palette, or run on a sample or an upload."
        wrong = [i for i in errors if i.node in sources]
        if wrong:
            return (f"The source '{wrong[0].node}' is not valid yet ({wrong[0].message}): fix it, "
                    f"or run on a sample or an upload.")
        others = list(dict.fromkeys(i.node or "the workflow" for i in errors))
        return (f"The source is fine, but {len(errors)} error(s) in {', '.join(map(repr, others[:3]))} stop the "
                f"workflow from running: fix them (listed under the canvas).")

    def has_stateful_nodes(self) -> bool:
        graph = self.validation().graph
        return graph is not None and any(n.cls.stateful for n in graph.nodes.values())

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def _rounded(positions: dict[str, tuple[float, float]]) -> dict[str, tuple[int, int]]:
    return {k: (round(x), round(y)) for k, (x, y) in positions.items()}


def _name_from(path: str) -> str:
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return stem.replace("_", "-") or "untitled"


__all__ = ["Editor", "RunOutcome", "WorkspaceError"]
