"""``RecordSink``: the one base of every record-writing sink (files, SQL, webhook, MQTT).

A packet passes the gate (:mod:`segflow.delivery.gate`), becomes one typed
:class:`~segflow.delivery.records.FrameRecord` (then the sink's items: flat rows,
or the record itself for SQL) and goes into the sink's outbox. Two options mean
the same in every sink: ``batch_size`` is the most items one :meth:`RecordSink.write`
gets, and ``flush_interval_s`` the longest an item waits for its batch to fill.
What differs is where items wait:

- :class:`Buffer` (file sinks): in memory; a full batch, or records that have
  waited longer than the interval, are written from the frame's own thread, and
  a ticker writes the rest and syncs to disk every interval. A written record
  survives a ``kill -9`` (it is the kernel's, synced or not), and a ticker
  starved of CPU cannot hold records back while frames still arrive. So after a
  ``kill -9`` at most the last interval's records are missing, and
  ``close`` (called on every way out, SIGTERM included) writes the rest. A write
  that fails in the ticker is raised from the next ``process`` call, naming the
  sink, so the engine's ``on_error`` policy sees it; the records stay buffered
  and are retried.
- the spool of :mod:`segflow.delivery.remote` (network and database sinks): memory
  then disk, delivered by a sender thread that retries with backoff.

Records a target still refuses at ``close`` (or that overflow the buffer while
it fails) are set aside in a rejected file, never dropped;
:meth:`RecordSink.undelivered` tells the run's report, which then exits 3.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from time import monotonic
from typing import Any, ClassVar, Protocol

from segflow.delivery.columns import column_problems, columns, record_names, select
from segflow.delivery.common import RecordParams, Ticker, sink_error
from segflow.delivery.gate import GatedSink
from segflow.delivery.linefile import LineFile
from segflow.delivery.records import FrameRecord, RecordBuilder, dumps
from segflow.engine import Inputs, Kind, NodeError, Port
from segflow.engine.masking import mask
from segflow.engine.node import ParamProblem
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

    def __init__(self, path: Path, to_json: Callable[[Any], Any] = lambda item: item) -> None:
        self.path = path
        self.to_json = to_json
        self.kept = 0
        self.lost = 0  # not even the rejected file could take them
        self.reason = ""

    def add(self, records: list[Any], reason: str) -> None:
        if not records:
            return
        self.reason = self.reason or reason
        file = LineFile(self.path)
        try:
            file.open()
            try:
                file.write([dumps({"error": mask(reason), "record": self.to_json(r)}) + "\n" for r in records])
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


class Outbox(Protocol):
    """Where a record sink's items wait until they are written."""

    def put(self, items: list[Any]) -> None: ...

    def check(self) -> None:
        """Raise a failure of the background writer as this frame's error (or nothing)."""

    def close(self) -> None:
        """Write what waits (or keep it for the next start); the sink's connection is still open."""

    def undelivered(self) -> Undelivered | None: ...


class RecordSink(GatedSink):
    """Gate, build, queue and write records; subclasses implement :meth:`write`."""

    Params = RecordParams
    params: RecordParams
    inputs: ClassVar[dict[str, Port]] = RECORD_INPUTS
    outbox: Outbox | None = None  # made by setup once the target is open
    closed = False

    # -- what subclasses implement ---------------------------------------------------
    def open(self) -> None:
        """Open the file, database or connection."""

    def write(self, items: list[Any]) -> None:
        """Write at most ``batch_size`` items for good (raise on failure: they are kept and retried)."""
        raise NotImplementedError

    def sync(self) -> None:
        """Make what was written durable (fsync): called on the flush interval and at close."""

    def shutdown(self) -> None:
        """Close the file, database or connection after the last write (also after a failed open)."""

    def target(self) -> str:
        """Where records go, for error messages."""
        return ""

    @classmethod
    def check_fields(cls, params: Any, fields: frozenset[str] | None, wired: frozenset[str]) -> list[ParamProblem]:
        known = record_names(params.per, "detections" in wired, fields, "value" in wired, params.mask != "none")
        return column_problems(params.fields, known)

    def items(self, record: FrameRecord) -> list[Any]:
        """What this sink queues for one frame: the flat rows its ``per`` asks for, with its ``fields:``."""
        rows = record.rows(self.params.per)
        chosen = columns(self.params.fields)
        return [select(row, chosen) for row in rows] if chosen else rows

    def to_json(self, item: Any) -> Any:
        """An item as JSON data, for the rejected file (and a spool)."""
        return item

    def make_outbox(self) -> Outbox:
        return Buffer(self)

    def rejected_path(self) -> Path:
        """Where records the target would not take are set aside."""
        return self.context.resolve(Path(".segflow/rejected") / path_part(self.context.workflow_name, "workflow")
                                    / f"{self.node_id}.jsonl")

    # -- the shared machinery ----------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.builder = RecordBuilder(self.context.workflow_name, self.context.run_id, self.params.mask)
        try:
            self.open()
            self.outbox = self.make_outbox()
        except Exception as exc:
            self.shutdown()
            if isinstance(exc, NodeError):
                raise
            raise sink_error(self, f"cannot open {self.target()}", exc) from exc

    def process(self, inputs: Inputs) -> dict[str, Any]:
        assert self.outbox is not None, "setup() first"
        findings = self.admitted(inputs)
        if findings is not None:
            self.outbox.put(self.items(self.builder.frame(findings)))
        self.outbox.check()
        return {}

    def close(self) -> None:
        if self.outbox is None or self.closed:
            return
        self.closed = True
        try:
            self.outbox.close()
        finally:
            self.shutdown()

    def undelivered(self) -> Undelivered | None:
        return self.outbox.undelivered() if self.outbox is not None else None


