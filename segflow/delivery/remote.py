"""What the network sinks share: a spool, a sender thread, retries with exponential backoff.

``process`` only puts records into the :class:`~segflow.delivery.spool.Spool`, so
a slow or dead endpoint never stalls the graph. One sender thread takes
batches oldest-first and delivers them; a failure waits (1 s, 2 s, 4 s, ...
up to ``backoff_max_s``) and retries the same batch, so records arrive in
order. A batch the endpoint refuses for good (an HTTP 4xx other than
408/429) is set aside in ``rejected.jsonl`` in the spool folder instead of
blocking the queue. ``batch_size`` and ``flush_interval_s`` mean what they mean
for file sinks: at most that many records per delivery, and a partial batch
waits at most that long for company. On close the sender gets ``drain_timeout_s`` to finish;
what is left stays in the spool and goes first on the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from segflow.delivery.base import Outbox, RecordSink, SetAside
from segflow.delivery.common import RecordParams, sink_error, writable_problems
from segflow.delivery.spool import Spool
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.observe.metrics import Undelivered
from segflow.engine.text import path_part
from segflow.engine.workflow.confine import writes_path

log = logging.getLogger(__name__)


class RemoteParams(RecordParams):
    spool_dir: str = Field(
        "",
        description="Folder for records waiting while the endpoint is down "
        "(default: `.segflow/spool/<workflow>/<node id>`).",
        json_schema_extra=writes_path(),
    )
    memory_records: int = Field(
        1000,
        ge=0,
        le=1_000_000,
        description="Records kept in memory before spilling to the spool folder "
        "(0 = every record goes to disk first, so even a `kill -9` loses none).",
    )
    backoff_initial_s: float = Field(1.0, gt=0, le=600, description="First wait after a failure.")
    backoff_max_s: float = Field(60.0, gt=0, le=3600, description="Longest wait between retries.")
    drain_timeout_s: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="At stop, how long to keep delivering before leaving the rest spooled.",
    )
    min_free_mb: float = Field(
        50.0, ge=0, description="Refuse to start when the spool's disk has less free space (MiB)."
    )


class Rejected(Exception):
    """The endpoint refused the batch for good: retrying will not help."""


@dataclass
class Backoff:
    """Exponential waits between retries: initial, 2x, 4x, ... capped at ``maximum``."""

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    failures: int = 0

    def next(self) -> float:
        delay = min(self.maximum, self.initial * self.factor**self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


class Sender:
    """The thread that delivers the spool's batches, oldest first, one at a time."""

    def __init__(
        self,
        spool: Spool,
        deliver: Callable[[list[Any]], None],
        batch_size: int,
        linger_s: float,
        backoff: Backoff,
        rejected: Callable[[list[Any], Exception], None],
        name: str,
    ) -> None:
        self.spool = spool
        self.deliver = deliver
        self.batch_size = batch_size
        self.linger_s = linger_s
        self.backoff = backoff
        self.rejected = rejected
        self.stopping = threading.Event()  # deliver what is queued, then stop
        self.abort = threading.Event()  # stop now
        self.delivered = 0
        self.refused = 0
        self.last_error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _ready(self) -> bool:
        """A full batch is waiting, or some records have waited ``linger_s``, or we are stopping."""
        if len(self.spool) >= self.batch_size or self.spool.disk_count or self.stopping.is_set():
            return True
        return False

    def _run(self) -> None:
        while not self.abort.is_set():
            if not len(self.spool) and not self.spool.in_flight:  # a failed batch is retried even alone
                if self.stopping.is_set():
                    return
                self.spool.wait(0.1)
                continue
            deadline = time.monotonic() + self.linger_s  # a partial batch lingers for company
            while not self._ready() and not self.abort.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.spool.wait(remaining)
            batch = self.spool.take(self.batch_size)
            if batch is None:
                continue
            try:
                self.deliver(batch.items)
            except Rejected as exc:
                self.rejected(batch.items, exc)
                self.spool.commit()
                self.refused += len(batch.items)
                continue
            except Exception as exc:
                if self.last_error is None or str(exc) != str(self.last_error):
                    log.warning("%s: delivery failed, retrying: %s", self._thread.name, exc)
                self.last_error = exc
                self.abort.wait(self.backoff.next())
                continue
            self.spool.commit()
            self.delivered += len(batch.items)
            self.backoff.reset()
            self.last_error = None

    def stop(self, drain_timeout: float) -> None:
        self.stopping.set()
        with self.spool.changed:
            self.spool.changed.notify_all()
        self._thread.join(drain_timeout)
        self.abort.set()
        self._thread.join(5.0)


