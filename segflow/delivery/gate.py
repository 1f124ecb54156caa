"""The one sink gate: which frames a sink acts on (``every_n_frames``, ``cooldown_s``, ``only_when``).

Every sink that has these params (record sinks, images, video, the console,
the line outputs, the dataset collector) derives from :class:`GatedSink` and asks
:meth:`GatedSink.admitted` for a frame's :class:`~segflow.delivery.records.Findings`,
so the four options mean the same everywhere and are checked in the same order: the
N-th frame first (free), then the condition, then the sink's own reason to act on the
frame (``wanted``: the dataset collector's "is this frame hard?"), then
``only_on_change`` (frame values that must differ from the last written frame's), then
the cooldown. A frame the sink does not want never starts a cooldown. The condition itself
is the shared language of :mod:`segflow.delivery.condition`; the gate only calls it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from segflow.delivery.common import GateParams
from segflow.delivery.condition import Condition
from segflow.delivery.records import Findings
from segflow.engine import Inputs, SinkNode

_NEVER = object()  # no frame of the source written yet: the first always differs


class Gate:
    """Per source, whether a frame is written: every N-th, when a condition holds, after a cooldown.

    The cooldown runs on frame timestamps, not the wall clock, so a replayed
    video gives the same output as the live run did.
    """

    def __init__(self, every_n: int = 1, cooldown_s: float = 0.0, condition: str = "",
                 on_change: Sequence[str] = ()) -> None:
        self.every_n = every_n
        self.cooldown_s = cooldown_s
        self.condition = Condition(condition, "only_when")
        self.on_change = [Condition(text, "only_on_change") for text in on_change]
        self._seen: dict[str, int] = {}
        self._last: dict[str, float] = {}
        self._written: dict[str, tuple[Any, ...]] = {}  # per source, the on-change values last written

    @classmethod
    def of(cls, params: GateParams) -> Gate:
        return cls(params.every_n_frames, params.cooldown_s, params.only_when, params.only_on_change)

    def admit(self, findings: Findings, wanted: Callable[[Findings], bool] | None = None) -> bool:
        """Whether to act on the frame; ``wanted``: the sink's own test, after the condition, before the cooldown."""
        source, timestamp = findings.packet.source_id, findings.packet.timestamp
        seen = self._seen.get(source, 0)
        self._seen[source] = seen + 1
        if seen % self.every_n:
            return False
        if not self.condition.holds(findings.packet, findings.detections, findings.value, findings.image):
            return False
        if wanted is not None and not wanted(findings):
            return False
        if self.on_change:
            values = tuple(c.value(findings.packet, findings.detections, findings.value) for c in self.on_change)
            if self._written.get(source, _NEVER) == values:
                return False
        last = self._last.get(source)
        if last is not None and self.cooldown_s > 0 and timestamp - last < self.cooldown_s:
            return False
        self._last[source] = timestamp
        if self.on_change:
            self._written[source] = values
        return True


class GatedSink(SinkNode):
    """A sink whose params include :class:`GateParams`; subclasses call ``super().setup()`` first."""

    params: GateParams

    def setup(self) -> None:
        self.gate = Gate.of(self.params)
        self._gate_lock = threading.Lock()  # the counts and cooldowns are per source, whatever thread calls

    def admitted(self, inputs: Inputs, wanted: Callable[[Findings], bool] | None = None) -> Findings | None:
        """The frame's findings when the gate (and ``wanted``, see :meth:`Gate.admit`) lets it through, else None."""
        findings = Findings(inputs.packet, inputs.get("detections"), inputs.get("value"), inputs.get("image"))
        with self._gate_lock:
            admitted = self.gate.admit(findings, wanted)
        return findings if admitted else None
