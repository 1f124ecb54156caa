"""What the line outputs (``sink.modbus``, ``sink.opcua``) share: the gate, value writes, pulses, a sender.

A PLC or an OPC UA server holds *state*, not a log: the reject gate is open or
shut, a register holds the last length. So unlike the record sinks a line
output keeps no disk spool and writes the present. ``process`` evaluates the
writes of a frame that passed the gate and hands them to a sender thread, so
a slow or absent server never stalls the graph. The sender connects (and
reconnects, with backoff), writes the updates in order and switches each
pulsed output back off ``pulse_ms`` later (a later pulse of the same output
retriggers it). While the server is away updates wait in a bounded queue
(``queue_size``, the oldest go first); one older than ``max_age_s`` is dropped
instead of written late, because a reject pulse for a product that has passed
the gate would throw out the wrong one. A write the server refuses for good
(an illegal address, a type mismatch) is logged and dropped so the queue moves
on. At stop the sender gets ``drain_timeout_s`` to write what is queued and to
end every pulse.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pydantic import Field

from segflow.delivery.base import RECORD_INPUTS
from segflow.delivery.common import GateParams
from segflow.delivery.condition import Condition
from segflow.delivery.gate import GatedSink
from segflow.delivery.remote import Backoff, Rejected
from segflow.engine import Inputs, PacketInfo, Port

log = logging.getLogger(__name__)


class LineParams(GateParams):
    """Options every line output has, beside the gate."""

    timeout_s: float = Field(3.0, gt=0, le=600, description="Longest wait to connect or for one answer.")
    queue_size: int = Field(
        1000, ge=1, le=1_000_000,
        description="Frames' writes kept while the server is away; beyond it the oldest are dropped (logged).",
    )
    max_age_s: float = Field(
        0.0, ge=0, le=86_400,
        description="Drop a frame's writes instead of writing them this long after the sink got the frame "
        "(0 = never; set it for pulses, e.g. 1.0, so a late reject never hits the wrong product).",
    )
    backoff_initial_s: float = Field(0.5, gt=0, le=600, description="First wait after a failure.")
    backoff_max_s: float = Field(10.0, gt=0, le=3600, description="Longest wait between reconnect attempts.")
    drain_timeout_s: float = Field(
        5.0, ge=0, le=3600, description="At stop, how long to keep writing what is queued and ending pulses."
    )


Getter = Callable[[PacketInfo, Any, Any], Any]
"""A write's value for one frame: ``(packet, detections, value input) -> value``, None when missing."""


def getter(spec: bool | int | float | str) -> Getter:
    """A constant, or text in the condition language read as one frame value (``max(length_mm)``)."""
    if isinstance(spec, str):
        return Condition(spec, "value").value
    return lambda packet, detections, value: spec


@dataclass(frozen=True)
class Write:
    """One output set to one value; a pulse returns it to ``off`` after ``pulse_s``."""

    target: Hashable
    value: Any
    pulse_s: float = 0.0
    off: Any = None


@dataclass
class Update:
    """The writes of one frame, in the order they are declared."""

    writes: list[Write]
    born: float
    label: str


class Backend(Protocol):
    """The protocol end of a line output: used from the sender thread only."""

    def connect(self) -> None: ...

    def write(self, writes: Sequence[tuple[Hashable, Any]]) -> None: ...

    def disconnect(self) -> None: ...


