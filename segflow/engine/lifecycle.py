"""Node instances for a run: created and set up in order, closed on every path out."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from segflow.engine.graph import CompiledGraph
from segflow.engine.metrics import Undelivered
from segflow.engine.node import Node, NodeError, RunContext, SinkNode

log = logging.getLogger("segflow")


class SetupError(Exception):
    """A node could not be set up (model missing, device absent): names the node."""

    def __init__(self, node_id: str, node_type: str, exc: BaseException) -> None:
        detail = str(exc) if isinstance(exc, NodeError) else f"{type(exc).__name__}: {exc}"
        hint = exc.hint if isinstance(exc, NodeError) else ""
        super().__init__(f"node '{node_id}' ({node_type}): setup failed: {detail}" + (f"\n    hint: {hint}" if hint
                                                                                      else ""))
        self.node_id = node_id
        self.trace = "".join(traceback.format_exception(exc))


@contextmanager
def running_nodes(graph: CompiledGraph, context: RunContext) -> Iterator[dict[str, Node]]:
    """Instantiate and set up every node; close all of them (sinks flush) whatever happens."""
    nodes: dict[str, Node] = {}
    try:
        for node_id, resolved in graph.nodes.items():
            node = resolved.cls(node_id, resolved.params, context)
            nodes[node_id] = node
            try:
                node.setup()
            except Exception as exc:
                raise SetupError(node_id, resolved.cls.type_name, exc) from exc
        yield nodes
    finally:
        for node_id, node in nodes.items():
            try:
                node.close()
            except Exception as exc:
                log.error("node '%s' (%s) failed to close: %s: %s", node_id, node.type_name,
                          type(exc).__name__, exc)


def undelivered(nodes: dict[str, Node]) -> list[Undelivered]:
    """What the closed sinks could not write: the run's report and exit code say it."""
    found = []
    for node_id, node in nodes.items():
        if not isinstance(node, SinkNode):
            continue
        try:
            result = node.undelivered()
        except Exception as exc:  # a plugin's bug here must not hide the run's report
            log.error("node '%s' (%s) cannot say what it delivered: %s: %s", node_id, node.type_name,
                      type(exc).__name__, exc)
            continue
        if result is not None and result.records:
            found.append(result)
    return found
