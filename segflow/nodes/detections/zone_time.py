"""``zone.time``: how long each tracked object has been inside a zone, in seconds and frames.

"The pallet has waited 40 s in the loading bay", "a person stayed 5 min in
front of the machine": a dwell time is per object, so the node needs tracker
ids (validation refuses it without a tracker upstream, as it does
``line.count``). Seconds come from the frames' timestamps, not from frame
counts, so a camera that drops frames or a video at 12.5 FPS still gives true
seconds; the time of a visit runs from the first frame the object was seen
inside to the current one. A track that leaves and comes back either starts
again from zero (``on_exit: reset``) or carries on from what it had
(``accumulate``). A track hidden for a while (occluded, missed by the detector)
is the same visit when it reappears inside; one not seen for ``forget_s`` is
forgotten. The clock is :class:`ZoneClock`, pure logic tested without a graph.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from segflow.engine import Inputs, Kind, Node, Port, node_type
from segflow.nodes.detections.zones import ZoneParams, ZoneTrigger, require_tracks

FIELD_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


@dataclass
class _Track:
    entered: float  # timestamp of the first frame of the current visit (NaN: outside now)
    last_seen: float
    banked_s: float = 0.0  # seconds of earlier visits (accumulate)
    frames: int = 0


class ZoneClock:
    """Seconds and frames each track has spent inside a zone, from frame timestamps (one source)."""

    def __init__(self, accumulate: bool, forget_s: float) -> None:
        self.accumulate = accumulate
        self.forget_s = forget_s
        self._tracks: dict[int, _Track] = {}

    def update(self, timestamp: float, track_ids: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each detection's seconds and frames in the zone so far (NaN and 0 for untracked, id < 0)."""
        seconds = np.full(len(track_ids), np.nan)
        frames = np.zeros(len(track_ids), dtype=np.int64)
        for i, (raw, now_inside) in enumerate(zip(track_ids, inside, strict=True)):
            track_id = int(raw)
            if track_id < 0:
                continue
            track = self._tracks.get(track_id)
            if now_inside:
                if track is None:
                    track = self._tracks[track_id] = _Track(timestamp, timestamp)
                elif math.isnan(track.entered):
                    track.entered = timestamp  # a new visit: banked seconds stay (only kept when accumulating)
                track.frames += 1
                track.last_seen = timestamp
                seconds[i] = track.banked_s + max(0.0, timestamp - track.entered)
                frames[i] = track.frames
            elif track is not None:
                if not math.isnan(track.entered):  # it just left: the visit ends at its last frame inside
                    if not self.accumulate:
                        del self._tracks[track_id]
                        seconds[i] = 0.0
                        continue
                    track.banked_s += max(0.0, track.last_seen - track.entered)
                    track.entered = math.nan
                track.last_seen = timestamp
                seconds[i], frames[i] = track.banked_s, track.frames
            else:
                seconds[i] = 0.0
        self._forget(timestamp)
        return seconds, frames

    def _forget(self, timestamp: float) -> None:
        stale = [k for k, t in self._tracks.items() if timestamp - t.last_seen > self.forget_s]
        for key in stale:
            del self._tracks[key]


class ZoneTimeParams(ZoneParams):
    on_exit: Literal["reset", "accumulate"] = Field(
        "reset", description="A track that leaves the zone and comes back: start again from 0 (reset) or carry on "
        "from the time it had (accumulate).",
    )
    outside: Literal["keep", "drop"] = Field(
        "keep", description="Detections outside the zone: keep them (time 0, or their earlier total when "
        "accumulating) or drop them from the output.",
    )
    time_field: str = Field("time_in_zone_s", pattern=FIELD_NAME, description="Field with the seconds in the zone.")
    frames_field: str = Field("frames_in_zone", pattern=FIELD_NAME, description="Field with the frames in the zone.")
    forget_s: float = Field(
        60.0, gt=0, le=86_400 * 31,
        description="A track not seen for this many seconds (frame time) is forgotten: its id starts afresh.",
    )

    @model_validator(mode="after")
    def _distinct_names(self) -> ZoneTimeParams:
        names = [n for n in (self.time_field, self.frames_field, self.field) if n]
        if len(set(names)) != len(names):
            raise ValueError(f"time_field, frames_field and field must be different names, got {', '.join(names)}")
        return self


@node_type("zone.time")
class ZoneTime(Node):
    """Seconds and frames each tracked object has spent inside a polygon (time in zone), from frame timestamps."""

    Params = ZoneTimeParams
    params: ZoneTimeParams
    stateful = True
    inputs = {"detections": Port(Kind.DETECTIONS, "Tracked detections (tracker_id set).")}
    outputs = {
        "detections": Port(Kind.DETECTIONS, "The detections with `time_field` and `frames_field` (and `field`)."),
        "value": Port(Kind.VALUE, "{'count': n in the zone, 'per_class': {name: n}, 'longest_s': the longest time "
                      "of those inside (None when none is)} for this frame."),
    }

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset({params.time_field, params.frames_field} | ({params.field} if params.field else set()))

    @classmethod
    def needed_fields(cls, params: Any) -> dict[str, str]:
        return {"tracker_id": "put track.bytetrack between the detector and zone.time: a time in the zone belongs "
                "to one object over many frames, so objects need identities across frames"}

    def setup(self) -> None:
        self._zones = ZoneTrigger()
        self._clocks: dict[str, ZoneClock] = {}
        self._lock = threading.Lock()

    def process(self, inputs: Inputs) -> dict[str, Any]:
        detections = inputs["detections"]
        require_tracks(detections, "zone.time", self.node_id,
                       "the time of one object cannot be told from that of another")
        p = inputs.params or self.params
        source = inputs.packet.source_id
        found = self._zones.frame(source, p, detections)
        inside = found.inside
        ids = detections.tracker_id if detections.tracker_id is not None else np.zeros(0, dtype=np.int64)
        with self._lock:
            clock = self._clocks.setdefault(source, ZoneClock(p.on_exit == "accumulate", p.forget_s))
            seconds, frames = clock.update(float(inputs.packet.timestamp), ids, inside)
        timed = dataclasses.replace(detections, data={**found.data, p.time_field: seconds, p.frames_field: frames})
        inside_seconds = seconds[inside & ~np.isnan(seconds)]
        value = {**found.value, "longest_s": float(inside_seconds.max()) if inside_seconds.size else None}
        if p.outside == "drop":
            timed = timed[inside]
        return {"detections": timed, "value": value}
