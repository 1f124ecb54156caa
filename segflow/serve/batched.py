"""One long-lived run of a workflow that requests feed: their images meet in its micro-batches.

Each workflow a server serves gets a :class:`BatchedRun`: the workflow's plan
runs on the engine's own stage threads (:class:`StageThreads`, as ``segflow
run`` does), its sources replaced by a feed and its sinks by captures
(:mod:`segflow.serve.stand_ins`). A request puts its images into the feed and
waits for each one's packet to leave the graph; concurrent requests' frames
are in flight together, so each model stage batches them exactly as it batches
frames of several cameras (``batch_size``, ``max_wait_ms``). The frame index is
the tag that brings each result back to its caller, in the order it sent them.

A node that crashes the run (``on_error: stop``) ends it: the requests in
flight get the error, and the next request starts a fresh run.

A reload makes a *successor* run of the new version (``previous=``): it sets
up only the nodes whose type, params or context changed, and takes the
others, models loaded, over from the run it replaces (:meth:`hand_over`),
which closes what it still owns when it ends. The successor waits, nodes
ready, until the server switches to it (:meth:`proceed`) and the old run has
drained, so no node instance ever runs in two runs at once; a reload that
fails gives the nodes back (:meth:`stop` before :meth:`proceed`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from segflow.engine.api import Workflow
from segflow.engine.execution.feed import FeedSource
from segflow.engine.execution.lifecycle import close_nodes, running_nodes
from segflow.engine.execution.stages import StageThreads
from segflow.engine.frame import PacketInfo
from segflow.engine.masking import mask
from segflow.engine.node import Node
from segflow.engine.observe.hooks import HookList, RunHooks
from segflow.engine.observe.metrics import RunReport
from segflow.engine.observe.monitor import RunMonitor
from segflow.serve.stand_ins import Board, Result, StandIn, served_specs

log = logging.getLogger("segflow")


class RunEnded(Exception):
    """The run stopped before this image came out (a node crashed it, or the server is stopping)."""


class _Router(RunHooks):
    """Brings each finished packet back to the future waiting for its frame index."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self.lock = threading.Lock()
        self.waiting: dict[int, Future[Result]] = {}

    def on_packet_done(self, *, info: PacketInfo, **_: Any) -> None:
        with self.lock:
            future = self.waiting.pop(info.frame_index, None)
        if future is not None:
            future.set_result(self.board.take(info.frame_index))

    def on_failure(self, *, node: str, node_type: str, info: PacketInfo | None, error: str, **_: Any) -> None:
        if info is not None:
            self.board.error(info.frame_index, mask(f"node '{node}' ({node_type}): {error}"))

    def fail_all(self, reason: str) -> None:
        with self.lock:
            waiting, self.waiting = self.waiting, {}
        for future in waiting.values():
            future.set_exception(RunEnded(reason))


class Retired(RunEnded):
    """The run was replaced or evicted before this request got in: ask the served workflow for its run again."""


def _same(a: Any, b: Any) -> bool:
    """Two plan nodes a kept node instance serves alike: same type, same params."""
    return a.cls is b.cls and a.params == b.params