class LineSender:
    """The thread that owns the connection: writes updates in order, ends pulses, reconnects."""

    def __init__(self, backend: Backend, target: str, queue_size: int, max_age_s: float, backoff: Backoff,
                 name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.backend = backend
        self.target = target
        self.queue_size = queue_size
        self.max_age_s = max_age_s
        self.backoff = backoff
        self.clock = clock
        self.connected = False
        self.delivered = 0  # frames' writes that landed
        self.expired = 0  # dropped for max_age_s
        self.overflowed = 0  # dropped for queue_size
        self.refused = 0  # refused by the server for good
        self.last_error: Exception | None = None
        self._queue: deque[Update] = deque()
        self._resets: dict[Hashable, tuple[float, Any]] = {}  # target -> (deadline, off value)
        self._changed = threading.Condition()
        self._stopping = False
        self._abort = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, update: Update) -> None:
        with self._changed:
            if len(self._queue) >= self.queue_size:
                self._queue.popleft()
                self.overflowed += 1
                if self.overflowed == 1 or self.overflowed % 1000 == 0:
                    log.error("%s: %s is away and %d frames' writes wait; dropped the oldest (%d so far)",
                              self._thread.name, self.target, self.queue_size, self.overflowed)
            self._queue.append(update)
            self._changed.notify_all()

    def pending(self) -> int:
        with self._changed:
            return len(self._queue) + len(self._resets)

    # -- the thread ---------------------------------------------------------------------------
    def _next(self) -> tuple[str, Any]:
        """Wait for work: ("connect", None), ("reset", [(target, off)]), ("update", Update) or ("stop", None).

        The connection is kept up even while idle, so the first reject after a
        quiet spell does not wait for a handshake.
        """
        with self._changed:
            while not self._abort.is_set():
                if not self.connected and not self._stopping:
                    return "connect", None
                now = self.clock()
                due = [(t, off) for t, (deadline, off) in self._resets.items() if deadline <= now]
                if due:
                    return "reset", due
                if self._queue:
                    return "update", self._queue.popleft()
                if self._stopping and not self._resets:
                    return "stop", None
                wait = min((d for d, _ in self._resets.values()), default=now + 0.5) - now
                self._changed.wait(max(wait, 0.001))
            return "stop", None

    def _run(self) -> None:
        try:
            while not self._abort.is_set():
                kind, work = self._next()
                if kind == "stop":
                    return
                if kind == "connect":
                    self._connect()
                    continue
                if kind == "update" and self.max_age_s and self.clock() - work.born > self.max_age_s:
                    self._expire(work)
                    continue
                if not self.connected and not self._connect():
                    self._give_back(kind, work)
                    continue
                try:
                    self._do(kind, work)
                except Rejected as exc:
                    self.refused += 1
                    log.error("%s: %s refused %s: %s; dropped", self._thread.name, self.target,
                              work.label if kind == "update" else "switching a pulse off", exc)
                except Exception as exc:
                    self._give_back(kind, work)
                    self._failed(exc)
        finally:
            self._end_pulses()

    def _do(self, kind: str, work: Any) -> None:
        if kind == "reset":
            self.backend.write(work)
            with self._changed:
                for target, _ in work:
                    self._resets.pop(target, None)
            return
        update: Update = work
        self.backend.write([(w.target, w.value) for w in update.writes])
        self.delivered += 1
        now = self.clock()
        with self._changed:
            for w in update.writes:
                if w.pulse_s > 0:
                    self._resets[w.target] = (now + w.pulse_s, w.off)  # a later pulse retriggers
                else:
                    self._resets.pop(w.target, None)

    def _give_back(self, kind: str, work: Any) -> None:
        """An update that could not be written goes back to the head of the queue (resets stay scheduled)."""
        if kind != "update":
            return
        with self._changed:
            if len(self._queue) < self.queue_size:
                self._queue.appendleft(work)
            else:
                self.overflowed += 1

    def _expire(self, update: Update) -> None:
        self.expired += 1
        if self.expired == 1 or self.expired % 1000 == 0:
            log.warning("%s: dropped the writes of %s: older than max_age_s=%g s (%d dropped so far)",
                        self._thread.name, update.label, self.max_age_s, self.expired)

    def _connect(self) -> bool:
        try:
            self.backend.connect()
        except Exception as exc:
            self._failed(exc)
            return False
        if self.last_error is not None:
            log.warning("%s: reconnected to %s", self._thread.name, self.target)
        self.connected, self.last_error = True, None
        self.backoff.reset()
        return True

    def _failed(self, exc: Exception) -> None:
        if self.last_error is None or str(exc) != str(self.last_error):
            log.warning("%s: %s: %s; retrying (writes wait, queue_size %d)", self._thread.name, self.target,
                        exc, self.queue_size)
        self.last_error = exc
        self._disconnect()
        self._abort.wait(self.backoff.next())

    def _disconnect(self) -> None:
        self.connected = False
        try:
            self.backend.disconnect()
        except Exception as exc:
            log.debug("%s: disconnect failed: %s", self._thread.name, exc)

    def _end_pulses(self) -> None:
        """Switch every pulsed output off now (a stop cut the drain short): never leave a gate open."""
        with self._changed:
            resets = [(t, off) for t, (_, off) in self._resets.items()]
            self._resets.clear()
        if resets and self.connected:
            try:
                self.backend.write(resets)
            except Exception as exc:
                log.error("%s: could not switch %d pulsed output(s) off on %s: %s", self._thread.name,
                          len(resets), self.target, exc)
        self._disconnect()

    def stop(self, drain_timeout: float) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join(drain_timeout)
        self._abort.set()
        with self._changed:
            self._changed.notify_all()
        self._thread.join(10.0)
        left = len(self._queue)
        if left:
            log.warning("%s: %d frames' writes were not written to %s before the stop", self._thread.name, left,
                        self.target)


class LineSink(GatedSink):
    """Gate a frame, evaluate its writes, queue them for the sender; subclasses speak the protocol."""

    Params = LineParams
    params: LineParams
    inputs: ClassVar[dict[str, Port]] = RECORD_INPUTS

    # -- what subclasses implement ---------------------------------------------------------------
    def write_specs(self) -> Sequence[Any]:
        """The declared writes; each has a ``value`` (a constant, or a frame value in the condition language)."""
        raise NotImplementedError

    def make_write(self, spec: Any, value: Any) -> Write:
        """The write of ``spec`` with this frame's ``value``; NodeError when it does not fit."""
        raise NotImplementedError

    def make_backend(self) -> Backend:
        raise NotImplementedError

    def target(self) -> str:
        """Where writes go, for messages (credentials masked)."""
        return ""

    # -- the shared machinery ----------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        p = self.params
        self._writes: list[tuple[Getter, Any]] = [(getter(s.value), s) for s in self.write_specs()]
        self.sender = LineSender(self.make_backend(), self.target(), p.queue_size, p.max_age_s,
                                 Backoff(p.backoff_initial_s, max(p.backoff_max_s, p.backoff_initial_s)),
                                 name=f"{self.type_name}-{self.node_id}")

    def process(self, inputs: Inputs) -> dict[str, Any]:
        findings = self.admitted(inputs)
        if findings is None:
            return {}
        packet = findings.packet
        writes = []
        for get, spec in self._writes:
            value = get(packet, findings.detections, findings.value)
            if value is not None:  # e.g. max(length_mm) of a frame without detections: nothing to write
                writes.append(self.make_write(spec, value))
        if writes:
            label = f"source '{packet.source_id}' frame {packet.frame_index}"
            self.sender.put(Update(writes, time.monotonic(), label))
        return {}

    def close(self) -> None:
        sender = getattr(self, "sender", None)
        if sender is not None:
            sender.stop(self.params.drain_timeout_s)
