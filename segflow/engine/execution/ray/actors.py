"""What runs on the Ray workers: shards, model servers, sink servers, and the shard's remote stages.

- A :class:`ShardWorker` owns some sources and runs the plan for them with the
  same :class:`StageRunner` as the local executor; its model and sink stages
  are :class:`RemoteStage` stand-ins that send packets to actors.
- A :class:`ModelServer` serves one model node for several shards: calls from
  every shard land in one queue, and one thread gathers micro-batches from it,
  so batches still form across cameras — across machines.
- A :class:`SinkServer` runs one sink for every shard. It is a sequential actor,
  and Ray runs one caller's calls in the order they were made, so per-source
  order holds at the sink.

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
from segflow.engine.execution.failures import describe_error
from segflow.engine.execution.lifecycle import SetupError, running_nodes, total_frames, undelivered
from segflow.engine.execution.local.executor import StageRunner, StageWorker
from segflow.engine.execution.plan import Plan, PlanNode
from segflow.engine.execution.steps import NodeCrash, Packet, Step
from segflow.engine.frame import PacketInfo
from segflow.engine.node import Node, NodeError, RunContext
from segflow.engine.observe.hooks import RunHooks
from segflow.engine.observe.metrics import NodeMetrics, RunReport, Undelivered

Failure = tuple[str, PacketInfo, str]  # node id, packet, error text


@dataclass
class Reply:
    """What a model or sink server hands back for one call: outputs per packet, failures, a crash."""

    outputs: list[dict[Any, Any]]
    failures: list[Failure] = field(default_factory=list)
    crash: str = ""


def node_id_here() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


def _setup(specs: dict[str, PlanNode], context: RunContext) -> tuple[Any, dict[str, Node], str]:
    """Enter ``running_nodes``; a failure comes back as text (exceptions do not always pickle)."""
    manager = running_nodes(specs, context)
    try:
        return manager, manager.__enter__(), ""
    except SetupError as exc:
        return None, {}, str(exc)


class _Server:
    """A node served to shards: set up once, its failures and crashes reported to the caller."""

    def __init__(self, spec: PlanNode, context: RunContext) -> None:
        self.spec = spec
        self.context = context  # plain data: pickled here with a fresh stop flag
        self._failures: dict[int, str] = {}
        self._manager: Any = None
        self.step: Step | None = None

    def ready(self) -> tuple[str, str]:
        """Set the node up here; (error text or '', the Ray node id)."""
        self._manager, nodes, error = _setup({self.spec.id: self.spec}, self.context)
        if not error:
            self.step = Step(self.spec, nodes[self.spec.id], self._failed)
        return error, node_id_here()

    def _failed(self, step: Step, info: PacketInfo, exc: BaseException) -> None:
        self._failures[id(info)] = describe_error(exc)

    def _process(self, packets: list[Packet]) -> tuple[list[dict[Any, Any]], list[Failure], str]:
        assert self.step is not None
        crash = ""
        try:
            self.step.run(packets)
        except NodeCrash as exc:
            crash = str(exc)
        outputs = [{ref: v for ref, v in p.values.items() if ref[0] == self.spec.id} for p in packets]
        failures = [(self.spec.id, p.info, self._failures.pop(id(p.info))) for p in packets
                    if id(p.info) in self._failures]
        return outputs, failures, crash

    def close(self) -> tuple[NodeMetrics | None, list[Undelivered]]:
        """Close the node (a sink flushes); its metrics, and what it could not write."""
        if self._manager is not None:
            self._manager.__exit__(None, None, None)
            self._manager = None
        if self.step is None:
            return None, []
        return self.step.metrics, undelivered({self.spec.id: self.step.node})


class SinkServer(_Server):
    """One sink for all shards; a sequential actor, so one shard's calls run in the order it made them."""

    def run(self, packets: list[Packet]) -> Reply:
        outputs, failures, crash = self._process(packets)
        return Reply(outputs, failures, crash)


@dataclass
class _Call:
    """One shard's call: its packets may be served over several batches, the reply goes when all are."""

    packets: list[Packet]
    done: threading.Event = field(default_factory=threading.Event)
    reply: Reply = field(default_factory=lambda: Reply([]))
    answered: int = 0


@dataclass
class _Queued:
    packet: Packet
    call: _Call
    position: int
    enqueued: float


class ModelServer(_Server):
    """One model node, fed by many shards at once (a threaded actor); batches form across them."""

    def ready(self) -> tuple[str, str]:
        error, node = super().ready()
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=f"segflow-model-{self.spec.id}", daemon=True)
        if not error:
            self._thread.start()
        return error, node

    def run(self, packets: list[Packet]) -> Reply:
        call = _Call(packets)
        call.reply.outputs = [{} for _ in packets]
        now = perf_counter()
        for position, packet in enumerate(packets):
            self._inbox.put(_Queued(packet, call, position, now))
        call.done.wait()
        return call.reply

    def _serve(self) -> None:
        batcher: MicroBatcher[_Queued] = MicroBatcher(self.spec.batch_size, self.spec.max_wait_s, perf_counter)
        while True:
            batch = batcher.collect(lambda timeout: self._inbox.get(True, timeout))
            if batch.items:
                outputs, failures, crash = self._process([q.packet for q in batch.items])
                for item, out in zip(batch.items, outputs, strict=True):
                    reply = item.call.reply
                    reply.outputs[item.position] = out
                    reply.failures.extend(f for f in failures if f[1] is item.packet.info)
                    reply.crash = reply.crash or crash
                    item.call.answered += 1  # only this thread writes it
                    if item.call.answered == len(item.call.packets):
                        item.call.done.set()
            if batch.ended:
                return

    def close(self) -> tuple[NodeMetrics | None, list[Undelivered]]:
        if self.step is not None:
            self._inbox.put(END)
            self._thread.join(10)
        return super().close()


