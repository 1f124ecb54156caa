"""``sink.stdout``: one compact, human-readable line per frame for an operator's console.

``cam #12 t=1.20s: 3 found: stone x2 (0.91 0.77), bean (0.42)`` - classes
grouped with their confidences and, optionally, the value input. Combine
with ``only_when`` and ``cooldown_s`` so the console does not scroll away.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, Literal

from pydantic import Field

from segflow.delivery.common import Gate, SinkParams
from segflow.delivery.records import class_names, jsonable
from segflow.engine import Inputs, Kind, Port, SinkNode, node_type


class StdoutParams(SinkParams):
    stream: Literal["stdout", "stderr"] = Field("stdout", description="Where to print.")
    show_value: bool = Field(True, description="Append the value input as compact JSON.")
    max_classes: int = Field(8, ge=1, le=1000, description="Classes listed per line before '...'.")


def summary_line(source: str, frame: int, timestamp: float, detections: Any, value: Any, max_classes: int) -> str:
    """The line for one frame: where, when, how many, and which classes with confidences."""
    names = class_names(detections)
    head = f"{source} #{frame} t={timestamp:.2f}s: {len(names)} found"
    groups: dict[str, list[str]] = {}
    confidences = None if detections is None or not len(names) else detections.confidence
    for i, name in enumerate(names):
        groups.setdefault(name, [])
        if confidences is not None:
            groups[name].append(f"{float(confidences[i]):.2f}")
    parts = []
    for name, confs in list(groups.items())[:max_classes]:
        count = names.count(name)
        label = f"{name} x{count}" if count > 1 else name
        if len(confs) > 3:  # many of a kind: their confidence range, not a wall of numbers
            confs = [min(confs) + ".." + max(confs)] if min(confs) != max(confs) else [confs[0]]
        parts.append(f"{label} ({' '.join(confs)})" if confs else label)
    if len(groups) > max_classes:
        parts.append("...")
    line = head + (": " + ", ".join(parts) if parts else "")
    if value is not None:
        line += " | " + json.dumps(jsonable(value), separators=(",", ":"))
    return line


@node_type("sink.stdout")
class StdoutSink(SinkNode):
    """Print one compact line per frame: source, frame, time, classes and confidences."""

    Params = StdoutParams
    params: StdoutParams
    inputs = {
        "detections": Port(Kind.DETECTIONS, "The findings to summarise.", required=False),
        "image": Port(Kind.IMAGE, "The frame (identifies source and index).", required=False),
        "value": Port(Kind.VALUE, "A value to print beside the findings.", required=False),
    }

    def setup(self) -> None:
        p = self.params
        self._gate = Gate(p.every_n_frames, p.cooldown_s, p.only_when)
        self._lock = threading.Lock()

    def process(self, inputs: Inputs) -> dict[str, Any]:
        packet, detections, value = inputs.packet, inputs.get("detections"), inputs.get("value")
        if not self._gate.admit(packet, detections, value):
            return {}
        p = self.params
        line = summary_line(
            packet.source_id,
            packet.frame_index,
            packet.timestamp,
            detections,
            value if p.show_value else None,
            p.max_classes,
        )
        stream = sys.stdout if p.stream == "stdout" else sys.stderr
        with self._lock:
            stream.write(line + "\n")
            stream.flush()
        return {}
