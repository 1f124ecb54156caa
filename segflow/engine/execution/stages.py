"""A plan's stages as threads in one process, supervised: what ``local`` runs, and each Ray shard.

Each stage is one worker thread. A model stage gathers micro-batches (across
frames and sources) and does nothing but the model; a CPU stage runs its cheap
nodes inline, packet by packet; an I/O stage runs one sink. Sources are read
in threads of their own, and a semaphore bounds the packets in flight.

Every stage sees every packet, in admission order, so a stage fed by several
branches joins them by taking one packet from each. Whatever a stage raises,
``BaseException`` included, ends the run with the node named: the stage keeps
passing packets on (doing nothing with them), so the run drains, sinks flush
and ``run`` returns — never a hang.

A stage may be *served elsewhere* (a :class:`StageService`): its worker thread
then hands packets to the service and passes on what comes back, in order.
The ``ray`` executor serves its model and sink stages from actors that way;
the ``local`` executor serves none. This module belongs to neither executor.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Mapping
from time import perf_counter
from typing import Any, Protocol

from segflow.engine.execution.batching import END, MicroBatcher
from segflow.engine.execution.failures import FailureBook, describe_error
from segflow.engine.execution.plan import Plan, PlanStage
from segflow.engine.execution.steps import NodeCrash, Packet, Step, run_packet, weigher
from segflow.engine.frame import PacketInfo
from segflow.engine.node import Node, RunContext, SourceNode
from segflow.engine.observe.hooks import RunHooks
from segflow.engine.observe.metrics import NodeMetrics, RunReport

log = logging.getLogger("segflow")


Hop = tuple["StageWorker", int, frozenset[Any]]  # target stage, its inbox slot, the values carried


class StageService(Protocol):
    """A stage whose node runs elsewhere; its worker thread calls :meth:`serve` instead of running nodes."""

    def serve(self, worker: StageWorker) -> None:
        """Take packets with ``worker.get`` until ``END``; pass each on, in order, with ``worker.forward``."""


class StageThreads:
    """One run of a plan on threads: the sources' readers and one worker per stage.

    ``sources`` narrows the sources read here (a Ray shard reads some);
    ``services`` names the stages served elsewhere, by stage index.
    """

    def __init__(self, plan: Plan, nodes: dict[str, Node], context: RunContext, report: RunReport,
                 hooks: RunHooks, max_frames: int | None = None, debug: bool = False,
                 sources: tuple[str, ...] | None = None, services: dict[int, StageService] | None = None,
                 resume: Mapping[str, int] | None = None) -> None:
        self.plan = plan
        self.context = context
        self.report = report
        self.hooks = hooks
        self.max_frames = max_frames
        self.resume = resume or {}
        self.book = FailureBook(report, self.stop, hooks, debug)
        self._lock = threading.Lock()
        self._inflight = threading.Semaphore(plan.settings.max_inflight)
        self._next_seq = 0
        self._pending: dict[int, tuple[int, dict[Any, Any]]] = {}
        self.steps = {nid: Step(spec, nodes[nid], self._on_failure) for nid, spec in plan.nodes.items()
                      if nid in nodes}
        self.source_ids = sources if sources is not None else plan.source_ids
        services = services or {}
        self.workers = [StageWorker(self, stage, services.get(stage.index)) for stage in plan.stages]
        for worker in self.workers:
            worker.wire()
        self.entries: list[Hop] = [(self.workers[i], 0, plan.carried(None, i)) for i in plan.entry_stages]
        self.terminals = len(plan.terminal_stages)
        self.exit_carry = plan.keep
        self._sources_left = 0

    # --- control -----------------------------------------------------------------
    def stop(self, reason: str) -> None:
        with self._lock:
            if not self.context.stop_event.is_set():
                if self.report.stopped_by == "end of input":
                    self.report.stopped_by = reason
                self.context.stop_event.set()

    @property
    def stopping(self) -> bool:
        return self.context.stop_event.is_set()

    def metrics(self) -> list[NodeMetrics]:
        return [step.metrics for step in self.steps.values()]

    def _on_failure(self, step: Step, info: PacketInfo | None, exc: BaseException) -> None:
        self.book.failed(step.id, step.type, step.spec.on_error, info, exc)

    # --- running -------------------------------------------------------------------
    def execute(self) -> None:
        start = perf_counter()
        sources = [self.steps[s] for s in self.source_ids]
        self._sources_left = len(sources)
        threads = [threading.Thread(target=w.loop, name=f"segflow-stage-{w.stage.index}", daemon=True)
                   for w in self.workers]
        threads += [threading.Thread(target=self._read_source, args=(s,), name=f"segflow-source-{s.id}",
                                     daemon=True) for s in sources]
        for thread in threads:
            thread.start()
        if not sources:
            self._end_of_input()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.1)
        self.report.elapsed_s = perf_counter() - start
        self.report.nodes = self.metrics()

    def _read_source(self, step: Step) -> None:
        node = step.node
        assert isinstance(node, SourceNode)
        live, policy = node.is_live(), node.drop_policy()
        pending: deque[Packet] = deque(maxlen=1)
        produced = 0
        try:
            after = self.resume.get(step.id)
            frames = iter(node.frames() if after is None else node.frames_after(after))
            while not self.stopping and (self.max_frames is None or produced < self.max_frames):
                started = perf_counter()
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                step.metrics.record(1, perf_counter() - started)
                produced += 1
                info = PacketInfo.of(step.id, frame, self.plan.workflow_name)
                self._admit(step, Packet(info, {(step.id, "image"): frame}), pending, live, policy)
            while pending and not self.stopping:  # end of input: what waits still gets processed
                self._admit(step, pending.popleft(), pending, False, "none")
        except Exception as exc:
            step.metrics.errors += 1
            self.book.source_died(step.id, step.type, step.spec.on_error, exc)
        except BaseException as exc:
            step.metrics.errors += 1
            self.book.crashed(step.id, step.type, f"source '{step.id}' ({step.type}) raised "
                              f"{describe_error(exc)}")
        finally:
            with self._lock:
                self._sources_left -= 1
                last = self._sources_left == 0
            if last:
                self._end_of_input()

    def _admit(self, source: Step, packet: Packet, pending: deque[Packet], live: bool, policy: str) -> None:
        if not live or policy == "none":
            while not self._inflight.acquire(timeout=0.1):
                if self.stopping:
                    return
            if self.stopping:  # a stop came while we waited: this frame was never started
                self._inflight.release()
                return
            self._enqueue(packet)
            return
        if policy == "newest":
            if self._inflight.acquire(blocking=False):
                self._enqueue(packet)
            else:
                self._dropped(source)
            return
        if len(pending) == pending.maxlen:  # policy "oldest": the waiting frame gives way
            pending.popleft()
            self._dropped(source)
        pending.append(packet)
        while pending and self._inflight.acquire(blocking=False):
            self._enqueue(pending.popleft())

    def _dropped(self, source: Step) -> None:
        source.metrics.dropped += 1  # only this source's reader thread writes it
        with self._lock:
            self.report.dropped += 1

    def _enqueue(self, packet: Packet) -> None:
        with self._lock:  # one order for every entry stage: joins rely on it
            packet.seq = self._next_seq
            self._next_seq += 1
            packet.enqueued = perf_counter()
            for worker, slot, carry in self.entries:
                worker.inboxes[slot].put(packet.pruned(carry))
        if not self.entries:  # a graph of sources only
            self.finish(packet)

    def _end_of_input(self) -> None:
        for worker, slot, _ in self.entries:
            worker.inboxes[slot].put(END)

    def finish(self, packet: Packet) -> None:
        """A terminal stage is done with the packet; the last of them releases it."""
        if self.terminals > 1:
            with self._lock:
                seen, values = self._pending.pop(packet.seq, (0, {}))
                values.update(packet.values)
                if seen + 1 < self.terminals:
                    self._pending[packet.seq] = (seen + 1, values)
                    return
            packet = Packet(packet.info, values, packet.enqueued, packet.seq)
        self._inflight.release()
        with self._lock:
            self.report.frames += 1
            done = self.report.frames
        try:
            self.hooks.on_packet_done(info=packet.info, values=packet.values, frames_done=done)
        except Exception:  # a broken hook must not stall the pipeline
            log.exception("a run hook failed in on_packet_done")


class StageWorker:
    """One stage's thread: take (and join) packets, run the stage's nodes (or its service), pass packets on."""

    def __init__(self, threads: StageThreads, stage: PlanStage, service: StageService | None = None) -> None:
        self._threads = threads
        self.stage = stage
        self.steps = [threads.steps[n] for n in stage.nodes if n in threads.steps]
        self._service = service
        self.inboxes: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in stage.upstream or (None,)]
        self.downstream: list[Hop] = []
        self.terminal = False
        self._dead = False

    @property
    def dead(self) -> bool:
        """The stage crashed: it passes packets on without running its nodes, so the run drains."""
        return self._dead

    def wire(self) -> None:
        plan = self._threads.plan
        for target in plan.downstream_of(self.stage.index):
            worker = self._threads.workers[target]
            slot = worker.stage.upstream.index(self.stage.index)
            self.downstream.append((worker, slot, plan.carried(self.stage.index, target)))
        self.terminal = not self.downstream

    def get(self, timeout: float | None = None) -> Any:
        first = self.inboxes[0].get(True, timeout)
        if len(self.inboxes) == 1:
            return first
        rest = [inbox.get() for inbox in self.inboxes[1:]]
        if first is END or any(item is END for item in rest):
            if not (first is END and all(item is END for item in rest)):
                raise RuntimeError(f"stage {self.stage.index}: its branches ended out of step")
            return END
        for other in rest:
            if other.seq != first.seq:
                raise RuntimeError(f"stage {self.stage.index}: packets {first.seq} and {other.seq} met in a join")
            first.values.update(other.values)
        return first

    def loop(self) -> None:
        try:
            if self._service is not None:
                self._service.serve(self)
            else:
                self._loop()
        except BaseException as exc:  # the machinery itself failed: still never a hang
            self.crash(exc)
        finally:
            self._forward_end()

    def _loop(self) -> None:
        batcher: MicroBatcher[Packet] | None = None
        if self.stage.kind == "model":
            head = self._threads.plan.nodes[self.stage.head]
            batcher = MicroBatcher(head.batch_size, head.max_wait_s, perf_counter, weigher(head))
        while True:
            if batcher is not None:
                batch = batcher.collect(self.get)
                packets, ended = batch.items, batch.ended
            else:
                item = self.get()
                ended = item is END
                packets = [] if ended else [item]
            if packets:
                self._process(packets)
                for packet in packets:
                    self.forward(packet)
            if ended:
                return

    def _process(self, packets: list[Packet]) -> None:
        if self._dead:
            return
        try:
            if self.stage.kind == "model":
                self.steps[0].run(packets)
            else:
                for packet in packets:
                    run_packet(self.steps, packet)
        except BaseException as exc:
            self.crash(exc)

    def failed(self, node_id: str, info: PacketInfo | None, exc: BaseException) -> None:
        """A node of this stage failed on one packet (reported by its service): the error policy applies."""
        node = self._threads.plan.nodes[node_id]
        self._threads.book.failed(node_id, node.type_name, node.on_error, info, exc)

    def crash(self, exc: BaseException) -> None:
        """The stage can no longer run its nodes: the run ends with them named, and this stage drains."""
        if isinstance(exc, NodeCrash):
            self.crashed(exc.node_id, str(exc), exc.info)
            return
        names = ", ".join(f"'{n}'" for n in self.stage.nodes)
        log.debug("stage %d crashed", self.stage.index, exc_info=exc)
        self.crashed(self.stage.head, f"stage {self.stage.index} (node {names}) failed: {describe_error(exc)}")

    def crashed(self, node_id: str, reason: str, info: PacketInfo | None = None) -> None:
        """Node ``node_id`` of this stage crashed (here, or where its service runs it)."""
        if self._dead:
            return
        self._dead = True
        self._threads.book.crashed(node_id, self._threads.plan.nodes[node_id].type_name, reason, info)

    def forward(self, packet: Packet) -> None:
        now = perf_counter()
        for worker, slot, carry in self.downstream:
            out = packet.pruned(carry)
            out.enqueued = now
            worker.inboxes[slot].put(out)
        if self.terminal:
            self._threads.finish(packet.pruned(self._threads.exit_carry))

    def _forward_end(self) -> None:
        for worker, slot, _ in self.downstream:
            worker.inboxes[slot].put(END)
