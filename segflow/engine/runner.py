"""The Python API: load a workflow, run it, or push one image through it.

wf = segflow.engine.runner.load("workflows/coffee_stones.yaml", overrides=["detect.confidence=0.5"])
report = wf.run(max_frames=100)
outputs = wf.run_image(pixels)        # {node_id: {port: value}}
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segflow.engine.executor import StreamingExecutor, describe_error
from segflow.engine.graph import CompiledGraph
from segflow.engine.hooks import RunHooks
from segflow.engine.issues import Issue, WorkflowError, errors_in
from segflow.engine.lifecycle import running_nodes, undelivered
from segflow.engine.metrics import RunReport
from segflow.engine.node import RunContext, SourceNode
from segflow.engine.registry import Registry
from segflow.engine.sequential import image_packet, make_steps, run_packet, run_sequential
from segflow.engine.validate import validate_file, validate_text

log = logging.getLogger("segflow")


@dataclass
class Workflow:
    graph: CompiledGraph
    file: str
    warnings: list[Issue]
    base_dir: Path

    @property
    def name(self) -> str:
        return self.graph.name

    def context(self) -> RunContext:
        return RunContext(workflow=self.graph.name, base_dir=self.base_dir)

    def run(self, max_frames: int | None = None, hooks: RunHooks | None = None, handle_signals: bool = False,
            debug: bool = False) -> RunReport:
        """Stream every source through the graph until the input ends or a stop is asked for."""
        context = self.context()
        with running_nodes(self.graph, context) as nodes:
            executor = StreamingExecutor(self.graph, nodes, context, hooks, max_frames, debug)
            total = _total_frames(nodes, self.graph, max_frames)
            (hooks or RunHooks()).on_start(workflow=self.graph.name, total_frames=total)
            with _signals(executor) if handle_signals else _nothing():
                report = executor.run()
        report.finish(undelivered(nodes))  # after close: what the sinks could not write sets the exit code
        (hooks or RunHooks()).on_end(report=report)
        return report

    def run_sequential(self, max_frames: int | None = None) -> RunReport:
        """The reference run: one frame at a time, no threads (results must match ``run``)."""
        with running_nodes(self.graph, self.context()) as nodes:
            return run_sequential(self.graph, nodes, max_frames)

    def run_image(self, pixels: Any, source_id: str | None = None) -> dict[str, dict[str, Any]]:
        """Push one image through the graph as if ``source_id`` produced it; every node's outputs."""
        errors: list[str] = []
        with running_nodes(self.graph, self.context()) as nodes:
            steps = make_steps(self.graph, nodes, lambda s, i, e: errors.append(f"{s.id}: {describe_error(e)}"))
            packet = run_packet(steps, image_packet(self.graph, pixels, source_id))
        outputs: dict[str, dict[str, Any]] = {}
        for (node_id, port), value in packet.values.items():
            outputs.setdefault(node_id, {})[port] = value
        if errors:
            outputs["_errors"] = {"errors": errors}
        return outputs


def load(path: str | Path, overrides: Iterable[str] = (), registry: Registry | None = None,
         base_dir: str | Path | None = None) -> Workflow:
    """Validate and compile a workflow file; raise :class:`WorkflowError` with every problem."""
    base = Path(base_dir) if base_dir else Path.cwd()
    result = validate_file(path, registry, overrides, RunContext(base_dir=base))
    return _workflow(result.graph, str(path), result.issues, base)


def loads(text: str, file: str = "<string>", overrides: Iterable[str] = (), registry: Registry | None = None,
          base_dir: str | Path | None = None) -> Workflow:
    base = Path(base_dir) if base_dir else Path.cwd()
    result = validate_text(text, file, registry, overrides, RunContext(base_dir=base))
    return _workflow(result.graph, file, result.issues, base)


def _workflow(graph: CompiledGraph | None, file: str, issues: list[Issue], base: Path) -> Workflow:
    if graph is None or errors_in(issues):
        raise WorkflowError(issues)
    return Workflow(graph, file, [i for i in issues if not i.is_error], base)


def _total_frames(nodes: dict[str, Any], graph: CompiledGraph, max_frames: int | None) -> int | None:
    total = 0
    for source_id in graph.source_ids:
        node = nodes[source_id]
        count = node.total_frames() if isinstance(node, SourceNode) else None
        if count is None and max_frames is None:
            return None
        count = min(count, max_frames) if count is not None and max_frames is not None else (count or max_frames)
        total += int(count or 0)
    return total


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@contextmanager
def _signals(executor: StreamingExecutor) -> Iterator[None]:
    """First SIGINT/SIGTERM: stop sources and drain. A second SIGINT: abort at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handle(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if received and signum == signal.SIGINT:
            log.error("second SIGINT: aborting without draining")
            os._exit(130)
        received.append(signum)
        log.warning("%s: stopping sources and draining what is in flight (Ctrl-C again to abort)", name)
        executor.stop(name)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
