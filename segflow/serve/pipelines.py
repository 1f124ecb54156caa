"""Pipelines: a workflow run on its own sources, started, watched, changed and stopped over HTTP.

Each :class:`Pipeline` is one run of the ``local`` executor on a thread of the
server, watched by the engine's own :class:`RunMonitor` (per-node metrics,
source health) and by :class:`_Results`, which turns each finished frame into
the per-frame record the sinks' format uses (:mod:`segflow.delivery.records`)
for the event stream, and keeps the latest annotated image for the preview.

A change (:meth:`Pipeline.update`) is validated first. When only params
changed that every node concerned takes live (``Node.update_params``: e.g. a
detector's ``confidence``), they are applied to the running nodes: nothing
stops, nothing reloads. Any other change (a model file, wiring, a new node)
drains the run (every frame read reaches the sinks) and starts the new
workflow where the old one stopped: each source carries on after the last
frame that went through (``RunOptions.resume``, ``SourceNode.frames_after``):
a looped video in the pass it was in, its frames numbered on, so no frame is
lost or processed twice.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

from segflow.delivery.records import Findings, RecordBuilder
from segflow.engine.api import Workflow
from segflow.engine.execution.executor import RunOptions
from segflow.engine.execution.local.executor import LocalExecutor
from segflow.engine.frame import Frame, PacketInfo
from segflow.engine.masking import mask
from segflow.engine.observe.hooks import HookList, RunHooks
from segflow.engine.observe.monitor import RunMonitor
from segflow.engine.workflow.graph import Ref

log = logging.getLogger("segflow")
EVENT_BACKLOG = 256  # events a slow subscriber may fall behind by before the oldest are dropped


class _Results(RunHooks):
    """Each finished frame as an event (its per-frame record) and the latest annotated image.

    One per pipeline, across restarts: subscribers stay connected through a swap,
    and :meth:`close` (the pipeline is over for good) ends their streams.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.subscribers: list[queue.Queue[dict[str, Any] | None]] = []
        self.latest: Any = None
        self.last_index: dict[str, int] = {}  # per source: the index of its last frame through, across runs
        self.detections_ref: Ref | None = None
        self.image_ref: Ref | None = None
        self.builder = RecordBuilder("", "")

    def follow(self, workflow: Workflow) -> None:
        """Read the values the first sinks of ``workflow`` take (detections for events, an image to preview)."""
        graph = workflow.graph
        sinks = [graph.nodes[nid] for nid in graph.order if graph.nodes[nid].cls.is_sink]
        self.detections_ref = next((ref for s in sinks for ref in s.inputs.get("detections", ())), None)
        self.image_ref = next((ref for s in sinks for ref in s.inputs.get("image", ())), None)
        self.builder = RecordBuilder(workflow.name, "")

    @property
    def keep(self) -> list[Ref]:
        return [r for r in (self.detections_ref, self.image_ref) if r is not None]

    def on_packet_done(self, *, info: PacketInfo, values: dict[Any, Any], **_: Any) -> None:
        image = values.get(self.image_ref) if self.image_ref else None
        with self.lock:
            self.last_index[info.source_id] = max(self.last_index.get(info.source_id, -1), info.frame_index)
            if isinstance(image, Frame):
                self.latest = image.pixels
            subscribers = list(self.subscribers)
        if not subscribers:
            return
        detections = values.get(self.detections_ref) if self.detections_ref else None
        event = self.builder.frame(Findings(info, detections)).rows("frame")[0]
        for subscriber in subscribers:
            try:
                subscriber.put_nowait(event)
            except queue.Full:  # a slow reader loses the oldest results, never slows the line
                subscriber.get_nowait()
                subscriber.put_nowait(event)

    def subscribe(self) -> queue.Queue[dict[str, Any] | None]:
        subscriber: queue.Queue[dict[str, Any] | None] = queue.Queue(EVENT_BACKLOG)
        with self.lock:
            self.subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: queue.Queue[dict[str, Any] | None]) -> None:
        with self.lock:
            if subscriber in self.subscribers:
                self.subscribers.remove(subscriber)

    def close(self) -> None:
        with self.lock:
            for subscriber in self.subscribers:
                try:
                    subscriber.put_nowait(None)
                except queue.Full:
                    pass


@dataclass
class Change:
    """What an update did: ``live`` (params applied in place) or ``restarted`` (drained and resumed)."""

    how: str
    nodes: list[str]


