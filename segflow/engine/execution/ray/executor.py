"""The ``ray`` executor: the same plan on a Ray cluster, sharded by source.

The driver (the ``segflow run`` process) joins the cluster (or starts a
private instance, :mod:`.connect`), checks on paper that every actor fits
(:mod:`.placement`), starts one :class:`SinkServer` per sink on its own
machine (files land where the user ran the command), the model servers
wherever their ``resources`` fit, and the shards spread over the cluster.
While the shards run it collects their news — packets done, failures,
metrics, each source's health — for the hooks, so progress, ``--metrics``
and ``/healthz`` tell the truth; it stops them all on SIGTERM or when one
dies, closes the sinks (they flush) and merges every worker's report.

Promises when a worker dies: the run ends with exit code 1 and the dead shard
(its sources) or model named; the packets it held are lost, never retried,
so nothing is written twice. Every wait before the first frame watches for
a stop, and Ray placing nothing for ``PLACE_STALL_S`` is a one-line error.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, replace
from time import monotonic, perf_counter
from typing import Any

from segflow.engine.execution.executor import Executor, ExecutorUnavailable, RunOptions
from segflow.engine.execution.failures import FailureBook
from segflow.engine.execution.lifecycle import SetupError
from segflow.engine.execution.plan import Plan, PlanNode
from segflow.engine.execution.ray.connect import connected
from segflow.engine.execution.ray.placement import Ask, actor_options, demand, place
from segflow.engine.execution.ray.servers import ModelServer, SinkServer
from segflow.engine.execution.ray.shard import ShardNews, ShardWorker
from segflow.engine.node import NodeError, SourceHealth
from segflow.engine.observe.exit_codes import EXIT_FAILED
from segflow.engine.observe.hooks import RunHooks, start_hooks
from segflow.engine.observe.metrics import NodeMetrics, RunReport, Undelivered

log = logging.getLogger("segflow")
POLL_S = 0.2  # how often the driver collects news and checks for a stop
PLACE_STALL_S = 60.0  # Ray placing none of the actors still waiting for this long: give up
CLOSE_TIMEOUT_S = 120.0
ENV_HINT = "every machine of the cluster needs the same Python environment (segflow, its extras, plugins)"


class RayExecutor(Executor):
    name = "ray"

    def __init__(self) -> None:
        self._run: RayRun | None = None
        self._early_stop: str | None = None

    def run(self, plan: Plan, options: RunOptions, hooks: RunHooks) -> RunReport:
        with connected(options.address or plan.settings.ray.address) as ray:
            run = RayRun(ray, plan, options, hooks)
            self._run = run
            if self._early_stop:
                run.stop(self._early_stop)
            return run.execute()

    def stop(self, reason: str) -> None:
        if self._run is not None:
            self._run.stop(reason)
        else:
            self._early_stop = reason

    def live_metrics(self) -> list[NodeMetrics]:
        return self._run.live_metrics() if self._run is not None else []


class SourceView:
    """A source that runs in a shard, as the driver's hooks see it: its health as last reported."""

    def __init__(self) -> None:
        self.state = SourceHealth()

    def health(self) -> SourceHealth:
        return self.state


@dataclass
class _Shard:
    index: int
    sources: tuple[str, ...]
    handle: Any
    ray_node: str = ""
    ref: Any = None
    report: RunReport | None = None

    @property
    def name(self) -> str:
        return f"shard {self.index} (source {', '.join(repr(s) for s in self.sources)})"


class _Stopped(Exception):
    """A stop came before the first frame: the run ends cleanly with nothing read."""


