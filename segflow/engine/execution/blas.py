"""One BLAS thread while nodes run: the engine's stages are the parallelism.

numpy (and OpenCV) call OpenBLAS for every matrix product, and OpenBLAS starts a
thread per core for each one, then keeps those threads spinning while they wait
for the next. A graph makes many small products (a segmentation model's mask
coefficients times its prototypes, a colour conversion per object), each far too
small to gain from threads, on stage threads that already keep the cores busy.
On the 2-core box the flagship's idle BLAS threads burned about 11 ms of CPU a
frame, a quarter of the whole graph's CPU (bench/compiled.py). So a run sets
every loaded BLAS to one thread, once, for the whole process (a setting that
runs put back on exit would fight between two runs served side by side). A BLAS
loaded later (scipy's, imported by a node as it runs) reads ``OPENBLAS_NUM_THREADS``
when it loads, so that is set too. ``SEGFLOW_BLAS_THREADS`` sets another count
(``OPENBLAS_NUM_THREADS`` set before the run is honoured as well). torch's own threads (OpenMP) are
left alone: a model on ultralytics is one large call that does use them.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("segflow")

ENV = "SEGFLOW_BLAS_THREADS"


def blas_threads() -> int:
    """The count: ``SEGFLOW_BLAS_THREADS``, else ``OPENBLAS_NUM_THREADS``, when a positive whole number; else 1."""
    for name in (ENV, "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
        if value and name == ENV:
            log.warning("%s=%r is not a positive whole number: BLAS runs on 1 thread", ENV, value)
            return 1
    return 1


def limit_blas_threads() -> int | None:
    """Set every BLAS loaded now to :func:`blas_threads` threads; the count set, or None without threadpoolctl.

    Called before each run's nodes are set up: the BLAS that numpy and OpenCV bring
    is loaded with segflow itself; one that loads later reads the environment.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a core dependency; an environment without it just keeps the default
        return None
    count = blas_threads()
    os.environ["OPENBLAS_NUM_THREADS"] = str(count)  # for a BLAS loaded from now on
    threadpool_limits(limits=count, user_api="blas")
    return count