class Buffer:
    """A file sink's outbox: items wait in memory; full batches are written at once, the rest on a ticker."""

    def __init__(self, sink: RecordSink) -> None:
        self.sink = sink
        self.batch_size = sink.params.batch_size
        self.interval = sink.params.flush_interval_s
        self.items: list[Any] = []
        self.oldest_at: float | None = None  # when the oldest buffered item came (monotonic)
        self.lock = threading.RLock()
        self.aside = SetAside(sink.rejected_path(), sink.to_json)
        self._pending_error: NodeError | None = None
        self.ticker = Ticker(sink.params.flush_interval_s, self._tick, name=f"flush-{sink.node_id}")

    def put(self, items: list[Any]) -> None:
        with self.lock:
            now = monotonic()
            if not self.items:
                self.oldest_at = now
            self.items.extend(items)
            overflow = len(self.items) - MAX_BUFFERED_RECORDS
            if overflow > 0:
                # The target has been failing for a long while (a full disk, a dead database): keep
                # memory bounded and the retry cheap; the oldest records wait in the rejected file.
                oldest, self.items = self.items[:overflow], self.items[overflow:]
                sink = self.sink
                self.aside.add(oldest, f"{sink.target()} kept failing")
                log.error("%s '%s': %s keeps failing; set the %d oldest unwritten records aside in %s",
                          sink.type_name, sink.node_id, sink.target(), overflow, self.aside.path)
            while len(self.items) >= self.batch_size:  # on failure the records stay for the next try
                self._write(self.batch_size)
            if self.items and self.oldest_at is not None and now - self.oldest_at >= self.interval:
                # Overdue: the ticker should have written these. On a machine loaded well past its
                # cores it wakes late (1.6 s late seen beside two CPU hogs); writing here (not
                # syncing: that stays the ticker's) keeps the promise while frames flow.
                self._write_all()

    def _write(self, count: int) -> None:
        batch = self.items[:count]
        try:
            self.sink.write(batch)
        except NodeError:
            raise
        except Exception as exc:
            what = f"{len(batch)} records" if len(batch) != 1 else "1 record"
            raise sink_error(self.sink, f"cannot write {what} to {self.sink.target()}", exc) from exc
        del self.items[: len(batch)]
        if not self.items:
            self.oldest_at = None

    def _write_all(self) -> None:
        while self.items:
            self._write(self.batch_size)

    def _flush(self) -> None:
        self._write_all()
        try:
            self.sink.sync()
        except Exception as exc:
            raise sink_error(self.sink, f"cannot sync {self.sink.target()}", exc) from exc

    def _tick(self) -> None:
        with self.lock:
            try:
                self._flush()
            except NodeError as exc:
                if self._pending_error is None:
                    log.error("%s (hint: %s)", exc, exc.hint)
                self._pending_error = exc

    def check(self) -> None:
        with self.lock:
            error, self._pending_error = self._pending_error, None
        if error is not None:
            raise error

    def close(self) -> None:
        self.ticker.stop()
        with self.lock:
            try:
                self._flush()
            except NodeError as exc:
                unwritten, self.items = self.items, []
                self.aside.add(unwritten, str(exc))
                log.error("%s; %d records set aside in %s", exc, len(unwritten), self.aside.path)

    def undelivered(self) -> Undelivered | None:
        return self.aside.report(self.sink.node_id, self.sink.type_name)
