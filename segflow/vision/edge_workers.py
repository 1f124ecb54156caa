"""Objects' edges fitted side by side in worker processes, one object per task.

Sub-pixel edges cost about a second an object (:mod:`segflow.vision.edges` is many small
array operations, which hold the GIL: threads make it slower, not faster). Objects are
independent, so a frame of 30 spreads over processes; each task carries only its object's
crop (:class:`segflow.vision.outline.EdgeJob`). The workers are started with ``spawn``,
not ``fork``: the engine runs nodes on threads, and a forked child of a threaded process
may inherit a lock some other thread held. A spawned child normally imports the parent's
main script again (Python's multiprocessing expects it behind ``if __name__ ==
"__main__":``); a script that runs a workflow need not know that its node starts processes,
so while the workers start, ``__main__`` is a blank module and they import nothing of the
caller's. Each worker keeps BLAS to one thread, as the engine does, so N workers use N cores.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import types
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from segflow.vision.outline import EdgeJob, Outline, run_edge_job

log = logging.getLogger(__name__)


def available_cores() -> int:
    """The cores this process may run on (its affinity, which a container or ``taskset`` narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _start_worker() -> None:
    """One BLAS thread; and Ctrl-C is the parent's to handle (it stops the workers), not a traceback per worker."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _blank_main() -> Iterator[None]:
    """``__main__`` as an empty module meanwhile: processes spawned now do not run the caller's script."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class EdgeWorkers:
    """``workers`` processes fitting edges; with 1, every job runs in the caller's thread."""

    def __init__(self, workers: int) -> None:
        self.workers = max(int(workers), 1)
        self._pool: ProcessPoolExecutor | None = None

    def run(self, jobs: Sequence[EdgeJob | None]) -> list[Outline | None]:
        """Each job's outline, in order (None for None: an empty mask)."""
        todo = [job for job in jobs if job is not None]
        if self.workers == 1 or len(todo) < 2:
            done = [run_edge_job(job) for job in todo]
        else:
            try:
                with _blank_main():  # the workers start on the first submissions
                    results = self._executor().map(run_edge_job, todo)
                done = list(results)
            except BrokenProcessPool:
                # a worker died (killed, out of memory): this frame in this thread, a fresh pool next time
                log.warning("an edge worker process died; fitting this frame's edges in the node's own thread")
                self._drop()
                done = [run_edge_job(job) for job in todo]
        found = iter(done)
        return [None if job is None else next(found) for job in jobs]

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker)
        return self._pool

    def _drop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        """Stop the workers (safe to call twice, or with none started)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