class Spooled:
    """A network or database sink's outbox: the spool, emptied by a :class:`Sender` in batches."""

    def __init__(self, sink: RemoteSink) -> None:
        p = sink.params
        self.sink = sink
        self.spool = Spool(sink.spool_folder(p, sink.context, sink.node_id), memory_limit=p.memory_records,
                           to_json=sink.to_json, from_json=sink.from_json)
        if len(self.spool):
            log.info("%s '%s': replaying %d spooled records first", sink.type_name, sink.node_id, len(self.spool))
        self.aside = SetAside(self.spool.folder / "rejected.jsonl", sink.to_json)
        self.sender = Sender(
            self.spool,
            sink.write,
            p.batch_size,
            p.flush_interval_s,
            Backoff(p.backoff_initial_s, p.backoff_max_s),
            self._reject,
            name=f"{sink.type_name}-{sink.node_id}",
        )

    def put(self, items: list[Any]) -> None:
        try:
            self.spool.put(items)
        except OSError as exc:
            raise sink_error(self.sink, f"cannot spool records to {self.spool.folder}", exc) from exc

    def check(self) -> None:
        """Nothing to raise: an endpoint that is down only delays records (they wait in the spool)."""

    def _reject(self, items: list[Any], exc: Exception) -> None:
        sink = self.sink
        log.error("%s '%s': %d records refused (%s); kept in %s", sink.type_name, sink.node_id, len(items), exc,
                  self.aside.path)
        self.aside.add(items, str(exc))

    def close(self) -> None:
        self.sender.stop(self.sink.params.drain_timeout_s)
        self.spool.close()
        if len(self.spool):
            log.warning("%s '%s': %d records stay spooled in %s for the next start", self.sink.type_name,
                        self.sink.node_id, len(self.spool), self.spool.folder)

    def undelivered(self) -> Undelivered | None:
        """Records still spooled after the drain, plus those the endpoint refused (in ``rejected.jsonl``)."""
        waiting, refused = len(self.spool), self.aside.kept + self.aside.lost
        if not (waiting or refused):
            return None
        reasons = []
        if waiting:
            last = self.sender.last_error
            reasons.append(f"{waiting} spooled for the next start" + (f" ({last})" if last else ""))
        if refused:
            reasons.append(f"{refused} refused, in rejected.jsonl")
        return Undelivered(self.sink.node_id, self.sink.type_name, waiting + refused, str(self.spool.folder),
                           "; ".join(reasons))


class RemoteSink(RecordSink):
    """A record sink whose items go through a spool to a background sender.

    Subclasses implement ``open`` (connect; the connection may stay down, the
    sender retries), ``write`` (send one batch; raise :class:`Rejected` when it is
    refused for good, anything else to retry) and ``shutdown`` (disconnect).
    """

    Params = RemoteParams
    params: RemoteParams

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        folder = cls.spool_folder(params, context, "<node>")
        return writable_problems(folder, "spool_dir", params.min_free_mb, folder=True)

    @staticmethod
    def spool_folder(params: Any, context: RunContext, node_id: str) -> Path:
        if params.spool_dir:
            return context.resolve(params.spool_dir)
        return context.resolve(Path(".segflow/spool") / path_part(context.workflow_name, "workflow") / node_id)

    def from_json(self, data: Any) -> Any:
        """An item read back from the spool's disk part (the inverse of :meth:`to_json`)."""
        return data

    def make_outbox(self) -> Outbox:
        return Spooled(self)
