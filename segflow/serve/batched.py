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
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from typing import Any

from segflow.engine.api import Workflow
from segflow.engine.execution.feed import FeedSource
from segflow.engine.execution.lifecycle import running_nodes
from segflow.engine.execution.stages import StageThreads
from segflow.engine.frame import PacketInfo
from segflow.engine.masking import mask
from segflow.engine.observe.hooks import HookList, RunHooks
from segflow.engine.observe.metrics import RunReport
from segflow.engine.observe.monitor import RunMonitor
from segflow.serve.stand_ins import Board, Result, served_specs

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


class BatchedRun:
    """A workflow kept set up and running; :meth:`submit` pushes images through it."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self.plan = workflow.plan()
        self._lock = threading.Lock()
        self._feed: FeedSource | None = None
        self._threads: StageThreads | None = None
        self._router: _Router | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.monitor = RunMonitor()  # the engine's per-node metrics, for /metrics

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Set the nodes up (models load here) and start the stage threads; raise what setup raised."""
        with self._lock:
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
        board = Board()
        router = _Router(board)
        report = RunReport(self.plan.workflow_name)
        context = self.workflow.context()
        try:
            with running_nodes(served_specs(self.plan, board), context) as nodes:
                feeds = [nodes[s] for s in self.plan.source_ids]
                for extra in feeds[1:]:
                    assert isinstance(extra, FeedSource)
                    extra.end()  # only the first source is fed; the others give nothing
                feed = feeds[0]
                assert isinstance(feed, FeedSource)
                threads = StageThreads(self.plan, nodes, context, report, HookList([router, self.monitor]))
                self.monitor.on_start(workflow=self.plan.workflow_name, total_frames=None, node_metrics=threads.metrics)
                self._feed, self._threads, self._router = feed, threads, router
                self._ready.set()
                threads.execute()
        except BaseException as exc:
            self._failed = exc
        finally:
            self._feed = self._threads = None
            reason = report.stopped_by if report.stopped_by != "end of input" else "the server is stopping"
            router.fail_all(mask(reason))
            self._ready.set()

    def stop(self) -> None:
        """End the feed: what is in flight finishes, then every node is closed."""
        feed, thread = self._feed, self._thread
        if feed is not None:
            feed.end()
        if thread is not None:
            thread.join()

    # --- requests --------------------------------------------------------------------------
    def submit(self, pixels: Any) -> Future[Result]:
        """Put one image in; the future resolves when its packet has left the graph."""
        threads, thread = self._threads, self._thread
        if threads is not None and threads.stopping and thread is not None:
            thread.join()  # a crash is ending the run: wait for it, then start a fresh one
        self.start()
        feed, router = self._feed, self._router
        if feed is None or router is None:
            raise RunEnded("the workflow's run is not running")
        future: Future[Result] = Future()
        with router.lock:  # registered before the frame can possibly finish
            index = feed.put(pixels)
            router.waiting[index] = future
        return future
