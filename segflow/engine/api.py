"""The Python API: load a workflow, run it, or push one image through it.

wf = segflow.engine.api.load("workflows/coffee_stones.yaml", overrides=["detect.confidence=0.5"])
report = wf.run(max_frames=100)
outputs = wf.run_image(pixels)        # {node_id: {port: value}}

A workflow with ``inputs:`` takes their values per call (checked like params;
a bad one raises :class:`WorkflowError` before anything runs):

report = wf.run(inputs={"confidence": 0.5, "zone": [[0, 0], [640, 0], [640, 480]]})
outputs = wf.run_image(pixels, inputs={"confidence": 0.5})   # pixels feed the image input
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segflow.engine.execution.executor import Executor, RunOptions
from segflow.engine.execution.executors import make_executor
from segflow.engine.execution.failures import describe_error
from segflow.engine.execution.lifecycle import running_nodes
from segflow.engine.execution.plan import Plan, compile_plan
from segflow.engine.execution.sequential import image_packet, make_steps, run_sequential
from segflow.engine.execution.steps import NodeCrash, run_packet
from segflow.engine.node import RunContext
from segflow.engine.observe.hooks import RunHooks
from segflow.engine.observe.metrics import RunReport
from segflow.engine.registry import Registry
from segflow.engine.workflow.graph import CompiledGraph, Ref
from segflow.engine.workflow.inputs import InputSpec
from segflow.engine.workflow.issues import Issue, WorkflowError, errors_in
from segflow.engine.workflow.limits import Limits
from segflow.engine.workflow.validate import read_workflow, validate_text

log = logging.getLogger("segflow")


@dataclass
class Workflow:
    graph: CompiledGraph
    file: str
    warnings: list[Issue]
    base_dir: Path
    text: str = ""  # the workflow as written: binding inputs validates it again with their values
    overrides: tuple[str, ...] = ()
    registry: Registry | None = None

    @property
    def inputs(self) -> dict[str, InputSpec]:
        """The declared inputs (kind, default, constraints) by name."""
        return self.graph.inputs

    def with_inputs(self, inputs: Mapping[str, Any]) -> Workflow:
        """The same workflow with values for its inputs; raise :class:`WorkflowError` with every problem.

        Values are Python values of the declared kind (a float, a list of [x, y] points, an
        image as a BGR array or a file path); :class:`~segflow.engine.workflow.inputs.TextValue`
        is parsed as typed by a person (``--input``, a form).
        """
        return loads(self.text, self.file, self.overrides, self.registry, self.base_dir, inputs=inputs)

    def _bound(self, inputs: Mapping[str, Any] | None) -> Workflow:
        if inputs is None and self.graph.bound:
            return self
        return self.with_inputs(inputs or {})

    @property
    def name(self) -> str:
        return self.graph.name

    def context(self) -> RunContext:
        return RunContext(base_dir=self.base_dir).for_settings(self.graph.name, self.graph.settings.models_dir)

    def plan(self, keep: Iterable[Ref] = ()) -> Plan:
        """Where each node runs and what each hop carries; ``keep``: values hooks want at the end."""
        return compile_plan(self.graph, keep)

    def run(self, max_frames: int | None = None, hooks: RunHooks | None = None, handle_signals: bool = False,
            debug: bool = False, executor: str | None = None, address: str | None = None,
            keep: Iterable[Ref] = (), inputs: Mapping[str, Any] | None = None) -> RunReport:
        """Stream every source through the graph until the input ends or a stop is asked for.

        ``executor`` overrides ``settings.executor`` ('local' or 'ray'); ``address`` the Ray cluster;
        ``inputs`` gives the workflow's inputs their values (an image input is one frame).
        """
        if inputs is not None or not self.graph.bound:
            return self._bound(inputs).run(max_frames, hooks, handle_signals, debug, executor, address, keep)
        hooks = hooks or RunHooks()
        chosen = make_executor(executor or self.graph.settings.executor)
        options = RunOptions(self.base_dir, max_frames, debug, address)
        with _signals(chosen) if handle_signals else _nothing():
            report = chosen.run(self.plan(keep), options, hooks)
        hooks.on_end(report=report)
        return report

    def run_sequential(self, max_frames: int | None = None, inputs: Mapping[str, Any] | None = None) -> RunReport:
        """The reference run: one frame at a time, no threads (results must match ``run``)."""
        if inputs is not None or not self.graph.bound:
            return self._bound(inputs).run_sequential(max_frames)
        plan = self.plan()
        with running_nodes(plan.nodes, self.context()) as nodes:
            return run_sequential(plan, nodes, max_frames)

    def run_image(self, pixels: Any, source_id: str | None = None,
                  inputs: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Push one image through the graph as if ``source_id`` produced it; every node's outputs.

        ``source_id`` defaults to the first source; when that is an image input, ``pixels`` is its value.
        ``inputs`` gives the other inputs their values.
        """
        if inputs is not None or not self.graph.bound:
            given = dict(inputs or {})
            target = source_id or (self.graph.source_ids[0] if self.graph.source_ids else None)
            if target in self.graph.inputs:
                given.setdefault(target, pixels)
            return self.with_inputs(given).run_image(pixels, source_id)
        errors: list[str] = []
        plan = self.plan()
        with running_nodes(plan.nodes, self.context()) as nodes:
            steps = make_steps(plan, nodes, lambda s, i, e: errors.append(f"{s.id}: {describe_error(e)}"))
            packet = image_packet(plan.source_ids, plan.workflow_name, pixels, source_id)
            try:
                run_packet(steps, packet)
            except NodeCrash as exc:
                errors.append(str(exc))
        outputs: dict[str, dict[str, Any]] = {}
        for (node_id, port), value in packet.values.items():
            outputs.setdefault(node_id, {})[port] = value
        if errors:
            outputs["_errors"] = {"errors": errors}
        return outputs


def load(path: str | Path, overrides: Iterable[str] = (), registry: Registry | None = None,
         base_dir: str | Path | None = None, inputs: Mapping[str, Any] | None = None) -> Workflow:
    """Validate and compile a workflow file; raise :class:`WorkflowError` with every problem.

    ``inputs``: values for the workflow's inputs (then a required one left out is an error);
    None leaves them to ``run``/``run_image``/``with_inputs``.
    """
    text, problem = read_workflow(Path(path), Limits.from_env())
    if text is None:
        raise WorkflowError([problem] if problem else [])
    return loads(text, str(path), overrides, registry, base_dir, inputs)


def loads(text: str, file: str = "<string>", overrides: Iterable[str] = (), registry: Registry | None = None,
          base_dir: str | Path | None = None, inputs: Mapping[str, Any] | None = None) -> Workflow:
    base = Path(base_dir) if base_dir else Path.cwd()
    overrides = tuple(overrides)
    result = validate_text(text, file, registry, overrides, RunContext(base_dir=base), inputs=inputs)
    if result.graph is None or errors_in(result.issues):
        raise WorkflowError(result.issues)
    return Workflow(result.graph, file, [i for i in result.issues if not i.is_error], base, text, overrides, registry)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@contextmanager
def _signals(executor: Executor) -> Iterator[None]:
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
