"""What the network sinks share: a spool, a sender thread, retries with exponential backoff.

``process`` only puts records into the :class:`~segflow.delivery.spool.Spool`, so
a slow or dead endpoint never stalls the graph. One sender thread takes
batches oldest-first and delivers them; a failure waits (1 s, 2 s, 4 s, ...
up to ``backoff_max_s``) and retries the same batch, so records arrive in
order. A batch the endpoint refuses for good (an HTTP 4xx other than
408/429) is set aside in ``rejected.jsonl`` in the spool folder instead of
blocking the queue. On close the sender gets ``drain_timeout_s`` to finish;
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

from segflow.delivery.base import RecordSink
from segflow.delivery.common import sink_error, writable_problems
from segflow.delivery.linefile import LineFile
from segflow.delivery.records import RecordParams, dumps
from segflow.delivery.spool import Spool
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.observe.metrics import Undelivered
from segflow.engine.text import path_part

log = logging.getLogger(__name__)


class RemoteParams(RecordParams):
    spool_dir: str = Field(
        "",
        description="Folder for records waiting while the endpoint is down "
        "(default: `.segflow/spool/<workflow>/<node id>`).",
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
        deliver: Callable[[list[dict[str, Any]]], None],
        batch_size: int,
        linger_s: float,
        backoff: Backoff,
        rejected: Callable[[list[dict[str, Any]], Exception], None],
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
            if not len(self.spool):
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


class RemoteSink(RecordSink):
    """A record sink whose writes go through a spool to a background sender."""

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
        return context.resolve(Path(".segflow/spool") / path_part(context.workflow, "workflow") / node_id)

    def deliver(self, records: list[dict[str, Any]]) -> None:
        """Send one batch; raise :class:`Rejected` when refused for good, anything else to retry."""
        raise NotImplementedError

    def connect(self) -> None:
        """Start the connection (may stay down: the sender retries)."""

    def disconnect(self) -> None:
        """End the connection after the sender stopped."""

    def open(self) -> None:
        p = self.params
        self.spool = Spool(self.spool_folder(p, self.context, self.node_id), memory_limit=p.memory_records)
        if len(self.spool):
            log.info(
                "%s '%s': replaying %d spooled records first",
                self.type_name,
                self.node_id,
                len(self.spool),
            )
        self.connect()
        self.sender = Sender(
            self.spool,
            self.deliver,
            p.batch_size,
            p.flush_interval_s,
            Backoff(p.backoff_initial_s, p.backoff_max_s),
            self._reject,
            name=f"{self.type_name}-{self.node_id}",
        )

    def accept(self, records: list[dict[str, Any]]) -> None:
        try:
            self.spool.put(records)
        except OSError as exc:
            raise sink_error(self, f"cannot spool records to {self.spool.folder}", exc) from exc

    def write(self, records: list[dict[str, Any]]) -> None:
        self.accept(records)

    def _reject(self, records: list[dict[str, Any]], exc: Exception) -> None:
        log.error(
            "%s '%s': %d records refused (%s); kept in rejected.jsonl",
            self.type_name,
            self.node_id,
            len(records),
            exc,
        )
        file = LineFile(self.spool.folder / "rejected.jsonl")
        file.open()
        try:
            file.write([dumps({"error": str(exc), "record": r}) + "\n" for r in records])
        finally:
            file.close()

    def shutdown(self) -> None:
        sender = getattr(self, "sender", None)
        if sender is not None:
            sender.stop(self.params.drain_timeout_s)
        spool = getattr(self, "spool", None)
        try:
            if spool is not None:
                spool.close()
                if len(spool):
                    log.warning(
                        "%s '%s': %d records stay spooled in %s for the next start",
                        self.type_name,
                        self.node_id,
                        len(spool),
                        spool.folder,
                    )
        finally:
            self.disconnect()

    def undelivered(self) -> Undelivered | None:
        """Records still spooled after the drain, plus those the endpoint refused (in ``rejected.jsonl``)."""
        spool, sender = getattr(self, "spool", None), getattr(self, "sender", None)
        if spool is None:
            return super().undelivered()
        waiting, refused = len(spool), sender.refused if sender is not None else 0
        if not (waiting or refused):
            return super().undelivered()
        reasons = []
        if waiting:
            last = sender.last_error if sender is not None else None
            reasons.append(f"{waiting} spooled for the next start" + (f" ({last})" if last else ""))
        if refused:
            reasons.append(f"{refused} refused, in rejected.jsonl")
        return Undelivered(self.node_id, self.type_name, waiting + refused, str(spool.folder), "; ".join(reasons))
