"""``RecordSink``: the part every record-writing sink shares.

A packet passes the gate, becomes records, and waits in a buffer that is
written when it holds ``batch_size`` records or, from a background ticker,
when ``flush_interval_s`` has passed (then synced to disk). So after a
``kill -9`` at most the last interval's records are missing, and ``close``
(called by the engine on every way out, SIGTERM included) writes the rest.

A write that fails in the ticker is kept and raised from the next
``process`` call, naming the sink, so the engine's ``on_error`` policy sees
it; the failed records stay buffered and are retried. Records the target
still refuses at ``close`` (or that overflow the buffer while it fails) are
set aside in a rejected file, ``.segflow/rejected/<workflow>/<node>.jsonl``,
never dropped; :meth:`RecordSink.undelivered` tells the run's report, which
then exits 3.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, ClassVar

from segflow.delivery.common import Gate, Ticker, make_run_id, sink_error
from segflow.delivery.linefile import LineFile
from segflow.delivery.records import RecordBuilder, RecordParams, detection_envs, dumps, frame_env
from segflow.engine import Inputs, Kind, NodeError, Port, SinkNode
from segflow.engine.masking import mask
from segflow.engine.observe.metrics import Undelivered
from segflow.engine.text import path_part

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
"""Unwritten records a sink keeps in memory while its target fails; beyond it the oldest are set aside."""


class SetAside:
    """Records a sink's target would not take, appended to a rejected file instead of being dropped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kept = 0
        self.lost = 0  # not even the rejected file could take them
        self.reason = ""

    def add(self, records: list[dict[str, Any]], reason: str) -> None:
        if not records:
            return
        self.reason = self.reason or reason
        file = LineFile(self.path)
        try:
            file.open()
            try:
                file.write([dumps({"error": mask(reason), "record": r}) + "\n" for r in records])
                file.sync()
            finally:
                file.close()
            self.kept += len(records)
        except OSError as exc:
            self.lost += len(records)
            log.error("cannot set %d records aside in %s either: %s", len(records), self.path, exc.strerror or exc)

    def report(self, node_id: str, node_type: str) -> Undelivered | None:
        if not (self.kept or self.lost):
            return None
        if self.lost:
            reason = f"{self.reason}; {self.kept} of them kept in {self.path}" if self.kept else self.reason
            return Undelivered(node_id, node_type, self.kept + self.lost, "", reason)
        return Undelivered(node_id, node_type, self.kept, str(self.path), self.reason)


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

    def rejected_path(self) -> Path:
        """Where records the target would not take are set aside."""
        return self.context.resolve(Path(".segflow/rejected") / path_part(self.context.workflow, "workflow")
                                    / f"{self.node_id}.jsonl")

    # -- the shared machinery ----------------------------------------------------------
    def setup(self) -> None:
        p = self.params
        self.run_id = make_run_id()
        self._lock = threading.RLock()
        self._buffer: list[dict[str, Any]] = []
        self._pending_error: NodeError | None = None
        self.aside = SetAside(self.rejected_path())
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
            # memory bounded and the retry cheap; the oldest records wait in the rejected file.
            oldest, self._buffer = self._buffer[:overflow], self._buffer[overflow:]
            self.aside.add(oldest, f"{self.target()} kept failing")
            log.error("%s '%s': %s keeps failing; set the %d oldest unwritten records aside in %s",
                      self.type_name, self.node_id, self.target(), overflow, self.aside.path)
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
            except NodeError as exc:
                unwritten, self._buffer = self._buffer, []
                self.aside.add(unwritten, str(exc))
                log.error("%s; %d records set aside in %s", exc, len(unwritten), self.aside.path)
            finally:
                self.shutdown()

    def undelivered(self) -> Undelivered | None:
        aside = getattr(self, "aside", None)  # None when setup never ran
        return aside.report(self.node_id, self.type_name) if aside is not None else None