class RayRun:
    """One run of a plan on a connected Ray: placement, start, watching, closing."""

    def __init__(self, ray: Any, plan: Plan, options: RunOptions, hooks: RunHooks) -> None:
        self.ray, self.plan, self.options, self.hooks = ray, plan, options, hooks
        self.report = RunReport(plan.workflow_name)
        self.book = FailureBook(self.report, self.stop, hooks, options.debug)
        self.servers: list[tuple[PlanNode, Any]] = []
        self.sources = {sid: SourceView() for sid in plan.source_ids}
        self._stop_reason: str | None = None
        self._latest: dict[str, list[NodeMetrics]] = {}  # per actor, its metrics as last reported
        self._asked: dict[Any, tuple[str, Any]] = {}  # outstanding news requests: ref -> (actor key, shard)
        self._frames_done = 0
        self._placed = False  # every actor has been placed: they can be asked to close

    def stop(self, reason: str) -> None:
        self._stop_reason = self._stop_reason or reason

    def live_metrics(self) -> list[NodeMetrics]:
        merged: dict[str, NodeMetrics] = {}
        for found in [m for metrics in list(self._latest.values()) for m in metrics]:
            if found.node_id in merged:
                merged[found.node_id].absorb(found)
            else:
                merged[found.node_id] = copy.deepcopy(found)
        return [merged[n] for n in self.plan.nodes if n in merged]

    # --- starting ------------------------------------------------------------------------------
    def execute(self) -> RunReport:
        counts = self._placement()
        shards: list[_Shard] = []
        start = perf_counter()
        try:
            models, sinks = self._start_servers(counts)
            shards = self._start_shards(models, sinks)
            total = self._set_up(shards)
            start_hooks(self.hooks, workflow_name=self.plan.workflow_name, total_frames=total,
                        node_metrics=self.live_metrics, sources=self.sources)
            start = perf_counter()  # elapsed is streaming time, setup excluded, as in a local run
            for shard in shards:
                shard.ref = shard.handle.run.remote()
            self._watch(shards)
        except _Stopped:
            self.report.stopped_by = self._stop_reason or self.report.stopped_by
        finally:
            self._close(shards)
        self.report.elapsed_s = perf_counter() - start
        return self.report

    def _shard_count(self) -> int:
        return min(self.plan.settings.ray.shards or len(self.plan.source_ids), len(self.plan.source_ids)) or 1

    def _placement(self) -> dict[str, int]:
        """Actors per ask ("" for shards, else the model's id); one line, before any frame, when they cannot fit."""
        shards = self._shard_count()
        asks = [Ask("", "shard worker", demand(self.plan.settings.ray.shard_resources), shards,
                    hint="lower settings.ray.shard_resources, or add a node that has them")]
        for stage in self.plan.stages:
            spec = self.plan.nodes[stage.head]
            if spec.role == "model":
                auto = spec.replicas == "auto"
                asks.append(Ask(spec.id, f"node '{spec.id}' ({spec.type_name})", demand(spec.resources),
                                shards if auto else int(spec.replicas), auto,
                                hint=f"lower nodes.{spec.id}.resources, or add a node that has them"))
        nodes = [dict(n["Resources"]) for n in self.ray.nodes() if n.get("Alive")]
        return place(asks, nodes)

    def _start_servers(self, counts: dict[str, int]) -> tuple[dict[int, list[Any]], dict[int, Any]]:
        ray = self.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        models: dict[int, list[Any]] = {}
        sinks: dict[int, Any] = {}
        for stage in self.plan.stages:
            spec = self.plan.nodes[stage.head]
            if spec.role == "model":
                actor = ray.remote(ModelServer).options(max_concurrency=1024, **actor_options(demand(spec.resources)))
                models[stage.index] = [actor.remote(spec, self.options.context(self.plan))
                                       for _ in range(counts[spec.id])]
                self.servers += [(spec, h) for h in models[stage.index]]
            elif stage.kind == "io" and spec.cls.is_sink:
                actor = ray.remote(SinkServer).options(num_cpus=0, scheduling_strategy=here)
                sinks[stage.index] = actor.remote(spec, self.options.context(self.plan))
                self.servers.append((spec, sinks[stage.index]))
        return models, sinks

    def _start_shards(self, models: dict[int, list[Any]], sinks: dict[int, Any]) -> list[_Shard]:
        count = self._shard_count()
        groups = [tuple(self.plan.source_ids[i::count]) for i in range(count)]
        actor = self.ray.remote(ShardWorker).options(max_concurrency=4, scheduling_strategy="SPREAD",
                                                     **actor_options(demand(self.plan.settings.ray.shard_resources)))
        shards = []
        for i, sources in enumerate(groups):
            mine = {stage: handles[i % len(handles)] for stage, handles in models.items()}
            shards.append(_Shard(i, sources, actor.remote(self.plan, self.options, i, sources, mine, sinks)))
        return shards

    def _set_up(self, shards: list[_Shard]) -> int | None:
        """Wait for Ray to place every actor, then for every node to be set up; the frames the run will give."""
        named = [(f"node '{spec.id}' ({spec.type_name})", h) for spec, h in self.servers]
        named += [(shard.name, shard.handle) for shard in shards]
        where = self._gather([h.where.remote() for _, h in named], [n for n, _ in named], PLACE_STALL_S)
        self._placed = True
        for shard, node in zip(shards, where[len(self.servers):], strict=True):
            shard.ray_node = node
        errors = self._gather([h.ready.remote() for _, h in self.servers], [n for n, _ in named], None)
        for (spec, _), error in zip(self.servers, errors, strict=True):
            if error:
                raise SetupError(spec.id, spec.type_name, NodeError(error.split("setup failed: ", 1)[-1]))
        total: int | None = 0
        for shard, (error, frames) in zip(shards, self._gather([s.handle.ready.remote() for s in shards],
                                                               [s.name for s in shards], None), strict=True):
            if error:
                raise SetupError(shard.sources[0], "shard", NodeError(error.split("setup failed: ", 1)[-1]))
            total = None if frames is None or total is None else total + frames
        return total

    def _gather(self, refs: list[Any], names: list[str], stall_s: float | None) -> list[Any]:
        """``ray.get`` of every ref, watching for a stop; with ``stall_s``, none answering that long is an error."""
        position = {ref: i for i, ref in enumerate(refs)}
        results: dict[int, Any] = {}
        moved = monotonic()
        while position:
            done, _ = self.ray.wait(list(position), num_returns=len(position), timeout=POLL_S)
            for ref in done:
                i = position.pop(ref)
                try:
                    results[i] = self.ray.get(ref)
                except Exception as exc:  # the actor could not start: its class or imports failed there
                    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                    raise ExecutorUnavailable(f"Ray could not start {names[i]}: {text}", hint=ENV_HINT) from exc
                moved = monotonic()
            if self._stop_reason:
                raise _Stopped
            if stall_s is not None and position and monotonic() - moved > stall_s:
                waiting = ", ".join(names[i] for i in sorted(position.values()))
                raise ExecutorUnavailable(
                    f"Ray placed none of {waiting} in {stall_s:g} s: the cluster has room for them, but it is "
                    f"taken (by other jobs?)", hint="wait for the cluster's other work to end, or add nodes")
        return [results[i] for i in range(len(refs))]

    # --- running ---------------------------------------------------------------------------------
    def _watch(self, shards: list[_Shard]) -> None:
        """Until every shard has ended: news to the hooks; on a stop or a failed shard, stop them all."""
        ray = self.ray
        running = {s.ref: s for s in shards}
        stop_sent = False
        while running:
            done, _ = ray.wait(list(running), num_returns=len(running), timeout=POLL_S)
            self._collect(shards)
            for ref in done:
                shard = running.pop(ref)
                try:
                    shard.report = ray.get(ref)
                except Exception as exc:  # the shard's process or machine died
                    self._lost(shard, f"{shard.name} on Ray node {shard.ray_node[:12]} died: {type(exc).__name__}")
                if shard.report is not None and shard.report.exit_code:
                    self.stop(shard.report.stopped_by)
            if self._stop_reason and not stop_sent:
                stop_sent = True
                if self.report.stopped_by == "end of input":
                    self.report.stopped_by = self._stop_reason
                for shard in running.values():
                    shard.handle.stop.remote(self._stop_reason)
        self._collect(shards, last=True)

    def _lost(self, shard: _Shard, reason: str) -> None:
        for sid in shard.sources:
            self.sources[sid].state = replace(self.sources[sid].state, up=False, detail="its shard died")
        self.book.crashed(shard.sources[0], "shard", reason)

    def _collect(self, shards: list[_Shard], last: bool = False) -> None:
        """Take the news that has come (all of it when ``last``), and ask every live actor for more."""
        ray = self.ray
        if self._asked:
            ready, _ = ray.wait(list(self._asked), num_returns=len(self._asked), timeout=30 if last else 0)
            for ref in ready:
                key, shard = self._asked.pop(ref)
                try:
                    answer = ray.get(ref)
                except Exception:  # a dead actor says nothing more; _watch reports it
                    continue
                self._take(key, shard, answer)
        if last:  # what the shards finished after they were last asked
            finals = [(f"shard {s.index}", s, s.handle.news.remote()) for s in shards if s.report is not None]
            for key, shard, ref in finals:
                try:
                    self._take(key, shard, ray.get(ref, timeout=30))
                except Exception:
                    continue
            return
        busy = {key for key, _ in self._asked.values()}
        for shard in shards:
            if shard.report is None and f"shard {shard.index}" not in busy:
                self._asked[shard.handle.news.remote()] = (f"shard {shard.index}", shard)
        for i, (_, handle) in enumerate(self.servers):
            if f"server {i}" not in busy:
                self._asked[handle.metrics.remote()] = (f"server {i}", None)

    def _take(self, key: str, shard: _Shard | None, answer: Any) -> None:
        if not isinstance(answer, ShardNews):  # a server's metrics
            if answer is not None:
                self._latest[key] = [answer]
            return
        self._latest[key] = answer.metrics
        for sid, state in answer.health.items():
            self.sources[sid].state = state
        for node, node_type, info, error in answer.failures:
            self._call("on_failure", node=node, node_type=node_type, info=info, error=error)
        for info, values in answer.done:
            self._frames_done += 1
            self._call("on_packet_done", info=info, values=values, frames_done=self._frames_done)

    def _call(self, method: str, **kwargs: Any) -> None:
        try:
            getattr(self.hooks, method)(**kwargs)
        except Exception:  # a broken hook must not stall the run
            log.exception("a run hook failed in %s", method)

    # --- closing ---------------------------------------------------------------------------------
    def _close(self, shards: list[_Shard]) -> None:
        """Close every server (sinks flush), then merge what every worker reports.

        Actors Ray never placed would answer no call: before placement ended they are only killed.
        """
        ray = self.ray
        closing = [(spec, h.close.remote()) for spec, h in self.servers] if self._placed else []
        metrics: dict[str, NodeMetrics] = {}
        unwritten: list[Undelivered] = []
        for spec, ref in closing:
            try:
                found, lost = ray.get(ref, timeout=CLOSE_TIMEOUT_S)
                unwritten.extend(lost)
            except Exception as exc:
                self.book.crashed(spec.id, spec.type_name, f"node '{spec.id}' ({spec.type_name}) was lost with its "
                                  f"Ray worker: {type(exc).__name__}")
                continue
            if found is not None:
                _absorb(metrics, found)
        for shard in shards:
            self._merge(shard, metrics)
        self.report.nodes = [metrics[n] for n in self.plan.nodes if n in metrics]
        self.report.finish(unwritten)
        self._latest = {"report": list(self.report.nodes)}
        for _, handle in self.servers:
            ray.kill(handle)
        for shard in shards:
            ray.kill(shard.handle)

    def _merge(self, shard: _Shard, metrics: dict[str, NodeMetrics]) -> None:
        part = shard.report
        self.report.placement.append({"shard": shard.index, "sources": list(shard.sources),
                                      "ray_node": shard.ray_node, "finished": part is not None})
        if part is None:
            return
        self.report.frames += part.frames
        self.report.dropped += part.dropped
        self.report.failures += part.failures
        self.report.failure_log.extend(part.failure_log)
        if part.exit_code:
            self.report.exit_code = EXIT_FAILED
            if self.report.stopped_by == "end of input":
                self.report.stopped_by = part.stopped_by
        for found in part.nodes:
            _absorb(metrics, found)


def _absorb(metrics: dict[str, NodeMetrics], found: NodeMetrics) -> None:
    if found.node_id in metrics:
        metrics[found.node_id].absorb(found)
    else:
        metrics[found.node_id] = found
