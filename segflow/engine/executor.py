"""The streaming executor: packets flow through stages with no layer barriers.

Topological order is cut into *stages* at every batchable (model) or
threaded (slow I/O) node. Each stage is one worker thread: it gathers a
micro-batch for its head node, then runs the cheap nodes after it inline, in
packet order, and hands the packets to the next stage. So the detector works
on frame k+1 while measurement and sinks work on frame k, cheap nodes pay no
thread hop, and every stage sees packets in the order the previous stage
emitted them: per-source order holds at every sink. Sources are read in
threads of their own; a semaphore bounds the packets in flight.
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from collections import deque
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from segflow.engine.batching import END, MicroBatcher
from segflow.engine.frame import PacketInfo
from segflow.engine.graph import CompiledGraph
from segflow.engine.hooks import RunHooks
from segflow.engine.metrics import RunReport
from segflow.engine.node import Node, NodeError, RunContext, SourceNode
from segflow.engine.steps import Packet, Step

log = logging.getLogger("segflow")


@dataclass
class Stage:
    head: Step | None
    inline: list[Step] = field(default_factory=list)
    inbox: queue.SimpleQueue[Any] = field(default_factory=queue.SimpleQueue)


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, NodeError):
        return str(exc) + (f" (hint: {exc.hint})" if exc.hint else "")
    return f"{type(exc).__name__}: {exc}"


class StreamingExecutor:
    def __init__(self, graph: CompiledGraph, nodes: dict[str, Node], context: RunContext,
                 hooks: RunHooks | None = None, max_frames: int | None = None, debug: bool = False) -> None:
        self.graph = graph
        self.context = context
        self.hooks = hooks or RunHooks()
        self.max_frames = max_frames
        self.debug = debug
        self.report = RunReport(graph.name)
        self._lock = threading.Lock()
        self._inflight = threading.Semaphore(graph.settings.max_inflight)
        self._sources_left = 0
        self.steps = {nid: Step(graph.nodes[nid], nodes[nid], self._failed, graph.nodes) for nid in graph.order}
        self.stages = self._cut_stages()

    def _cut_stages(self) -> list[Stage]:
        stages = [Stage(None)]
        for node_id in self.graph.order:
            step = self.steps[node_id]
            if step.node.is_source:
                continue
            if step.node.batchable or step.node.threaded:
                stages.append(Stage(step))
            else:
                stages[-1].inline.append(step)
        return stages

    # --- control -----------------------------------------------------------------
    def stop(self, reason: str) -> None:
        """Stop the sources; what is in flight drains and is processed."""
        with self._lock:
            if not self.context.stop_event.is_set():
                self.report.stopped_by = reason
                self.context.stop_event.set()

    @property
    def stopping(self) -> bool:
        return self.context.stop_event.is_set()

    def _failed(self, step: Step, info: PacketInfo | None, exc: BaseException) -> None:
        text = describe_error(exc)
        where = f" on source '{info.source_id}' frame {info.frame_index}" if info else ""
        policy = step.resolved.on_error or self.graph.settings.on_error
        with self._lock:
            self.report.failures += 1
            if len(self.report.failure_log) < 10_000:
                self.report.failure_log.append({
                    "node": step.id, "type": step.resolved.cls.type_name, "source": info.source_id if info else None,
                    "frame": info.frame_index if info else None, "error": text,
                })
        log.error("node '%s' (%s) failed%s: %s", step.id, step.resolved.cls.type_name, where, text)
        if self.debug and not isinstance(exc, NodeError):
            log.error("".join(traceback.format_exception(exc)))
        try:
            self.hooks.on_failure(node=step.id, node_type=step.resolved.cls.type_name, info=info, error=text)
        except Exception:
            log.exception("a run hook failed in on_failure")
        if policy == "stop":
            with self._lock:
                self.report.exit_code = 1
            self.stop(f"error in node '{step.id}'")

    # --- running -------------------------------------------------------------------
    def run(self) -> RunReport:
        start = perf_counter()
        sources = [self.steps[s] for s in self.graph.source_ids]
        self._sources_left = len(sources)
        workers = [threading.Thread(target=self._stage_loop, args=(i,), name=f"segflow-stage-{i}", daemon=True)
                   for i in range(len(self.stages))]
        readers = [threading.Thread(target=self._read_source, args=(s,), name=f"segflow-source-{s.id}",
                                    daemon=True) for s in sources]
        for thread in workers + readers:
            thread.start()
        for thread in readers + workers:
            while thread.is_alive():
                thread.join(0.1)
        self.report.elapsed_s = perf_counter() - start
        self.report.nodes = [step.metrics for step in self.steps.values()]
        return self.report

    def _admit(self, packet: Packet, pending: deque[Packet], live: bool, policy: str) -> None:
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
                self._dropped()
            return
        if len(pending) == pending.maxlen:  # policy "oldest": the waiting frame gives way
            pending.popleft()
            self._dropped()
        pending.append(packet)
        while pending and self._inflight.acquire(blocking=False):
            self._enqueue(pending.popleft())

    def _dropped(self) -> None:
        with self._lock:
            self.report.dropped += 1

    def _enqueue(self, packet: Packet) -> None:
        packet.enqueued = perf_counter()
        self.stages[0].inbox.put(packet)

    def _read_source(self, step: Step) -> None:
        node = step.node
        assert isinstance(node, SourceNode)
        live, policy = node.is_live(), node.drop_policy()
        pending: deque[Packet] = deque(maxlen=1)
        produced = 0
        try:
            frames = iter(node.frames())
            while not self.stopping and (self.max_frames is None or produced < self.max_frames):
                started = perf_counter()
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                step.metrics.record(1, perf_counter() - started)
                produced += 1
                info = PacketInfo(step.id, frame.index, frame.timestamp, self.graph.name)
                self._admit(Packet(info, {(step.id, "image"): frame}), pending, live, policy)
            while pending and not self.stopping:  # end of input: what waits still gets processed
                self._admit(pending.popleft(), pending, False, "none")
        except Exception as exc:
            step.metrics.errors += 1
            self._failed(step, None, exc)
            with self._lock:  # a source that died is never a clean end, whatever the policy
                self.report.exit_code = 1
                if self.report.stopped_by == "end of input":
                    self.report.stopped_by = f"source '{step.id}' failed"
        finally:
            with self._lock:
                self._sources_left -= 1
                last = self._sources_left == 0
            if last:
                self.stages[0].inbox.put(END)

    def _stage_loop(self, index: int) -> None:
        stage = self.stages[index]
        nxt = self.stages[index + 1] if index + 1 < len(self.stages) else None
        head = stage.head
        batcher: MicroBatcher[Packet] | None = None
        if head is not None:
            batcher = MicroBatcher(head.batch_size, head.max_wait_s, perf_counter)
        inbox = stage.inbox

        def get(timeout: float | None = None) -> Any:
            return inbox.get(True, timeout)

        inline = stage.inline
        while True:
            if batcher is not None:
                batch = batcher.collect(get)
                packets, ended = batch.items, batch.ended
                if packets:
                    assert head is not None
                    head.run_batch(packets)
            else:
                item = get()
                ended = item is END
                packets = [] if ended else [item]
            for packet in packets:
                for step in inline:
                    step.run_one(packet)
                if nxt is not None:
                    packet.enqueued = perf_counter()
                    nxt.inbox.put(packet)
                else:
                    self._finish(packet)
            if ended:
                if nxt is not None:
                    nxt.inbox.put(END)
                return

    def _finish(self, packet: Packet) -> None:
        self._inflight.release()
        with self._lock:
            self.report.frames += 1
            done = self.report.frames
        try:
            self.hooks.on_packet_done(info=packet.info, values=packet.values, frames_done=done)
        except Exception:  # a broken hook must not stall the pipeline
            log.exception("a run hook failed in on_packet_done")
