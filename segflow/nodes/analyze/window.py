"""``aggregate.window``: frame values summed up over tumbling windows of seconds or frames.

Each frame, every entry of ``values`` (a frame value in the condition language:
``count(class == stone)``, ``max(length_mm)``, ``value.in``) is read; when a
window is complete its summary is put on the ``value`` port of the frame that
completes it, with ``closed: true``: on the window's last frame for
``window_frames``, on the first frame past its end for ``window_s`` (frame
time, so a replayed video gives the same windows). On the other frames the port
holds the last closed window with ``closed: false``, so a sink writes each
window once with ``only_when: value.closed``. Windows are kept per source. A
window still open when the input ends is not reported.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, model_validator

from segflow.delivery.condition import Condition
from segflow.delivery.records import class_names
from segflow.engine import Inputs, Kind, Node, Params, Port, node_type
from segflow.engine.workflow.condition_check import FrameValue

Reduction = Literal["count", "sum", "mean", "min", "max", "first", "last", "difference"]


class WindowParams(Params):
    window_s: float | None = Field(None, gt=0, le=86_400 * 31, description="Window length in seconds of frame time.")
    window_frames: int | None = Field(None, ge=1, le=10_000_000, description="Window length in frames.")
    values: dict[str, FrameValue] = Field(
        default_factory=dict,
        description='Frame values to aggregate, name: expression, e.g. {stones: "count(class == stone)", '
        'longest: "max(length_mm)", crossed: "value.in"}.',
    )
    reduce: list[Reduction] = Field(
        default_factory=lambda: ["sum", "mean", "min", "max"], min_length=1,
        description="What each value becomes over a window: count (frames where it is present), sum, mean, min, "
        "max, first, last, difference (last - first: for running totals such as line.count's).",
    )
    per_class: bool = Field(True, description="Also count the detections per class over the window.")

    @model_validator(mode="after")
    def _one_length(self) -> WindowParams:
        if (self.window_s is None) == (self.window_frames is None):
            raise ValueError("give exactly one of window_s (seconds) or window_frames")
        return self


@dataclass
class _Window:
    index: int
    start: float
    end: float = 0.0
    frames: int = 0
    samples: dict[str, list[float]] = field(default_factory=dict)
    per_class: dict[str, int] = field(default_factory=dict)


def summarise(samples: list[float], reductions: list[str]) -> dict[str, float | int | None]:
    """Each reduction of the present (non-missing) samples, in order; None where there are none."""
    present = [v for v in samples if v is not None and not (isinstance(v, float) and math.isnan(v))]
    out: dict[str, float | int | None] = {}
    for op in reductions:
        if op == "count":
            out[op] = len(present)
        elif not present:
            out[op] = None
        else:
            out[op] = {"sum": lambda: sum(present), "mean": lambda: sum(present) / len(present),
                       "min": lambda: min(present), "max": lambda: max(present), "first": lambda: present[0],
                       "last": lambda: present[-1], "difference": lambda: present[-1] - present[0]}[op]()
    return out


@node_type("aggregate.window")
class WindowAggregate(Node):
    """Aggregate frame values over tumbling windows (seconds or frames): count, sum, mean, min, max, difference."""

    Params = WindowParams
    params: WindowParams
    stateful = True
    inputs = {
        "detections": Port(Kind.DETECTIONS, "Detections the values read (and per-class counts).", required=False),
        "value": Port(Kind.VALUE, "A frame value the values may name (value.in).", required=False),
    }
    outputs = {"value": Port(Kind.VALUE, "The last closed window: {window, start, end, frames, closed, <name>: "
                                         "{sum, mean, ...}, per_class}; None before the first closes.")}

    def setup(self) -> None:
        self.configure()
        self._open: dict[str, _Window] = {}  # per source, the window being filled
        self._origin: dict[str, float] = {}  # per source, the first frame's time: window_s counts from it
        self._count: dict[str, int] = {}  # per source, windows closed so far (window_frames)
        self._closed: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def configure(self) -> None:
        self.expressions = [(name, Condition(text, f"values.{name}")) for name, text in self.params.values.items()]

    def process(self, inputs: Inputs) -> dict[str, Any]:
        packet, detections, value = inputs.packet, inputs.get("detections"), inputs.get("value")
        source, timestamp, p = packet.source_id, float(packet.timestamp), self.params
        sample = {name: expr.value(packet, detections, value) for name, expr in self.expressions}
        names = class_names(detections) if p.per_class and detections is not None else []
        with self._lock:
            closed = False
            window = self._open.get(source)
            if p.window_s is not None:
                origin = self._origin.setdefault(source, timestamp)
                index = int((timestamp - origin) // p.window_s)
                if window is not None and index != window.index:  # this frame is past the window's end
                    self._closed[source], window, closed = self._summary(window), None, True
                if window is None:
                    window = self._open[source] = _Window(index, origin + index * p.window_s)
            elif window is None:
                window = self._open[source] = _Window(self._count.get(source, 0), timestamp)
            window.frames += 1
            window.end = timestamp
            for name, v in sample.items():
                window.samples.setdefault(name, []).append(v)
            for name in names:
                window.per_class[name] = window.per_class.get(name, 0) + 1
            if p.window_frames is not None and window.frames == p.window_frames:  # this frame completes it
                self._closed[source], closed = self._summary(window), True
                self._count[source] = window.index + 1
                del self._open[source]
            last = self._closed.get(source)
        return {"value": None if last is None else {**last, "closed": closed}}

    def _summary(self, window: _Window) -> dict[str, Any]:
        p = self.params
        end = window.start + p.window_s if p.window_s is not None else window.end
        out: dict[str, Any] = {"window": window.index, "start": window.start, "end": end, "frames": window.frames}
        for name in p.values:
            out[name] = summarise(window.samples.get(name, []), list(p.reduce))
        if p.per_class:
            out["per_class"] = dict(sorted(window.per_class.items()))
        return out