class RemoteStage:
    """A shard's stand-in for a model or sink stage: sends packets to an actor, in order, pipelined.

    A submitting thread sends calls (at most ``window`` outstanding); a
    completing thread takes the replies in the order of the calls and passes
    the packets on, so order is kept without polling.
    """

    def __init__(self, handle: Any, spec: PlanNode, window: int) -> None:
        self.handle = handle
        self.spec = spec
        self.window = threading.Semaphore(window)

    def loop(self, worker: StageWorker) -> None:
        pending: queue.SimpleQueue[Any] = queue.SimpleQueue()
        completer = threading.Thread(target=self._complete, args=(worker, pending), daemon=True,
                                     name=f"segflow-remote-{self.spec.id}")
        completer.start()
        batcher: MicroBatcher[Packet] = MicroBatcher(self.spec.batch_size, 0.0, perf_counter)
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

        book = worker.runner.book
        while (item := pending.get()) is not END:
            packets, ref = item
            try:
                reply = ray.get(ref) if ref is not None else None
            except Exception as exc:  # the actor (or its machine) is gone
                reply = None
                worker.crash(NodeCrash(self.spec.id, self.spec.type_name, packets[0].info, exc))
            finally:
                self.window.release()
            if reply is not None:
                for packet, out in zip(packets, reply.outputs, strict=True):
                    packet.values.update(out)
                for node_id, info, text in reply.failures:
                    book.failed(node_id, self.spec.type_name, self.spec.on_error, info, NodeError(text))
                if reply.crash and not worker.dead:
                    worker.dead = True
                    book.crashed(self.spec.id, self.spec.type_name, reply.crash)
            for packet in packets:
                worker.forward(packet)


class _DoneHooks(RunHooks):
    """Inside a shard: packets done (with the values the driver's hooks keep), for the driver to collect."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.done: deque[tuple[PacketInfo, dict[Any, Any]]] = deque()

    def on_packet_done(self, *, info: PacketInfo, values: dict[Any, Any], **future_kwargs: Any) -> None:
        self.done.append((info, values if self.keep else {}))


class ShardWorker:
    """Some sources and their per-frame CPU work; models and sinks are reached through actors."""

    def __init__(self, plan: Plan, options: RunOptions, index: int, sources: tuple[str, ...],
                 models: dict[int, Any], sinks: dict[int, Any]) -> None:
        self.plan, self.options, self.index, self.sources = plan, options, index, sources
        self.models, self.sinks = models, sinks
        self.context = options.context(plan)
        self.report = RunReport(plan.workflow)
        self.hooks = _DoneHooks(bool(plan.keep))
        self.runner: StageRunner | None = None
        self._manager: Any = None
        self._nodes: dict[str, Node] = {}

    def ready(self) -> tuple[str, str, int | None]:
        """Set up this shard's sources and CPU nodes: (error text or '', Ray node id, frames it will give)."""
        remote_ids = {self.plan.stages[i].head for i in (*self.models, *self.sinks)}
        local = {nid: spec for nid, spec in self.plan.nodes.items()
                 if nid not in remote_ids and (spec.role != "source" or nid in self.sources)}
        self._manager, self._nodes, error = _setup(local, self.context)
        if error:
            return error, node_id_here(), None
        remote: dict[int, RemoteStage] = {}
        for i, handle in {**self.models, **self.sinks}.items():
            spec = self.plan.nodes[self.plan.stages[i].head]
            remote[i] = RemoteStage(handle, spec, 2 * spec.batch_size if i in self.models else 64)
        self.runner = StageRunner(self.plan, self._nodes, self.context, self.report, self.hooks,
                                  self.options.max_frames, self.options.debug, self.sources, remote)
        return "", node_id_here(), total_frames(self._nodes, self.sources, self.options.max_frames)

    def run(self) -> RunReport:
        assert self.runner is not None
        try:
            self.runner.execute()
        finally:
            if self._manager is not None:
                self._manager.__exit__(None, None, None)
                self._manager = None
        return self.report

    def stop(self, reason: str) -> None:
        if self.runner is not None:
            self.runner.stop(reason)

    def take_done(self) -> tuple[list[tuple[PacketInfo, dict[Any, Any]]], list[NodeMetrics]]:
        """Packets finished since the last call (with kept values when the plan keeps any), and metrics so far."""
        items = []
        while self.hooks.done:
            items.append(self.hooks.done.popleft())
        return items, self.runner.metrics() if self.runner is not None else []
