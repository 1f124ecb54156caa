"""Checks a node type makes of its own wiring, given where each input's value was made.

A value may pass through nodes that enrich it (a model fills each crop's result and
passes the crops on, ``Port.passes``); what a consumer needs to know (do these crops
have parent detections?) is a trait of the port that *made* it. This module follows
each wired input back to that port and asks the node type (``Node.check_wiring``).
"""

from __future__ import annotations

from collections.abc import Callable

from segflow.engine.node import Port
from segflow.engine.workflow.graph import CompiledGraph, Ref
from segflow.engine.workflow.issues import Issue, Location, Severity


def origin(graph: CompiledGraph, ref: Ref) -> Port:
    """The output port that made the value at ``ref``, followed back through ``Port.passes``."""
    seen: set[Ref] = set()
    while True:
        node = graph.nodes[ref[0]]
        port = node.cls.outputs[ref[1]]
        refs = node.inputs.get(port.passes) if port.passes else None
        if not refs or ref in seen:
            return port
        seen.add(ref)
        ref = refs[0]


def wiring_issues(graph: CompiledGraph, where: Callable[..., Location], skip: set[str]) -> list[Issue]:
    """Every node's own wiring problems (nodes in ``skip`` had bad params: nothing more is said there)."""
    issues = []
    for node_id, node in graph.nodes.items():
        if node_id in skip:
            continue
        origins = {port: origin(graph, refs[0]) for port, refs in node.inputs.items() if refs}
        for problem in node.cls.check_wiring(node.params, origins):
            path: tuple[str, ...] = ("nodes", node_id)
            if problem.field in origins:
                path = ("nodes", node_id, "inputs", problem.field)
            elif problem.field.startswith("params."):  # a param that does not fit the wiring (a vote count)
                path = ("nodes", node_id, "params", *problem.field.split(".")[1:])
            issues.append(Issue("input.wiring", problem.message, where(path, prefer_key=True), node_id,
                                problem.field or None, problem.hint,
                                Severity.WARNING if problem.warning else Severity.ERROR))
    return issues
