"""The executor contract: something that runs a :class:`Plan` and reports on it.

Two methods, both required: ``run`` (blocking: set the nodes up, stream every
source through the plan, close every node on every path out, return the
report) and ``stop`` (callable from a signal handler or another thread: stop
the sources and drain what is in flight). ``live_metrics`` gives hooks a view
of the per-node metrics while the run goes on.

Executors are chosen by name (``settings.executor`` or ``segflow run
--executor``) through :mod:`segflow.engine.execution.executors`, which lists
them as data: this module imports no executor, so none imports it back in a
circle, and ``ray`` is imported only when asked for.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from segflow.engine.execution.plan import Plan
from segflow.engine.node import RunContext, new_run_id
from segflow.engine.observe.hooks import RunHooks
from segflow.engine.observe.metrics import NodeMetrics, RunReport


@dataclass(frozen=True)
class RunOptions:
    """How to run a plan: plain data, so it travels to remote workers with the plan."""

    base_dir: Path = field(default_factory=Path.cwd)
    max_frames: int | None = None
    debug: bool = False
    address: str | None = None  # ray: the cluster to join (overrides settings.ray.address)
    run_id: str = field(default_factory=new_run_id)  # made once here, so every worker's context shares it
    resume: Mapping[str, int] = field(default_factory=dict)  # source id -> last frame index an earlier run put through

    def context(self, plan: Plan) -> RunContext:
        """The context every node of this run gets, wherever it runs (one ``run_id`` for all)."""
        return RunContext(base_dir=self.base_dir, run_id=self.run_id).for_settings(plan.workflow_name,
                                                                                    plan.settings.models_dir)


class ExecutorUnavailable(Exception):
    """The executor cannot start here (Ray missing, cluster unreachable, resources no node has).

    Raised before any frame is read; the CLI prints it in one line and exits 2.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class Executor(ABC):
    name: str = ""

    @abstractmethod
    def run(self, plan: Plan, options: RunOptions, hooks: RunHooks) -> RunReport:
        """Run the plan to the end of its input (or a stop); nodes are closed before this returns."""

    @abstractmethod
    def stop(self, reason: str) -> None:
        """Stop the sources; what is in flight drains and is processed. Safe from a signal handler."""

    def live_metrics(self) -> list[NodeMetrics]:
        """Per-node metrics so far (a snapshot; exact once ``run`` has returned)."""
        return []
