"""``RecordSink``: the part every record-writing sink shares.

A packet passes the gate, becomes records, and waits in a buffer that is
written when it holds ``batch_size`` records or, from a background ticker,
when ``flush_interval_s`` has passed (then synced to disk). So after a
``kill -9`` at most the last interval's records are missing, and ``close``
(called by the engine on every way out, SIGTERM included) writes the rest.

A write that fails in the ticker is kept and raised from the next
``process`` call, naming the sink, so the engine's ``on_error`` policy sees
it; the failed records stay buffered and are retried.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, ClassVar

from segflow.engine import Inputs, Kind, NodeError, Port, SinkNode
from segflow.nodes.sinks.common import Gate, Ticker, make_run_id, sink_error
from segflow.nodes.sinks.records import RecordBuilder, RecordParams, detection_envs, frame_env

log = logging.getLogger(__name__)

RECORD_INPUTS: dict[str, Port] = {
    "detections": Port(Kind.DETECTIONS, "The detections of the frame to record.", required=False),
    "image": Port(
        Kind.IMAGE,
        "The frame (identifies source and index when nothing else does).",
        required=False,
    ),
    "value": Port(Kind.VALUE, "Any JSON-able value of the frame, recorded as `value`.", required=False),
}


MAX_BUFFERED_RECORDS = 100_000
"""Unwritten records a sink keeps while its target fails; beyond it the oldest are dropped (logged)."""


class RecordSink(SinkNode):
    """Gate, build, buffer and flush records; subclasses implement :meth:`write`."""

    Params = RecordParams
    params: RecordParams
    inputs: ClassVar[dict[str, Port]] = RECORD_INPUTS
    per_default: ClassVar[str | None] = None  # a sink that needs frames (SQL) fixes this

    # -- what subclasses implement ---------------------------------------------------
    def open(self) -> None:
        """Open the file, database or connection."""

    def write(self, records: list[dict[str, Any]]) -> None:
        """Write ``records`` for good (raise on failure: they are kept and retried)."""
        raise NotImplementedError

    def sync(self) -> None:
        """Make what was written durable (fsync): called on the flush interval and at close."""

    def shutdown(self) -> None:
        """Close the file, database or connection after the last write."""

    def target(self) -> str:
        """Where records go, for error messages."""
        return ""

    # -- the shared machinery ----------------------------------------------------------
    def setup(self) -> None:
        p = self.params
        self.run_id = make_run_id()
        self._lock = threading.RLock()
        self._buffer: list[dict[str, Any]] = []
        self._pending_error: NodeError | None = None
        self._gate = Gate(p.every_n_frames, p.cooldown_s, p.only_when)
        per = self.per_default or getattr(p, "per", "detection")
        self._builder = RecordBuilder(self.context.workflow, self.run_id, per, getattr(p, "mask", "none"))
        self._ticker: Ticker | None = None
        try:
            self.open()
        except NodeError:
            raise
        except Exception as exc:
            raise sink_error(self, f"cannot open {self.target()}", exc) from exc
        self._ticker = Ticker(p.flush_interval_s, self._tick, name=f"flush-{self.node_id}")

    def records_for(self, inputs: Inputs) -> list[dict[str, Any]]:
        """The records of one packet, or none when the gate keeps it out."""
        packet = inputs.packet
        detections = inputs.get("detections")
        value = inputs.get("value")
        env = frame_env(packet, detections, value)
        dets = detection_envs(detections) if self._gate.condition.detection_names else []
        if not self._gate.admit(packet.source_id, packet.timestamp, env, dets):
            return []
        return self._builder.records(packet, detections, value)

    def process(self, inputs: Inputs) -> dict[str, Any]:
        with self._lock:
            records = self.records_for(inputs)
            if records:
                self.accept(records)  # on failure the records stay buffered for the next try
            self._raise_pending()  # a failed background flush is this frame's error to report
        return {}

    def accept(self, records: list[dict[str, Any]]) -> None:
        """Buffer ``records`` and write when a batch is full (caller holds the lock)."""
        self._buffer.extend(records)
        overflow = len(self._buffer) - MAX_BUFFERED_RECORDS
        if overflow > 0:
            # The target has been failing for a long while (a full disk, a dead database): keep
            # memory bounded and the retry cheap, and say exactly how much was given up.
            del self._buffer[:overflow]
            self.dropped_records = getattr(self, "dropped_records", 0) + overflow
            log.error("%s '%s': %s keeps failing; dropped the %d oldest unwritten records (%d so far)",
                      self.type_name, self.node_id, self.target(), overflow, self.dropped_records)
        if len(self._buffer) >= self.params.batch_size:
            self._flush(sync=False)

    def _flush(self, sync: bool) -> None:
        if self._buffer:
            try:
                self.write(self._buffer)
            except NodeError:
                raise
            except Exception as exc:
                raise sink_error(self, f"cannot write {len(self._buffer)} records to {self.target()}", exc) from exc
            self._buffer = []
        if sync:
            try:
                self.sync()
            except Exception as exc:
                raise sink_error(self, f"cannot sync {self.target()}", exc) from exc

    def _tick(self) -> None:
        with self._lock:
            try:
                self._flush(sync=True)
            except NodeError as exc:
                if self._pending_error is None:
                    log.error("%s (hint: %s)", exc, exc.hint)
                self._pending_error = exc

    def _raise_pending(self) -> None:
        error, self._pending_error = self._pending_error, None
        if error is not None:
            raise error

    def close(self) -> None:
        ticker = getattr(self, "_ticker", None)
        if ticker is not None:
            ticker.stop()
            self._ticker = None
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            try:
                self._flush(sync=True)
            finally:
                self.shutdown()
