"""The ``ray`` executor: the same plan on a Ray cluster, sharded by source.

The driver (the ``segflow run`` process) checks the cluster, starts one
:class:`SinkServer` per sink on its own machine (files land where the user
ran the command), the model servers wherever their ``resources`` fit, and the
shards spread over the cluster. It then waits for the shards, passes their
progress to the hooks, stops them all on SIGTERM or when one dies, closes the
sinks (they flush) and merges every worker's report into one.

Promises when a worker dies: the run ends with exit code 1 and the dead shard
(its sources) or model named; the packets it held are lost, never retried,
so nothing is written twice.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from segflow.engine.execution.executor import Executor, ExecutorUnavailable, RunOptions
from segflow.engine.execution.failures import FailureBook
from segflow.engine.execution.lifecycle import SetupError
from segflow.engine.execution.plan import Plan, PlanNode
from segflow.engine.execution.ray.actors import ModelServer, ShardWorker, SinkServer
from segflow.engine.node import NodeError
from segflow.engine.observe.hooks import RunHooks
from segflow.engine.observe.metrics import NodeMetrics, RunReport, Undelivered

log = logging.getLogger("segflow")
POLL_S = 0.2  # how often the driver collects progress and checks for a stop
CLOSE_TIMEOUT_S = 120.0


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ExecutorUnavailable("the ray executor needs Ray, which is not installed",
                                  hint="pip install 'segflow[ray]'") from exc
    return ray


def _check_reachable(address: str) -> None:
    """Fail in a second, not after Ray's long connection retries, when nothing listens there."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorUnavailable(f"Ray address '{address}' is not host:port",
                                  hint="e.g. --address 10.0.0.5:6379, ray://10.0.0.5:10001 or auto")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as exc:
        raise ExecutorUnavailable(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}",
                                  hint="start it with `ray start --head`, or check the address and port") from exc


def _handlers() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore(handlers: dict[int, Any]) -> None:
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def _demand(resources: dict[str, float]) -> dict[str, float]:
    """``resources:`` from the YAML in Ray's names (cpu -> CPU, gpu -> GPU; other keys are custom)."""
    names = {"cpu": "CPU", "gpu": "GPU", "memory": "memory"}
    demand = {names.get(k, k): float(v) for k, v in resources.items()}
    demand.setdefault("CPU", 1.0)
    return demand


