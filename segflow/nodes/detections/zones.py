"""``zone.count`` and ``line.count``: supervision's PolygonZone and LineZone as nodes.

Both pass their detections through and put counts per class name on their
``value`` port. State (a line's running in/out totals) is kept per source, so
four cameras sharing one node count four separate lines.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from segflow.delivery.records import class_names as record_class_names
from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type, takes_node_value
from segflow.nodes.detections.filter import Polygon

if TYPE_CHECKING:  # supervision costs ~0.8 s to import: only nodes that run pay it
    import supervision as sv

Anchor = Literal[
    "center",
    "center_left",
    "center_right",
    "top_center",
    "top_left",
    "top_right",
    "bottom_left",
    "bottom_center",
    "bottom_right",
    "center_of_mass",
]


def _positions(anchors: list[str]) -> list[sv.Position]:
    import supervision as sv

    return [sv.Position[anchor.upper()] for anchor in anchors]


def class_names(detections: sv.Detections) -> list[str]:
    """A name per detection, as records name it; 'object' when it has not even a class id (a count's key)."""
    return record_class_names(detections, unnamed="object")


def count_by_name(names: list[str], selected: np.ndarray) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, chosen in zip(names, selected, strict=True):
        if chosen:
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


class ZoneParams(Params):
    polygon: Polygon = Field(
        description="The zone: a list of at least 3 [x, y] pixel points, or `$node.port` for a zone "
        "another node draws per frame (e.g. polygon.from_mask's polygon).",
        json_schema_extra=takes_node_value("polygon"),
    )
    anchors: list[Anchor] = Field(
        default_factory=lambda: ["bottom_center"],
        min_length=1,
        description="Points of each box that must be inside the zone for it to count.",
    )
    field: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="If set, add a true/false field of this name to the detections.",
    )


class ZoneTrigger:
    """Which detections are inside a zone, with one supervision PolygonZone per source.

    A polygon given per frame by another node (a dynamic zone) makes a new zone
    only when it changes; thread-safe, as nodes are called from several stages.
    """

    def __init__(self) -> None:
        self._zones: dict[str, tuple[tuple[tuple[float, float], ...], sv.PolygonZone]] = {}
        self._lock = threading.Lock()

    def inside(self, source: str, params: ZoneParams, detections: sv.Detections) -> np.ndarray:
        import supervision as sv

        polygon = tuple(map(tuple, params.polygon))
        with self._lock:
            known = self._zones.get(source)
            if known is None or known[0] != polygon:
                zone = sv.PolygonZone(
                    polygon=np.array(polygon).round().astype(np.int64),
                    triggering_anchors=_positions(params.anchors),
                )
                known = self._zones[source] = (polygon, zone)
            return known[1].trigger(detections) if len(detections) else np.zeros(0, bool)

    def frame(self, source: str, params: ZoneParams, detections: sv.Detections) -> ZoneFrame:
        """One frame against the zone: who is inside, the count per class, the data with ``field`` added."""
        inside = self.inside(source, params, detections)
        data = dict(detections.data)
        if params.field:
            data[params.field] = inside.astype(bool)
        return ZoneFrame(inside, {"count": int(inside.sum()),
                                  "per_class": count_by_name(class_names(detections), inside)}, data)


@dataclasses.dataclass(frozen=True)
class ZoneFrame:
    """What :meth:`ZoneTrigger.frame` found: the same for ``zone.count`` and ``zone.time``."""

    inside: np.ndarray  # (N,) bool
    value: dict[str, Any]  # {'count': n inside, 'per_class': {name: n}}
    data: dict[str, Any]  # the detections' data, with the params' `field` when set


def require_tracks(detections: sv.Detections, node_type: str, node_id: str, what: str) -> None:
    """Refuse detections without tracker ids: ``what`` (a crossing, a time in the zone) belongs to one object.

    Validation already asks for a tracker upstream (``needed_fields``); this catches one that gave no ids.
    """
    if len(detections) and detections.tracker_id is None:
        raise NodeError(f"{node_type} '{node_id}': the detections have no tracker ids, so {what}",
                        hint=f"put track.bytetrack before {node_type}")


@node_type("zone.count")
class ZoneCount(Node):
    """Count detections inside a polygon, per class, each frame (supervision PolygonZone)."""

    Params = ZoneParams
    params: ZoneParams
    inputs = {"detections": Port(Kind.DETECTIONS, "Detections of one frame.")}
    outputs = {
        "detections": Port(Kind.DETECTIONS, "The same detections (with `field` when set)."),
        "value": Port(Kind.VALUE, "{'count': n, 'per_class': {name: n}} for this frame."),
    }

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset({params.field} if params.field else ())

    def setup(self) -> None:
        self._zones = ZoneTrigger()

    def process(self, inputs: Inputs) -> dict[str, Any]:
        detections = inputs["detections"]
        params = inputs.params or self.params
        found = self._zones.frame(inputs.packet.source_id, params, detections)
        if params.field:
            detections = dataclasses.replace(detections, data=found.data)
        return {"detections": detections, "value": found.value}