class Pipeline:
    """One workflow running on its sources in this process."""

    def __init__(self, pipeline_id: str, workflow: Workflow, text: str) -> None:
        self.id = pipeline_id
        self.workflow = workflow
        self.text = text
        self.error = ""
        self.generation = 0
        self.swaps: list[dict[str, Any]] = []
        self.frames_before = 0  # frames the runs before this one put through (a restart starts a new monitor)
        self.results = _Results()
        self._lock = threading.Lock()
        self._restarting = False
        self._start(workflow)

    def _start(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self.monitor = RunMonitor()
        self.results.follow(workflow)
        self.executor = LocalExecutor()
        self.report: Any = None
        hooks = HookList([self.monitor, self.results])
        plan = workflow.plan(self.results.keep)
        with self.results.lock:
            options = RunOptions(workflow.base_dir, resume=dict(self.results.last_index))

        def run() -> None:
            try:
                self.report = self.executor.run(plan, options, hooks)
                hooks.on_end(report=self.report)
            except Exception as exc:  # setup failed: the pipeline says so, the server lives on
                self.error = mask(str(exc))
                log.error("pipeline %s: %s", self.id, self.error)
            finally:
                if not self._restarting:
                    self.results.close()

        self.thread = threading.Thread(target=run, name=f"pipeline-{self.id}", daemon=True)
        self.thread.start()

    @property
    def state(self) -> str:
        if self.thread.is_alive():
            return "stopping" if self.executor.stopping else ("running" if self.monitor.started else "starting")
        return "failed" if self.error or (self.report is not None and self.report.failed_frames) else "stopped"

    def describe(self) -> dict[str, Any]:
        healthy, health = self.monitor.health()
        return {
            "id": self.id,
            "workflow": self.workflow.name,
            "state": self.state,
            "error": self.error,
            "healthy": healthy,
            "sources": health.get("sources", {}),
            "nodes": [m.summary() for m in self.executor.live_metrics()],
            "frames_done": self.frames_done,
            "generation": self.generation,
            "swaps": self.swaps,
        }

    @property
    def frames_done(self) -> int:
        """Frames through since the pipeline started, across every restart (as the sinks number them)."""
        return self.frames_before + self.monitor.frames_finished

    def stop(self, wait: bool = True) -> None:
        """Stop the sources; every frame already read goes through to the sinks, then nodes close."""
        self.executor.stop("stopped over HTTP")
        if wait:
            self.thread.join()

    def update(self, workflow: Workflow, text: str) -> Change:
        """Apply a validated new version: in place when every change is a live param, else drain and resume."""
        with self._lock:
            live = self._live_changes(workflow)
            if live is not None:
                for node, params in live:
                    node.update_params(params)
                self.workflow, self.text = workflow, text
                change = Change("live", [n.node_id for n, _ in live])
            else:
                self._restarting = True
                try:
                    self.stop()
                finally:
                    self._restarting = False
                self.frames_before = self.frames_done  # the drained run's frames, all through
                self._start(workflow)
                self.text = text
                self.generation += 1
                change = Change("restarted", sorted(workflow.graph.nodes))
            self.swaps.append({"how": change.how, "nodes": change.nodes, "at_frames": self.frames_done})
            return change

    def _live_changes(self, workflow: Workflow) -> list[tuple[Any, Any]] | None:
        """The (running node, new params) pairs when the change can be applied in place, else None."""
        old, new = self.workflow.graph, workflow.graph
        nodes = self.executor.live_nodes
        if set(old.nodes) != set(new.nodes) or old.settings != new.settings or not nodes:
            return None
        changes = []
        for nid, resolved in new.nodes.items():
            before = old.nodes[nid]
            if before.cls is not resolved.cls or before.inputs != resolved.inputs:
                return None
            if before.params == resolved.params:
                continue
            node = nodes.get(nid)
            reload = type(node).reload_params if node is not None else None
            if node is None or reload is None or any(
                    getattr(resolved.params, f) != getattr(before.params, f) for f in reload):
                return None
            changes.append((node, resolved.params))
        return changes


class Pipelines:
    """The server's pipelines by id."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.running: dict[str, Pipeline] = {}

    def start(self, workflow: Workflow, text: str) -> Pipeline:
        pipeline = Pipeline(f"p{next(self._ids)}", workflow, text)
        self.running[pipeline.id] = pipeline
        return pipeline

    def stop_all(self) -> None:
        for pipeline in self.running.values():
            pipeline.stop(wait=False)
        for pipeline in self.running.values():
            pipeline.thread.join()