def _fits(demand: dict[str, float], have: dict[str, float]) -> int:
    """How many copies of ``demand`` fit in ``have``."""
    counts = [int(have.get(k, 0.0) // v) for k, v in demand.items() if v > 0]
    return min(counts) if counts else 1_000_000


def _actor_options(demand: dict[str, float]) -> dict[str, Any]:
    options: dict[str, Any] = {"num_cpus": demand.get("CPU", 0.0), "num_gpus": demand.get("GPU", 0.0)}
    if "memory" in demand:
        options["memory"] = demand["memory"]
    custom = {k: v for k, v in demand.items() if k not in ("CPU", "GPU", "memory")}
    if custom:
        options["resources"] = custom
    return options


@dataclass
class _Shard:
    index: int
    sources: tuple[str, ...]
    handle: Any
    ray_node: str = ""
    ref: Any = None
    report: RunReport | None = None


class RayExecutor(Executor):
    name = "ray"

    def __init__(self) -> None:
        self._stop_reason: str | None = None
        self._stop_sent = False
        self._metrics: list[NodeMetrics] = []

    def stop(self, reason: str) -> None:
        self._stop_reason = self._stop_reason or reason

    def live_metrics(self) -> list[NodeMetrics]:
        return list(self._metrics)

    def run(self, plan: Plan, options: RunOptions, hooks: RunHooks) -> RunReport:
        ray = _import_ray()
        address = options.address or plan.settings.ray.address
        if address:
            _check_reachable(address)
        started_here = not ray.is_initialized()
        if started_here:
            env = {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}
            handlers = _handlers()
            ray.init(address=address, logging_level=logging.WARNING, include_dashboard=False,
                     runtime_env={"env_vars": env} if env else None)
            _restore(handlers)  # ray.init makes SIGTERM exit at once; ours stops the sources and drains
        try:
            return _RayRun(ray, plan, options, hooks, self).execute()
        finally:
            if started_here:
                ray.shutdown()


class _RayRun:
    def __init__(self, ray: Any, plan: Plan, options: RunOptions, hooks: RunHooks, owner: RayExecutor) -> None:
        self.ray, self.plan, self.options, self.hooks, self.owner = ray, plan, options, hooks, owner
        self.report = RunReport(plan.workflow)
        self.book = FailureBook(self.report, owner.stop, hooks, options.debug)
        self.servers: list[tuple[PlanNode, Any]] = []

    # --- placement -------------------------------------------------------------------------
    def _nodes_resources(self) -> list[dict[str, float]]:
        return [dict(n["Resources"]) for n in self.ray.nodes() if n.get("Alive")]

    def _check_resources(self) -> dict[str, int]:
        """Replicas per model node; a node no machine can host is an error before any frame is read."""
        machines = self._nodes_resources()
        shard_demand = self._shard_demand()
        if not any(_fits(shard_demand, m) for m in machines):
            raise ExecutorUnavailable(f"no Ray node has the resources of a shard worker ({shard_demand})",
                                      hint="lower settings.ray.shard_resources, or add a node that has them")
        replicas: dict[str, int] = {}
        for stage in self.plan.stages:
            spec = self.plan.nodes[stage.head]
            if spec.role != "model":
                continue
            demand = _demand(spec.resources)
            room = sum(_fits(demand, m) for m in machines)
            if room == 0:
                total = {k: sum(m.get(k, 0.0) for m in machines) for k in demand}
                raise ExecutorUnavailable(
                    f"node '{spec.id}' ({spec.type_name}) asks for resources {spec.resources or demand} per "
                    f"replica, which no Ray node has (the cluster has {total})",
                    hint=f"lower nodes.{spec.id}.resources, or add a node that has them")
            shards = self._shard_count()
            replicas[spec.id] = min(room, shards) if spec.replicas == "auto" else spec.replicas
        return replicas

    def _shard_demand(self) -> dict[str, float]:
        return _demand(self.plan.settings.ray.shard_resources)

    def _shard_count(self) -> int:
        return min(self.plan.settings.ray.shards or len(self.plan.source_ids), len(self.plan.source_ids)) or 1

    def _start_servers(self, replicas: dict[str, int]) -> tuple[dict[int, list[Any]], dict[int, Any]]:
        ray = self.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        models: dict[int, list[Any]] = {}
        sinks: dict[int, Any] = {}
        for stage in self.plan.stages:
            spec = self.plan.nodes[stage.head]
            if spec.role == "model":
                actor = ray.remote(ModelServer).options(max_concurrency=1024, **_actor_options(_demand(spec.resources)))
                models[stage.index] = [actor.remote(spec, self.options.context(self.plan))
                                       for _ in range(replicas[spec.id])]
                self.servers += [(spec, h) for h in models[stage.index]]
            elif stage.kind == "io" and spec.cls.is_sink:
                actor = ray.remote(SinkServer).options(num_cpus=0, scheduling_strategy=here)
                sinks[stage.index] = actor.remote(spec, self.options.context(self.plan))
                self.servers.append((spec, sinks[stage.index]))
        for (spec, _), (error, _node) in zip(self.servers, ray.get([h.ready.remote() for _, h in self.servers]),
                                             strict=True):
            if error:
                raise SetupError(spec.id, spec.type_name, NodeError(error.split("setup failed: ", 1)[-1]))
        return models, sinks

    def _start_shards(self, models: dict[int, list[Any]], sinks: dict[int, Any]) -> list[_Shard]:
        ray = self.ray
        count = self._shard_count()
        groups = [tuple(self.plan.source_ids[i::count]) for i in range(count)]
        actor = ray.remote(ShardWorker).options(max_concurrency=4, scheduling_strategy="SPREAD",
                                                **_actor_options(self._shard_demand()))
        shards = []
        for i, sources in enumerate(groups):
            mine = {stage: handles[i % len(handles)] for stage, handles in models.items()}
            shards.append(_Shard(i, sources, actor.remote(self.plan, self.options, i, sources, mine, sinks)))
        self.total: int | None = 0
        for shard, (error, node, frames) in zip(shards, ray.get([s.handle.ready.remote() for s in shards]),
                                                strict=True):
            if error:
                raise SetupError(shard.sources[0], "shard", NodeError(error.split("setup failed: ", 1)[-1]))
            shard.ray_node = node
            self.total = None if frames is None or self.total is None else self.total + frames
        return shards

    # --- running -----------------------------------------------------------------------------
    def execute(self) -> RunReport:
        replicas = self._check_resources()
        models, sinks = self._start_servers(replicas)
        shards: list[_Shard] = []
        try:
            shards = self._start_shards(models, sinks)
            self.hooks.on_start(workflow=self.plan.workflow, total_frames=self.total,
                                node_metrics=self.owner.live_metrics)
            start = perf_counter()  # elapsed is streaming time, setup excluded, as in a local run
            for shard in shards:
                shard.ref = shard.handle.run.remote()
            self._wait(shards)
        finally:
            self._close(shards)
        self.report.elapsed_s = perf_counter() - start
        return self.report

    def _wait(self, shards: list[_Shard]) -> None:
        ray = self.ray
        running = {s.ref: s for s in shards}
        frames_done = 0
        while running:
            done, _ = ray.wait(list(running), num_returns=len(running), timeout=POLL_S)
            frames_done = self._progress(shards, frames_done)
            for ref in done:
                shard = running.pop(ref)
                try:
                    shard.report = ray.get(ref)
                except Exception as exc:  # the shard's process or machine died
                    what = f"shard {shard.index} (source {', '.join(repr(s) for s in shard.sources)})"
                    self.book.crashed(shard.sources[0], "shard", f"{what} on Ray node {shard.ray_node[:12]} died: "
                                      f"{type(exc).__name__}")
                if shard.report is not None and shard.report.exit_code and not self.owner._stop_reason:
                    self.owner.stop(shard.report.stopped_by)
            if self.owner._stop_reason and not self.owner._stop_sent:
                self.owner._stop_sent = True
                if self.report.stopped_by == "end of input":
                    self.report.stopped_by = self.owner._stop_reason
                for shard in running.values():
                    shard.handle.stop.remote(self.owner._stop_reason)
        self._progress(shards, frames_done)

    def _progress(self, shards: list[_Shard], frames_done: int) -> int:
        """Hand the packets shards finished to the driver's hooks (with their kept values); refresh metrics."""
        live: dict[str, NodeMetrics] = {}
        for shard in [s for s in shards if s.report is None]:
            try:
                items, metrics = self.ray.get(shard.handle.take_done.remote(), timeout=30)
            except Exception:  # a dead shard says nothing more; _wait reports it
                continue
            for found in metrics:
                self._absorb(live, found)
            for info, values in items:
                frames_done += 1
                self._hook(info, values, frames_done)
        if live:
            self.owner._metrics = [live[n] for n in self.plan.nodes if n in live]
        return frames_done

    def _hook(self, info: Any, values: dict[Any, Any], frames_done: int) -> None:
        try:
            self.hooks.on_packet_done(info=info, values=values, frames_done=frames_done)
        except Exception:
            log.exception("a run hook failed in on_packet_done")

    def _close(self, shards: list[_Shard]) -> None:
        """Close every server (sinks flush), then merge what every worker reports."""
        ray = self.ray
        closing = [(spec, h.close.remote()) for spec, h in self.servers]
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
                self._absorb(metrics, found)
        for shard in shards:
            self._merge(shard, metrics)
        self.report.nodes = [metrics[n] for n in self.plan.nodes if n in metrics]
        self.report.finish(unwritten)
        self.owner._metrics = list(self.report.nodes)
        for _, handle in self.servers:
            ray.kill(handle)
        for shard in shards:
            ray.kill(shard.handle)

    @staticmethod
    def _absorb(metrics: dict[str, NodeMetrics], found: NodeMetrics) -> None:
        if found.node_id in metrics:
            metrics[found.node_id].absorb(found)
        else:
            metrics[found.node_id] = found

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
            self.report.exit_code = 1
            if self.report.stopped_by == "end of input":
                self.report.stopped_by = part.stopped_by
        for found in part.nodes:
            self._absorb(metrics, found)

