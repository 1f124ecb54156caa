"""A source fed from another thread: frames are put in, the run's reader takes them out.

A service that pushes images through one long-lived run of a plan (so that
concurrent requests meet in the model stages' micro-batches) puts each image
into a :class:`FeedSource` standing in for the workflow's source. The reader
thread of :class:`~segflow.engine.execution.stages.StageThreads` treats it as
any non-live source: it waits for a slot in flight, so a full pipeline holds
the caller back instead of dropping its frame. :meth:`FeedSource.end` ends the
input; what was put before it is still processed.

Each frame gets the next index of this source, so the index is the tag that
sends a finished packet back to whoever put the frame in.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Iterator
from time import time
from typing import Any

from segflow.engine.frame import Frame
from segflow.engine.node import Params, RunContext, SourceNode

_END = object()


class FeedSource(SourceNode):
    """Frames put in by :meth:`put` from any thread, in the order they were put."""

    type_name = "source.feed"
    Params = Params

    def __init__(self, node_id: str, params: Any, context: RunContext | None = None) -> None:
        super().__init__(node_id, params, context)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._count = itertools.count()
        self._lock = threading.Lock()  # index and queue order agree

    def put(self, pixels: Any) -> int:
        """Queue one image; its frame index, which the finished packet carries."""
        with self._lock:
            index = next(self._count)
            self._queue.put(self.make_frame(pixels, index, time()))
        return index

    def end(self) -> None:
        """No more frames: the reader finishes what was put, then the run drains."""
        self._queue.put(_END)

    def frames(self) -> Iterator[Frame]:
        stop = self.context.stop_event
        while not stop.is_set():  # a stop (a crash elsewhere in the run) ends the wait too
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is _END:
                return
            yield item
