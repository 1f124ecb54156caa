"""The ``local`` executor: the plan's stages as threads in this process, supervised.

Every node is set up here, the stages run on threads
(:class:`~segflow.engine.execution.stages.StageThreads`, none of them served
elsewhere), and every node is closed on every path out.
"""

from __future__ import annotations

from segflow.engine.execution.executor import Executor, RunOptions
from segflow.engine.execution.lifecycle import running_nodes, total_frames, undelivered
from segflow.engine.execution.plan import Plan
from segflow.engine.execution.stages import StageThreads
from segflow.engine.node import Node
from segflow.engine.observe.hooks import RunHooks, start_hooks
from segflow.engine.observe.metrics import NodeMetrics, RunReport


class LocalExecutor(Executor):
    name = "local"

    def __init__(self) -> None:
        self._threads: StageThreads | None = None
        self._early_stop: str | None = None
        self._nodes: dict[str, Node] = {}

    def run(self, plan: Plan, options: RunOptions, hooks: RunHooks) -> RunReport:
        context = options.context(plan)
        report = RunReport(plan.workflow_name)
        with running_nodes(plan.nodes, context) as nodes:
            self._nodes = nodes
            threads = StageThreads(plan, nodes, context, report, hooks, options.max_frames, options.debug,
                                   resume=options.resume)
            self._threads = threads
            if self._early_stop:
                threads.stop(self._early_stop)
            start_hooks(hooks, workflow_name=plan.workflow_name,
                        total_frames=total_frames(nodes, plan.source_ids, options.max_frames),
                        node_metrics=self.live_metrics, sources={s: nodes[s] for s in plan.source_ids})
            threads.execute()
        self._nodes = {}
        report.finish(undelivered(nodes))  # after close: what the sinks could not write sets the exit code
        return report

    def stop(self, reason: str) -> None:
        if self._threads is not None:
            self._threads.stop(reason)
        else:
            self._early_stop = reason

    @property
    def stopping(self) -> bool:
        return self._early_stop is not None or (self._threads is not None and self._threads.stopping)

    @property
    def live_nodes(self) -> dict[str, Node]:
        """The set-up nodes while the run goes on (a server changes their params in place); empty after."""
        return self._nodes

    def live_metrics(self) -> list[NodeMetrics]:
        return self._threads.metrics() if self._threads is not None else []
