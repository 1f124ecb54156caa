"""The error policy, applied the same way by every executor and the sequential run.

A node that fails on one packet is counted, logged with its node id and frame
index, and reported to hooks; under ``on_error: stop`` (the workflow's, or the
node's own) the run stops with exit code 1. A crash (a source that died, a
node that raised ``SystemExit``) always ends the run with exit code 1.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable

from segflow.engine.frame import PacketInfo
from segflow.engine.node import NodeError
from segflow.engine.observe.exit_codes import EXIT_FAILED
from segflow.engine.observe.hooks import RunHooks
from segflow.engine.observe.metrics import RunReport

log = logging.getLogger("segflow")
FAILURE_LOG_LIMIT = 10_000


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, NodeError):
        return str(exc) + (f" (hint: {exc.hint})" if exc.hint else "")
    return f"{type(exc).__name__}: {exc}"


class FailureBook:
    """Records failures into a run report and decides when the run must stop. Thread-safe."""

    def __init__(self, report: RunReport, stop: Callable[[str], None], hooks: RunHooks | None = None,
                 debug: bool = False) -> None:
        self.report = report
        self.stop = stop
        self.hooks = hooks or RunHooks()
        self.debug = debug
        self._lock = threading.Lock()

    def failed(self, node_id: str, node_type: str, policy: str, info: PacketInfo | None, exc: BaseException) -> None:
        """One node failed on one packet (``info``), or a source failed (``info`` None)."""
        text = describe_error(exc)
        where = f" on source '{info.source_id}' frame {info.frame_index}" if info else ""
        self._record(node_id, node_type, info, text)
        log.error("node '%s' (%s) failed%s: %s", node_id, node_type, where, text)
        if self.debug and not isinstance(exc, NodeError):
            log.error("".join(traceback.format_exception(exc)))
        if policy == "stop":
            self._end(f"error in node '{node_id}'")

    def source_died(self, node_id: str, node_type: str, policy: str, exc: BaseException) -> None:
        """A source that died is never a clean end, whatever the policy; the other sources go on."""
        self.failed(node_id, node_type, policy, None, exc)
        with self._lock:
            self.report.exit_code = EXIT_FAILED
            if self.report.stopped_by == "end of input":
                self.report.stopped_by = f"source '{node_id}' failed"

    def crashed(self, node_id: str, node_type: str, reason: str, info: PacketInfo | None = None) -> None:
        """Something no policy can absorb: the run ends, exit code 1, whatever ``on_error`` says."""
        self._record(node_id, node_type, info, reason)
        log.error("%s: ending the run", reason)
        self._end(reason)

    def _record(self, node_id: str, node_type: str, info: PacketInfo | None, text: str) -> None:
        with self._lock:
            self.report.failures += 1
            if len(self.report.failure_log) < FAILURE_LOG_LIMIT:
                self.report.failure_log.append({
                    "node": node_id, "type": node_type, "source": info.source_id if info else None,
                    "frame": info.frame_index if info else None, "error": text,
                })
        try:
            self.hooks.on_failure(node=node_id, node_type=node_type, info=info, error=text)
        except Exception:
            log.exception("a run hook failed in on_failure")

    def _end(self, reason: str) -> None:
        with self._lock:
            self.report.exit_code = EXIT_FAILED
            if self.report.stopped_by == "end of input":
                self.report.stopped_by = reason
        self.stop(reason)
