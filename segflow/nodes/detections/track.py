"""``track.bytetrack``: ByteTrack identities across frames, one tracker per source.

Roboflow moved ByteTrack out of supervision into the ``trackers`` package
(supervision >= 0.27 has no ``sv.ByteTrack``); this node uses
``trackers.ByteTrackTracker`` and falls back to ``sv.ByteTrack`` where an older
supervision still has it. Either returns the input detections re-indexed, so
masks and every ``data`` field travel with their track.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from pydantic import Field

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type
from segflow.engine.node import ParamProblem, RunContext


class TrackParams(Params):
    track_activation_threshold: float = Field(
        0.25, ge=0, le=1, description="Confidence a detection needs to start a new track."
    )
    high_confidence_threshold: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Detections above this are matched first; the rest only extend tracks.",
    )
    minimum_iou: float = Field(
        0.1, ge=0, le=1, description="Smallest box overlap that still continues a track."
    )
    lost_track_buffer: int = Field(
        30, ge=1, le=10_000, description="Frames a lost track is kept for re-identification."
    )
    frame_rate: float = Field(30.0, gt=0, le=1000, description="Frame rate of the source.")
    minimum_consecutive_frames: int = Field(
        1, ge=1, le=1000, description="Frames a track must be seen before it gets an id."
    )
    keep_untracked: bool = Field(
        False,
        description="Keep detections without a confirmed track (tracker_id -1) instead of "
        "dropping them.",
    )


def _tracker_class() -> tuple[Any, str]:
    try:
        from trackers import ByteTrackTracker

        return ByteTrackTracker, "trackers"
    except ImportError:
        import supervision as sv

        if hasattr(sv, "ByteTrack"):
            return sv.ByteTrack, "supervision"
        raise


@node_type("track.bytetrack")
class ByteTrack(Node):
    """Give detections persistent tracker ids with ByteTrack; one state per source."""

    Params = TrackParams
    params: TrackParams
    stateful = True
    inputs = {"detections": Port(Kind.DETECTIONS, "Detections of one frame.")}
    outputs = {"detections": Port(Kind.DETECTIONS, "The detections with tracker_id set.")}

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset({"tracker_id"})  # what line.count needs upstream

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        try:
            _tracker_class()
        except ImportError:
            return [
                ParamProblem(
                    "",
                    "ByteTrack is not installed: supervision >= 0.27 moved it to the "
                    "'trackers' package",
                    hint="pip install 'segflow[track]' (or: pip install trackers)",
                )
            ]
        return []

    def setup(self) -> None:
        try:
            self._cls, self._flavour = _tracker_class()
        except ImportError as exc:
            raise NodeError(
                f"track.bytetrack '{self.node_id}': ByteTrack is not installed",
                hint="pip install trackers",
            ) from exc
        self._trackers: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _new_tracker(self) -> Any:
        p = self.params
        if self._flavour == "trackers":
            return self._cls(
                lost_track_buffer=p.lost_track_buffer,
                frame_rate=p.frame_rate,
                track_activation_threshold=p.track_activation_threshold,
                minimum_consecutive_frames=p.minimum_consecutive_frames,
                minimum_iou_threshold=p.minimum_iou,
                high_conf_det_threshold=p.high_confidence_threshold,
            )
        return self._cls(
            track_activation_threshold=p.track_activation_threshold,
            lost_track_buffer=p.lost_track_buffer,
            minimum_matching_threshold=1.0 - p.minimum_iou,
            frame_rate=int(p.frame_rate),
            minimum_consecutive_frames=p.minimum_consecutive_frames,
        )

    def process(self, inputs: Inputs) -> dict[str, Any]:
        source = inputs.packet.source_id
        detections = inputs["detections"]
        with self._lock:
            tracker = self._trackers.get(source)
            if tracker is None:
                tracker = self._trackers[source] = self._new_tracker()
            if self._flavour == "trackers":
                tracked = tracker.update(detections)
            else:
                tracked = tracker.update_with_detections(detections)
        if tracked.tracker_id is None:
            tracked.tracker_id = np.full(len(tracked), -1, dtype=int)
        if not self.params.keep_untracked:
            tracked = tracked[tracked.tracker_id >= 0]
        return {"detections": tracked}

    def close(self) -> None:
        self._trackers = {}
