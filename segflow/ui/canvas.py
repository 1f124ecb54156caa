"""The graph canvas: what it is sent (``payload``), and how its events change the state (``apply``).

The canvas is a small static Streamlit component (``canvas_frontend/``: plain
HTML/JS, no npm build). barfi 1.1.0 reports its graph to Python only when its
own Execute/Save buttons are pressed and never reports which node is selected;
streamlit-flow-component has one handle per node, not named typed ports.
So the editor draws its own: named ports coloured by kind, issues on nodes,
run status and timings in each node's footer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segflow.engine.issues import Issue
from segflow.engine.registry import Registry
from segflow.engine.session import SessionResult
from segflow.ui.state import Edge, EditError, EditorState

FRONTEND = Path(__file__).with_name("canvas_frontend")


def payload(state: EditorState, registry: Registry, issues: list[Issue], selected: str | None,
            result: SessionResult | None = None) -> dict[str, Any]:
    layout = state.layout()
    by_node: dict[str, list[str]] = {}
    for issue in issues:
        if issue.node is not None:
            text = ("warning: " if not issue.is_error else "") + issue.message
            by_node.setdefault(issue.node, []).append(text + (f" ({issue.hint})" if issue.hint else ""))
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
            "status": None, "status_text": "",
        }
        run = result.runs.get(view.id) if result else None
        if run is not None:
            entry["status"] = run.status
            entry["status_text"] = {"ran": f"ran in {run.seconds * 1000:.1f} ms", "cached": "cached (unchanged)",
                                    "failed": f"failed: {run.error}", "skipped": "did not run",
                                    "off": "sink (off in previews)"}[run.status]
        nodes.append(entry)
    edges = [{"src": e.src, "src_port": e.src_port, "dst": e.dst, "dst_port": e.dst_port,
              "kind": kinds.get((e.src, e.src_port), "")} for e in state.edges()]
    return {"nodes": nodes, "edges": edges, "selected": selected}


def apply(state: EditorState, event: dict[str, Any], registry: Registry) -> tuple[str | None, str]:
    """Apply one canvas event; returns (the node to select, a message for the user or '')."""
    action = event.get("action")
    node = event.get("node")
    try:
        if action == "select":
            return str(node), ""
        if action == "move":
            state.move(str(node), float(event["x"]), float(event["y"]))
            return str(node), ""
        if action == "delete":
            state.remove_node(str(node))
            return None, f"deleted node '{node}'"
        if action in ("connect", "disconnect"):
            edge = Edge(str(event["src"]), str(event["src_port"]), str(event["dst"]), str(event["dst_port"]))
            if action == "connect":
                state.connect(edge, registry)
                return edge.dst, ""
            state.disconnect(edge)
            return edge.dst, f"removed edge {edge.ref} -> {edge.dst}.{edge.dst_port}"
    except (EditError, KeyError, TypeError, ValueError) as exc:
        return (str(node) if node else None), str(exc)
    return None, f"unknown canvas action {action!r}"


_component: Any = None


def graph_canvas(graph: dict[str, Any], key: str, height: int = 460, on_change: Any = None) -> Any:
    """Draw the canvas; its value is the latest event (also handed to ``on_change``)."""
    global _component
    if _component is None:
        import streamlit.components.v1 as components

        _component = components.declare_component("segflow_canvas", path=str(FRONTEND))
    return _component(graph=graph, height=height, key=key, default=None, on_change=on_change)
