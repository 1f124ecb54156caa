"""A Ray shard: some sources and their per-frame CPU work, run as threads in one actor.

A :class:`ShardWorker` sets up its sources and CPU nodes and runs them with
:class:`~segflow.engine.execution.stages.StageThreads`; its model and sink
stages are served by actors (:class:`RemoteStage`). What the driver needs
to watch the run — packets done, failures, metrics, each source's health —
piles up here as :class:`ShardNews` until the driver collects it.

Ray itself is imported only inside functions: this module is importable (and
its classes picklable) without it.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from segflow.engine.execution.batching import END, MicroBatcher
from segflow.engine.execution.executor import RunOptions
from segflow.engine.execution.lifecycle import total_frames
from segflow.engine.execution.plan import Plan, PlanNode
from segflow.engine.execution.ray.servers import node_id_here, set_up
from segflow.engine.execution.stages import StageThreads, StageWorker
from segflow.engine.execution.steps import NodeCrash, Packet, weigher
from segflow.engine.frame import PacketInfo
from segflow.engine.node import Node, NodeError, SourceHealth, SourceNode
from segflow.engine.observe.hooks import RunHooks
from segflow.engine.observe.metrics import NodeMetrics, RunReport

Failed = tuple[str, str, PacketInfo | None, str]  # node id, node type, packet (None: a source), error text


class NoReply(Exception):
    """A model or sink actor did not answer within ``settings.ray.reply_timeout_s``."""


class RemoteStage:
    """A shard's model or sink stage, served by an actor: packets go out in order, pipelined.

    A submitting thread sends calls (at most ``window`` outstanding); a
    completing thread takes the replies in the order of the calls and passes
    the packets on, so order is kept without polling.

    Ray does not lose a reply silently: a dead actor or a lost object makes
    ``ray.get`` raise. What can stall is an actor that is alive but slow (a
    starved CPU: a run under heavy load once waited ~6 minutes, then went on)
    or hung. So the wait is bounded by ``reply_timeout_s`` (settings.ray),
    far above a slow reply: past it the run fails naming the node and frame.
    """

    def __init__(self, handle: Any, spec: PlanNode, window: int, reply_timeout_s: float) -> None:
        self.handle = handle
        self.spec = spec
        self.window = threading.Semaphore(window)
        self.reply_timeout_s = reply_timeout_s

    def serve(self, worker: StageWorker) -> None:
        pending: queue.SimpleQueue[Any] = queue.SimpleQueue()
        completer = threading.Thread(target=self._complete, args=(worker, pending), daemon=True,
                                     name=f"segflow-remote-{self.spec.id}")
        completer.start()
        batcher: MicroBatcher[Packet] = MicroBatcher(self.spec.batch_size, 0.0, perf_counter, weigher(self.spec))
        try:
            while True:
                batch = batcher.collect(worker.get)
                if batch.items:
                    self.window.acquire()
                    ref = None if worker.dead else self.handle.run.remote(batch.items)
                    pending.put((batch.items, ref))
                if batch.ended:
                    return
        finally:
            pending.put(END)
            completer.join()

    def _complete(self, worker: StageWorker, pending: queue.SimpleQueue[Any]) -> None:
        import ray

        while (item := pending.get()) is not END:
            packets, ref = item
            try:
                reply = ray.get(ref, timeout=self.reply_timeout_s) if ref is not None else None
            except ray.exceptions.GetTimeoutError:
                reply = None
                late = NoReply(f"no reply from its Ray actor in {self.reply_timeout_s:g} s (settings.ray."
                               "reply_timeout_s): the actor is hung or its machine is starved")
                worker.crash(NodeCrash(self.spec.id, self.spec.type_name, packets[0].info, late))
            except Exception as exc:  # the actor (or its machine) is gone
                reply = None
                worker.crash(NodeCrash(self.spec.id, self.spec.type_name, packets[0].info, exc))
            finally:
                self.window.release()
            if reply is not None:
                for packet, out in zip(packets, reply.outputs, strict=True):
                    packet.values.update(out)
                for node_id, info, text in reply.failures:
                    worker.failed(node_id, info, NodeError(text))
                if reply.crash:
                    worker.crashed(self.spec.id, reply.crash)
            for packet in packets:
                worker.forward(packet)


@dataclass
class ShardNews:
    """What a shard tells the driver since it last asked: plain data, it travels back."""

    done: list[tuple[PacketInfo, dict[Any, Any]]] = field(default_factory=list)
    failures: list[Failed] = field(default_factory=list)
    metrics: list[NodeMetrics] = field(default_factory=list)
    health: dict[str, SourceHealth] = field(default_factory=dict)


class _Collecting(RunHooks):
    """Inside a shard: packets done (with the values the driver's hooks keep) and failures, until collected."""

    def __init__(self, with_values: bool) -> None:
        self.with_values = with_values  # the driver's hooks keep some values (the plan's ``keep`` refs)
        self.done: deque[tuple[PacketInfo, dict[Any, Any]]] = deque()
        self.failures: deque[Failed] = deque()

    def on_packet_done(self, *, info: PacketInfo, values: dict[Any, Any], **future_kwargs: Any) -> None:
        self.done.append((info, values if self.with_values else {}))

    def on_failure(self, *, node: str, node_type: str, info: PacketInfo | None, error: str,
                   **future_kwargs: Any) -> None:
        self.failures.append((node, node_type, info, error))


def _drain(items: deque[Any]) -> list[Any]:
    out = []
    while items:
        out.append(items.popleft())
    return out


class ShardWorker:
    """Some sources and their per-frame CPU work; models and sinks are reached through actors."""

    def __init__(self, plan: Plan, options: RunOptions, index: int, sources: tuple[str, ...],
                 models: dict[int, Any], sinks: dict[int, Any]) -> None:
        self.plan, self.options, self.index, self.sources = plan, options, index, sources
        self.models, self.sinks = models, sinks
        self.context = options.context(plan)
        self.report = RunReport(plan.workflow_name)
        self.hooks = _Collecting(with_values=bool(plan.keep))
        self.threads: StageThreads | None = None
        self._manager: Any = None
        self._nodes: dict[str, Node] = {}

    def where(self) -> str:
        """The Ray node this shard runs on; answers as soon as Ray has placed it (before any setup)."""
        return node_id_here()

    def ready(self) -> tuple[str, int | None]:
        """Set up this shard's sources and CPU nodes: (error text or '', frames it will give)."""
        served = {self.plan.stages[i].head for i in (*self.models, *self.sinks)}
        here = {nid: spec for nid, spec in self.plan.nodes.items()
                if nid not in served and (spec.role != "source" or nid in self.sources)}
        self._manager, self._nodes, error = set_up(here, self.context)
        if error:
            return error, None
        services: dict[int, Any] = {}
        for i, handle in {**self.models, **self.sinks}.items():
            spec = self.plan.nodes[self.plan.stages[i].head]
            services[i] = RemoteStage(handle, spec, 2 * spec.batch_size if i in self.models else 64,
                                      self.plan.settings.ray.reply_timeout_s)
        self.threads = StageThreads(self.plan, self._nodes, self.context, self.report, self.hooks,
                                    self.options.max_frames, self.options.debug, self.sources, services,
                                    self.options.resume)
        return "", total_frames(self._nodes, self.sources, self.options.max_frames)

    def run(self) -> RunReport:
        assert self.threads is not None
        try:
            self.threads.execute()
        finally:
            if self._manager is not None:
                self._manager.__exit__(None, None, None)
                self._manager = None
        return self.report

    def stop(self, reason: str) -> None:
        if self.threads is not None:
            self.threads.stop(reason)

    def news(self) -> ShardNews:
        """Packets finished and failures since the last call, metrics so far, and each source's health now."""
        health = {}
        for sid in self.sources:
            node = self._nodes.get(sid)
            if isinstance(node, SourceNode):
                health[sid] = node.health()
        return ShardNews(_drain(self.hooks.done), _drain(self.hooks.failures),
                         self.threads.metrics() if self.threads is not None else [], health)
