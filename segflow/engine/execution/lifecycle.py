"""Node instances for a run: created and set up in order, closed on every path out."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Container, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from segflow.engine.execution.blas import limit_blas_threads
from segflow.engine.node import Node, NodeError, RunContext, SinkNode, SourceNode
from segflow.engine.observe.metrics import Undelivered

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


class NodeSpecLike(Protocol):
    """What it takes to create a node: a graph's ResolvedNode or a plan's PlanNode."""

    @property
    def cls(self) -> type[Node]: ...

    @property
    def params(self) -> Any: ...


@contextmanager
def running_nodes(specs: Mapping[str, NodeSpecLike], context: RunContext,
                  kept: Container[str] = ()) -> Iterator[dict[str, Node]]:
    """Instantiate and set up every node; close all of them (sinks flush) whatever happens.

    Ids in ``kept`` are left open at the end: another run took those nodes over
    (``segflow serve`` keeps a model loaded across a reload). It is read when
    the nodes close, so it may grow while the run goes on.
    """
    nodes: dict[str, Node] = {}
    limit_blas_threads()  # the stages are the parallelism (segflow.engine.execution.blas)
    try:
        for node_id, spec in specs.items():
            node = spec.cls(node_id, spec.params, context)
            nodes[node_id] = node
            try:
                node.setup()
            except Exception as exc:
                raise SetupError(node_id, spec.cls.type_name, exc) from exc
        yield nodes
    finally:
        close_nodes(nodes, kept)


def close_nodes(nodes: Mapping[str, Node], kept: Container[str] = ()) -> None:
    """Close every node not in ``kept``; a node that fails to close is logged, the others still close."""
    for node_id, node in nodes.items():
        if node_id in kept:
            continue
        try:
            node.close()
        except Exception as exc:
            log.error("node '%s' (%s) failed to close: %s: %s", node_id, node.type_name, type(exc).__name__, exc)


def total_frames(nodes: Mapping[str, Node], source_ids: Iterable[str], max_frames: int | None) -> int | None:
    """How many frames the sources will give in all (for progress), when every source knows."""
    total = 0
    for source_id in source_ids:
        node = nodes[source_id]
        count = node.total_frames() if isinstance(node, SourceNode) else None
        if count is None and max_frames is None:
            return None
        count = min(count, max_frames) if count is not None and max_frames is not None else (count or max_frames)
        total += int(count or 0)
    return total


def undelivered(nodes: Mapping[str, Node]) -> list[Undelivered]:
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
