"""The nodes a Ray run serves to its shards from actors: models and sinks.

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
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from segflow.engine.execution.batching import END, MicroBatcher
from segflow.engine.execution.failures import describe_error
from segflow.engine.execution.lifecycle import SetupError, running_nodes, undelivered
from segflow.engine.execution.plan import PlanNode
from segflow.engine.execution.steps import NodeCrash, Packet, Step, weigher
from segflow.engine.frame import PacketInfo
from segflow.engine.node import Node, RunContext
from segflow.engine.observe.metrics import NodeMetrics, Undelivered

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


def set_up(specs: dict[str, PlanNode], context: RunContext) -> tuple[Any, dict[str, Node], str]:
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

    def where(self) -> str:
        """The Ray node this actor runs on; answers as soon as Ray has placed it (before any setup)."""
        return node_id_here()

    def ready(self) -> str:
        """Set the node up here; the error text, or '' when it is ready."""
        self._manager, nodes, error = set_up({self.spec.id: self.spec}, self.context)
        if not error:
            self.step = Step(self.spec, nodes[self.spec.id], self._failed)
        return error

    def metrics(self) -> NodeMetrics | None:
        """The node's metrics so far, for the driver's live view."""
        return self.step.metrics if self.step is not None else None

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

    def ready(self) -> str:
        error = super().ready()
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=f"segflow-model-{self.spec.id}", daemon=True)
        if not error:
            self._thread.start()
        return error

    def run(self, packets: list[Packet]) -> Reply:
        call = _Call(packets)
        call.reply.outputs = [{} for _ in packets]
        now = perf_counter()
        for position, packet in enumerate(packets):
            self._inbox.put(_Queued(packet, call, position, now))
        call.done.wait()
        return call.reply

    def _serve(self) -> None:
        weigh = weigher(self.spec)  # crops from every shard fill one batch by crop count
        batcher: MicroBatcher[_Queued] = MicroBatcher(
            self.spec.batch_size, self.spec.max_wait_s, perf_counter,
            None if weigh is None else (lambda queued: weigh(queued.packet)))
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
