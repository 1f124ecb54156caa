"""The graph canvas: what it is sent (``payload``), and how its events change the state (``apply``).

The canvas is a small static Streamlit component (``canvas_frontend/``: plain
HTML/JS, no npm build). barfi 1.1.0 reports its graph to Python only when its
own Execute/Save buttons are pressed and never reports which node is selected;
streamlit-flow-component has one handle per node, not named typed ports.
So the editor draws its own: named ports coloured by kind, issues on nodes,
and in each node's footer (``segflow.ui.footers``) the run's status, timing, a
thumbnail of the output and the frame it ran on; during Play the frame view
relays the player's footers to the canvas without a rerun (``live``).

The browser applies moves and selection at once and tells Python afterwards;
Python stays the owner of the document (every render draws what it sends).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segflow.engine.execution.session import SessionResult
from segflow.engine.masking import mask
from segflow.engine.registry import Registry
from segflow.engine.workflow.issues import Issue
from segflow.ui import footers
from segflow.ui.editor import Editor
from segflow.ui.state import Edge, EditError, EditorState

FRONTEND = Path(__file__).with_name("canvas_frontend")


def payload(state: EditorState, registry: Registry, issues: list[Issue], selected: str | None,
            result: SessionResult | None = None, frame: int | None = None, *, can_undo: bool = False,
            can_redo: bool = False) -> dict[str, Any]:
    """Everything the canvas draws, and nothing more: the whole payload travels on every rerun.

    Nodes (ports, issues, the footer of ``result``, run on ``frame``), edges, every
    problem for the problems panel (each with its node, so a click there finds it), the
    registry's types with their port kinds (the palette offers the types that fit a wire
    dropped on the canvas), and whether undo/redo can go anywhere.
    """
    layout = state.layout()
    feet = footers.of_run(result, frame) if result is not None else {}
    by_node: dict[str, list[str]] = {}
    for issue in issues:
        if issue.node is not None:
            text = ("warning: " if not issue.is_error else "") + issue.message
            by_node.setdefault(issue.node, []).append(mask(text + (f" ({issue.hint})" if issue.hint else "")))
    nodes = []
    kinds: dict[tuple[str, str], str] = {}
    for view in state.nodes():
        cls = registry.get(view.type)
        inputs = [{"name": p, "kind": str(s.kind), "required": s.required, "description": s.description}
                  for p, s in (cls.inputs.items() if cls else [])]
        outputs = [{"name": p, "kind": str(s.kind), "description": s.description}
                   for p, s in (cls.outputs.items() if cls else [])]
        for out in outputs:
            kinds[(view.id, out["name"])] = out["kind"]
        x, y = layout.get(view.id, (40.0, 40.0))
        entry: dict[str, Any] = {
            "id": view.id, "type": view.type, "label": view.label, "x": x, "y": y,
            "inputs": inputs, "outputs": outputs, "issues": by_node.get(view.id, []),
            "summary": cls.summary() if cls else f"unknown node type '{view.type}'",
            "is_source": bool(cls and cls.is_source), "is_sink": bool(cls and cls.is_sink),
            "foot": feet.get(view.id),
        }
        nodes.append(entry)
    edges = [{"src": e.src, "src_port": e.src_port, "dst": e.dst, "dst_port": e.dst_port,
              "kind": kinds.get((e.src, e.src_port), "")} for e in state.edges()]
    types = [{"type": name, "family": cls.family(), "summary": cls.summary(),
              "inputs": sorted({str(s.kind) for s in cls.inputs.values()}),
              "outputs": sorted({str(s.kind) for s in cls.outputs.values()})} for name, cls in registry]
    problems = [{"text": issue.format(), "node": issue.node, "error": issue.is_error} for issue in issues]
    return {"nodes": nodes, "edges": edges, "selected": selected, "types": types, "problems": problems,
            "can_undo": can_undo, "can_redo": can_redo}


def editor_payload(editor: Editor, issues: list[Issue]) -> dict[str, Any]:
    run = editor.last_run
    return payload(editor.state, editor.registry, issues, editor.selected, run.result if run else None,
                   run.frame if run else None, can_undo=editor.can_undo, can_redo=editor.can_redo)


def handle(editor: Editor, event: dict[str, Any]) -> tuple[str, bool]:
    """Apply one canvas event to the editor; returns (a message for the user or '', is it an error).

    Every edit ends in ``editor.changed()``, so each one is a single undo step.
    """
    action = event.get("action")
    node = event.get("node")
    nodes = [str(n) for n in event.get("nodes") or ([node] if node else [])]
    state = editor.state
    try:
        if action == "select":
            if node in state.node_ids():
                editor.selected = str(node)
            return "", False
        if action == "move":
            moves = event.get("moves") or [{"node": node, "x": event.get("x"), "y": event.get("y")}]
            for move in moves:
                state.move(str(move["node"]), float(move["x"]), float(move["y"]))
            editor.selected = str(node or moves[0]["node"])
            editor.changed()
            return "", False
        if action == "delete":
            editor.delete_nodes(nodes)
            names = ", ".join(f"'{n}'" for n in nodes)
            return f"deleted {names} (Ctrl+Z brings {'it' if len(nodes) == 1 else 'them'} back)", False
        if action in ("connect", "disconnect"):
            edge = Edge(str(event["src"]), str(event["src_port"]), str(event["dst"]), str(event["dst_port"]))
            if action == "connect":
                state.connect(edge, editor.registry)
                editor.selected = edge.dst
                editor.changed()
                return "", False
            state.disconnect(edge)
            editor.changed()
            return f"removed edge {edge.ref} -> {edge.dst}.{edge.dst_port}", False
        if action == "add":
            at = (float(event["x"]), float(event["y"])) if event.get("x") is not None else None
            if isinstance(event.get("wire"), dict):
                return add_wired(editor, str(event["type"]), at, event["wire"]), False
            new_id = editor.add_node(str(event["type"]), at)
            return f"added '{new_id}'", False
        if action in ("undo", "redo"):
            done = editor.undo() if action == "undo" else editor.redo()
            return ("" if done else f"nothing to {action}"), False
        if action == "copy":
            count = editor.copy(nodes)
            return f"copied {count} node(s): Ctrl+V pastes", False
        if action == "paste":
            at = (float(event["x"]), float(event["y"])) if event.get("x") is not None else None
            pasted = editor.paste(at)
            return (f"pasted {', '.join(pasted)}" if pasted else "nothing copied yet"), False
        if action == "duplicate":
            made = editor.duplicate(nodes)
            return (f"duplicated as {', '.join(made)}" if made else ""), False
    except (EditError, KeyError, TypeError, ValueError) as exc:
        return str(exc), True
    return f"unknown canvas action {action!r}", True


def add_wired(editor: Editor, type_name: str, at: tuple[float, float] | None, wire: dict[str, Any]) -> str:
    """Add a node wired to the port a wire was dropped from (one undo step); returns the note.

    ``wire`` is ``{node, port, side}``: from an output, the new node's input of the same
    kind takes it (the one of the same name first, as ``image`` -> ``image``); from an
    input, the new node's output of that kind feeds it.
    """
    state, registry = editor.state, editor.registry
    cls = registry.get(type_name)
    node, port, side = str(wire["node"]), str(wire["port"]), str(wire.get("side", "out"))
    src_cls = registry.get(state.node(node).type)
    if cls is None or src_cls is None:
        raise EditError(f"unknown node type '{type_name if cls is None else state.node(node).type}'")
    ports = src_cls.outputs if side == "out" else src_cls.inputs
    if port not in ports:
        raise EditError(f"node '{node}' has no {'output' if side == 'out' else 'input'} '{port}'")
    kind = ports[port].kind
    theirs = cls.inputs if side == "out" else cls.outputs
    fitting = sorted((name != port, name) for name, spec in theirs.items() if spec.kind == kind)
    if not fitting:
        raise EditError(f"{type_name} has no {kind} {'input' if side == 'out' else 'output'} to wire "
                        f"to '{node}.{port}'")
    new_id = state.add_node(type_name, registry, at)
    other = fitting[0][1]
    edge = Edge(node, port, new_id, other) if side == "out" else Edge(new_id, other, node, port)
    state.connect(edge, registry)
    editor.selected = new_id
    editor.changed()
    return f"added '{new_id}', wired {edge.ref} -> {edge.dst}.{edge.dst_port}"


def handle_value(editor: Editor, value: dict[str, Any], handled: float | None) -> tuple[str, bool, float | None]:
    """Apply what the canvas sent: one event, or a batch of every event it has not seen confirmed.

    Streamlit keeps only a component's latest value: two events sent during one
    rerun would lose the first. So the canvas resends each unconfirmed event in
    a ``batch`` until a render echoes its seq (``handled``); events at or below
    ``handled`` were applied already and are skipped. Returns the last message,
    whether it is an error, and the new ``handled``.

    The editor keeps its own mark (``Editor.canvas_seq``) too, and the later of the two
    counts: a quick add was once applied twice on a loaded machine (13 nodes for 12), and
    the object the edits change cannot fall behind them, whatever the session keeps.
    """
    marks = [m for m in (handled, editor.canvas_seq) if m is not None]
    handled = max(marks) if marks else None
    events = value.get("events") if value.get("action") == "batch" else [value]
    message, error = "", False
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict):
            continue
        seq = event.get("seq")
        if isinstance(seq, (int, float)) and handled is not None and seq <= handled:
            continue
        text, bad = handle(editor, event)
        if text or bad:
            message, error = text, bad
        if isinstance(seq, (int, float)):
            handled = seq if handled is None else max(handled, seq)
            editor.canvas_seq = handled
    return message, error, handled


_component: Any = None


def graph_canvas(graph: dict[str, Any], key: str, height: int = 460, on_change: Any = None) -> Any:
    """Draw the canvas; its value is the latest event (also handed to ``on_change``)."""
    global _component
    if _component is None:
        import streamlit.components.v1 as components

        _component = components.declare_component("segflow_canvas", path=str(FRONTEND))
    return _component(graph=graph, height=height, key=key, default=None, on_change=on_change)