class BatchedRun:
    """A workflow kept set up and running; :meth:`submit` pushes images through it.

    ``inputs`` are the values it was bound with (a successor is bound with the
    same); ``on_built`` is told the ids of the nodes each start set up.
    """

    def __init__(self, workflow: Workflow, inputs: Mapping[str, Any] | None = None,
                 on_built: Callable[[list[str]], None] | None = None, previous: BatchedRun | None = None) -> None:
        self.workflow = workflow
        self.inputs = dict(inputs or {})
        self.plan = workflow.plan()
        self.built: list[str] = []  # model and CPU nodes the last start set up (stand-ins are not counted)
        self.kept: list[str] = []  # nodes taken over from the previous run
        self._on_built = on_built
        self._previous = previous if previous is not None and previous._context_key() == self._context_key() else None
        self._lock = threading.Lock()
        self._feed: FeedSource | None = None
        self._threads: StageThreads | None = None
        self._router: _Router | None = None
        self._nodes: dict[str, Node] = {}
        self._handed: set[str] = set()  # ids a successor took over: not closed here
        self._closing = False
        self._retired = False
        self._abandoned = False
        self._go = threading.Event()  # a successor waits for the switch; any other run goes at once
        if self._previous is None:
            self._go.set()
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.monitor = RunMonitor()  # the engine's per-node metrics, for /metrics

    def _context_key(self) -> tuple[Any, ...]:
        context = self.workflow.context()
        return context.workflow_name, context.base_dir, context.models_dir

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Set the nodes up (models load here) and start the stage threads; raise what setup raised."""
        with self._lock:
            if self._retired:
                raise Retired("this run was replaced")
            if self._thread is not None and self._thread.is_alive():
                return
            self._ready.clear()
            self._failed = None
            self._thread = threading.Thread(target=self._run, name=f"serve-{self.workflow.name}", daemon=True)
            self._thread.start()
        self._ready.wait()
        if self._failed is not None:
            raise self._failed

    def _run(self) -> None:
        previous, self._previous = self._previous, None
        board = Board()
        router = _Router(board)
        report = RunReport(self.plan.workflow_name)
        context = self.workflow.context()
        specs = served_specs(self.plan, board)
        reuse = [nid for nid, spec in specs.items() if previous is not None and not isinstance(spec, StandIn)
                 and nid in previous.plan.nodes and _same(previous.plan.nodes[nid], spec)]
        taken: dict[str, Node] = {}
        with self._lock:  # a restart after a crash: nothing of the last start may be handed over
            self._handed, self._closing, self._nodes = set(), False, {}
        try:
            with running_nodes({k: v for k, v in specs.items() if k not in reuse}, context, self._handed) as made:
                try:
                    if previous is not None:
                        taken = previous.hand_over(reuse)
                        if len(taken) != len(reuse):
                            raise RunEnded("the run being replaced ended while the new version was set up")
                    nodes = {nid: made[nid] if nid in made else taken[nid] for nid in specs}
                    self.built = [nid for nid in made if not isinstance(specs[nid], StandIn)]
                    self.kept = sorted(taken)
                    if self._on_built is not None:
                        self._on_built(self.built)
                    threads = self._wire(nodes, context, report, router)
                    self._ready.set()
                    self._go.wait()
                    if self._abandoned:  # the reload failed elsewhere: the old run keeps its nodes
                        if previous is not None and previous.take_back(taken):
                            taken = {}
                        return
                    if previous is not None:
                        previous.join()  # in-flight requests finish on the old version first
                    threads.execute()
                finally:
                    with self._lock:
                        self._closing = True
        except BaseException as exc:
            self._failed = exc
        finally:
            close_nodes(taken, self._handed)
            self._feed = self._threads = None
            reason = report.stopped_by if report.stopped_by != "end of input" else "the server is stopping"
            router.fail_all(mask(reason))
            self._ready.set()

    def _wire(self, nodes: dict[str, Node], context: Any, report: RunReport, router: _Router) -> StageThreads:
        feeds = [nodes[s] for s in self.plan.source_ids]
        for extra in feeds[1:]:
            assert isinstance(extra, FeedSource)
            extra.end()  # only the first source is fed; the others give nothing
        feed = feeds[0]
        assert isinstance(feed, FeedSource)
        threads = StageThreads(self.plan, nodes, context, report, HookList([router, self.monitor]))
        self.monitor.on_start(workflow_name=self.plan.workflow_name, total_frames=None, node_metrics=threads.metrics)
        with self._lock:
            self._feed, self._threads, self._router, self._nodes = feed, threads, router, nodes
        return threads

    def hand_over(self, ids: list[str]) -> dict[str, Node]:
        """Give these running nodes to a successor, which closes them; nothing when this run is ending."""
        with self._lock:
            if self._closing or not self._nodes:
                return {}
            self._handed.update(ids)
            return {nid: self._nodes[nid] for nid in ids}

    def take_back(self, nodes: Mapping[str, Node]) -> bool:
        """Nodes handed over and not used after all; False when this run ended meanwhile (the caller closes them)."""
        with self._lock:
            if self._closing:
                return False
            self._handed.difference_update(nodes)
            return True

    def proceed(self) -> None:
        """The server now sends requests here: run once the previous run has drained."""
        self._go.set()

    def join(self) -> None:
        thread = self._thread
        if thread is not None:
            thread.join()

    def stop(self) -> None:
        """Take no more requests; what is in flight finishes, then every node this run owns is closed."""
        with self._lock:
            self._retired = True
            if not self._go.is_set():  # a successor never switched to: give up
                self._abandoned = True
                self._go.set()
            if self._feed is not None:
                self._feed.end()
        self.join()

    # --- requests --------------------------------------------------------------------------
    def submit(self, images: list[Any]) -> list[Future[Result]]:
        """Put images in, in order; each future resolves when its packet has left the graph."""
        threads, thread = self._threads, self._thread
        if threads is not None and threads.stopping and thread is not None:
            thread.join()  # a crash is ending the run: wait for it, then start a fresh one
        self.start()
        futures: list[Future[Result]] = []
        with self._lock:  # never after the feed's end: a stop takes this lock to end it
            feed, router = self._feed, self._router
            if self._retired:
                raise Retired("this run was replaced")
            if feed is None or router is None:
                raise RunEnded("the workflow's run is not running")
            with router.lock:  # registered before a frame can possibly finish
                for pixels in images:
                    future: Future[Result] = Future()
                    router.waiting[feed.put(pixels)] = future
                    futures.append(future)
        return futures