class LineParams(Params):
    start: tuple[float, float] | None = Field(None, description="One end of the line, [x, y] in pixels.")
    end: tuple[float, float] | None = Field(None, description="The other end of the line, [x, y] in pixels.")
    line: list[tuple[float, float]] | None = Field(
        None,
        description="The line as [[x, y], [x, y]] instead of start and end: e.g. a `line` workflow input "
        "($inputs.gate) or `$node.port`, a line another node gives per frame (the counts restart when it moves).",
        json_schema_extra=takes_node_value("line"),
    )
    anchors: list[Anchor] = Field(
        default_factory=lambda: ["top_left", "top_right", "bottom_left", "bottom_right"],
        min_length=1,
        description="Points of each box that must all cross the line for a crossing to count.",
    )
    minimum_crossing_threshold: int = Field(
        1, ge=1, le=100, description="Frames an object must stay across before it counts."
    )

    @model_validator(mode="after")
    def _one_line(self) -> LineParams:
        if self.line is not None and (self.start is not None or self.end is not None):
            raise ValueError("give either `line` or `start` and `end`, not both")
        if self.line is not None and len(self.line) != 2:
            raise ValueError(f"`line` needs exactly 2 points, got {len(self.line)}")
        if self.line is None and (self.start is None or self.end is None):
            raise ValueError("give `start` and `end` (or `line`: [[x, y], [x, y]])")
        a, b = self.ends()
        if a == b:
            raise ValueError("start and end are the same point: a line needs two")
        return self

    def ends(self) -> tuple[tuple[float, float], tuple[float, float]]:
        if self.line is not None:
            return tuple(self.line[0]), tuple(self.line[1])  # type: ignore[return-value]
        assert self.start is not None and self.end is not None
        return tuple(self.start), tuple(self.end)  # type: ignore[return-value]


@node_type("line.count")
class LineCount(Node):
    """Count tracked objects crossing a line, in and out per class (supervision LineZone)."""

    Params = LineParams
    params: LineParams
    stateful = True
    inputs = {"detections": Port(Kind.DETECTIONS, "Tracked detections (tracker_id set).")}
    outputs = {
        "detections": Port(Kind.DETECTIONS, "The same detections, passed through."),
        "value": Port(
            Kind.VALUE,
            "Running totals {'in', 'out', 'in_per_class', 'out_per_class'} and this frame's "
            "crossings {'crossed_in', 'crossed_out'}.",
        ),
    }

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset()

    @classmethod
    def needed_fields(cls, params: Any) -> dict[str, str]:
        return {"tracker_id": "put track.bytetrack between the detector and line.count: a crossing is one "
                "object seen on both sides, so objects need identities across frames"}

    def setup(self) -> None:
        self._lines: dict[str, tuple[Any, sv.LineZone, dict[str, int], dict[str, int]]] = {}
        self._lock = threading.Lock()

    def process(self, inputs: Inputs) -> dict[str, Any]:
        import supervision as sv

        detections = inputs["detections"]
        require_tracks(detections, "line.count", self.node_id, "a crossing cannot be told from two different objects")
        names = class_names(detections)
        p = inputs.params or self.params
        ends = p.ends()
        with self._lock:
            state = self._lines.get(inputs.packet.source_id)
            if state is None or state[0] != ends:  # a line given per frame that moved: its counts start afresh
                line = sv.LineZone(
                    start=sv.Point(*ends[0]),
                    end=sv.Point(*ends[1]),
                    triggering_anchors=_positions(p.anchors),
                    minimum_crossing_threshold=p.minimum_crossing_threshold,
                )
                state = self._lines[inputs.packet.source_id] = (ends, line, {}, {})
            _, line, totals_in, totals_out = state
            crossed_in, crossed_out = line.trigger(detections)
            for totals, crossed in ((totals_in, crossed_in), (totals_out, crossed_out)):
                for name, n in count_by_name(names, crossed).items():
                    totals[name] = totals.get(name, 0) + n
            value = {
                "in": int(line.in_count),
                "out": int(line.out_count),
                "in_per_class": dict(sorted(totals_in.items())),
                "out_per_class": dict(sorted(totals_out.items())),
                "crossed_in": int(crossed_in.sum()),
                "crossed_out": int(crossed_out.sum()),
            }
        return {"detections": detections, "value": value}
