"""One editing session of one workflow: open, edit, validate, run, save — without Streamlit.

The app keeps one :class:`Editor` per browser tab and maps widgets onto its
methods; tests drive the same methods directly. ``revision`` counts changes
to the document, so the app knows when its widgets show stale values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segflow.engine.issues import Issue, errors_in
from segflow.engine.node import RunContext
from segflow.engine.registry import Registry
from segflow.engine.session import EditorSession, SessionResult
from segflow.engine.validate import ValidationResult, validate_text
from segflow.ui.state import EditError, EditorState
from segflow.ui.workspace import Opened, Workspace, WorkspaceError
from segflow.ui.yaml_roundtrip import YamlParseError, YamlProblem


@dataclass
class RunOutcome:
    result: SessionResult
    graph: Any  # the CompiledGraph that ran
    revision: int
    input_name: str


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
    _validated: tuple[str, ValidationResult] | None = None
    _session: EditorSession | None = None

    # -- files ---------------------------------------------------------------------------------

    def open(self, path: str) -> None:
        """Open a workflow in the workspace (a missing file starts a new one saved there)."""
        opened = self.workspace.open(path)
        state = EditorState.from_yaml(opened.text) if opened.text.strip() else \
            EditorState.new(_name_from(opened.path))
        self.state, self.opened, self.path = state, opened, opened.path
        self.selected = next(iter(state.node_ids()), None)
        self.yaml_problems = []
        self.last_run = None
        self.changed()

    def save(self, path: str | None = None, overwrite: bool = False) -> str:
        """Save inside the workspace; returns a message (raises WorkspaceError when refused)."""
        target = path or self.path
        opened = self.workspace.save(target, self.state.to_yaml(), self.opened, overwrite)
        self.opened, self.path = opened, opened.path
        errors = errors_in(self.validation().issues)
        return f"saved {opened.path}" + (f" (with {len(errors)} errors still to fix)" if errors else "")

    @property
    def dirty(self) -> bool:
        return self.opened is None or self.opened.text != self.state.to_yaml()

    # -- editing -------------------------------------------------------------------------------

    def changed(self) -> None:
        self.revision += 1

    def set_yaml(self, text: str) -> bool:
        """Replace the document with ``text``; on a parse error keep the graph and record the problems."""
        try:
            state = EditorState.from_yaml(text)
        except YamlParseError as exc:
            self.yaml_problems = exc.problems
            return False
        self.state, self.yaml_problems = state, []
        if self.selected not in state.node_ids():
            self.selected = next(iter(state.node_ids()), None)
        self.changed()
        return True

    def add_node(self, type_name: str) -> str:
        node_id = self.state.add_node(type_name, self.registry)
        self.selected = node_id
        self.changed()
        return node_id

    def edit(self, action: str, *args: Any) -> str:
        """Run a state edit by name (``connect``, ``remove_node``...); returns an error message or ''."""
        try:
            getattr(self.state, action)(*args)
        except EditError as exc:
            return str(exc)
        if self.selected not in self.state.node_ids():
            self.selected = next(iter(self.state.node_ids()), None)
        self.changed()
        return ""

    # -- checking and running ------------------------------------------------------------------

    def context(self) -> RunContext:
        return RunContext(base_dir=self.workspace.root)  # the session sets workflow to its name

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
        if not validation.ok or validation.graph is None:
            errors = errors_in(validation.issues)
            raise EditError(f"fix the {len(errors)} error(s) first: " + "; ".join(i.format() for i in errors[:3]))
        self.session.run_sinks = run_sinks
        if history is not None and self.has_stateful_nodes():
            frames = [*history, (pixels, index)]
            result = self.session.run_sequence(validation.graph, frames, source_id)
        else:
            result = self.session.run_image(validation.graph, pixels, source_id, index)
        self.last_run = RunOutcome(result, validation.graph, self.revision, input_name)
        return self.last_run

    def has_stateful_nodes(self) -> bool:
        graph = self.validation().graph
        return graph is not None and any(n.cls.stateful for n in graph.nodes.values())

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def _name_from(path: str) -> str:
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return stem.replace("_", "-") or "untitled"


__all__ = ["Editor", "RunOutcome", "WorkspaceError"]
