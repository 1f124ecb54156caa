"""``sink.dataset``: hard frames from a running line, with their pre-labels, into a labelling dataset.

A frame is kept when the model was unsure (any detection below
``low_confidence``), when the tracker's count disagrees with the detector's
(``tracks`` wired: objects the tracker has not confirmed, or lost), or at
random (``sample_rate``). Kept frames go to ``<folder>/collected/`` (the
image as JPEG, the detections as YOLO-seg polygons) where the editor's Label
mode shows them for review; reviewed frames move to the dataset's train/val
split. The folder is the same one the Label mode saves to.

It never slows the line: frames are handed to a writer thread through a small
queue, and a frame that finds the queue full is skipped (counted, logged).
It is bounded: at most ``max_frames`` frames wait in the inbox (frames already
there count), and per source at least ``min_interval_s`` of frame time lies
between two kept frames.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from segflow.delivery.common import writable_problems
from segflow.delivery.records import class_names
from segflow.engine import Inputs, Kind, Params, Port, SinkNode, node_type
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.text import path_part
from segflow.engine.workflow.confine import writes_path

log = logging.getLogger(__name__)


class DatasetSinkParams(Params):
    folder: str = Field(
        "datasets/{workflow}",
        description="The dataset folder (as in the editor's Label mode); `{workflow}` is the workflow's name.",
        json_schema_extra=writes_path(),
    )
    low_confidence: float = Field(
        0.5, ge=0, le=1, description="Keep a frame when any detection's confidence is below this (0 = off)."
    )
    sample_rate: float = Field(0.0, ge=0, le=1, description="Also keep this fraction of all frames, at random.")
    max_frames: int = Field(200, ge=1, le=1_000_000, description="Most frames waiting in the inbox (collected/).")
    min_interval_s: float = Field(
        1.0, ge=0, description="Per source, at least this much frame time between two kept frames."
    )
    queue_size: int = Field(8, ge=1, le=1000, description="Frames waiting for the writer; more are skipped.")
    seed: int | None = Field(None, description="Seed of the random sample (empty = a different one each run).")


def folder_for(params: DatasetSinkParams, context: RunContext) -> Path:
    return context.resolve(params.folder.replace("{workflow}", path_part(context.workflow_name, "workflow")))


def reasons(detections: Any, tracks: Any, low_confidence: float) -> list[str]:
    """Why a frame is hard: low confidence, or the tracker's count disagreeing with the detector's."""
    why = []
    if detections is not None and len(detections) and low_confidence > 0 and detections.confidence is not None:
        lowest = float(np.min(detections.confidence))
        if lowest < low_confidence:
            why.append(f"low confidence {lowest:.2f}")
    if tracks is not None and detections is not None:
        ids = tracks.tracker_id
        tracked = 0 if ids is None else int(np.sum(np.asarray(ids) >= 0))
        if tracked != len(detections):
            why.append(f"tracker counts {tracked}, detector {len(detections)}")
    return why


@node_type("sink.dataset")
class DatasetSink(SinkNode):
    """Collect hard frames (low confidence, tracker disagreeing, random sample) with pre-labels for labelling."""

    Params = DatasetSinkParams
    params: DatasetSinkParams
    inputs = {
        "image": Port(Kind.IMAGE, "The frames to collect."),
        "detections": Port(Kind.DETECTIONS, "The model's detections: pre-labels and the confidence test."),
        "tracks": Port(
            Kind.DETECTIONS,
            "The tracker's output of the same frame: a count that differs from the detector's marks a hard frame.",
            required=False,
        ),
    }

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        return writable_problems(folder_for(params, context), "folder", folder=True)

    def setup(self) -> None:
        from segflow.vision.yolo_dataset import YoloSegDataset

        p = self.params
        self.dataset = YoloSegDataset(folder_for(p, self.context))
        self.written = len(self.dataset.collected())
        self.queued = 0
        self.skipped_full = 0
        self._last: dict[str, float] = {}
        self._random = random.Random(p.seed)
        self._queue: queue.Queue = queue.Queue(maxsize=p.queue_size)
        self._error: str = ""
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._writer, name=f"dataset-{self.node_id}", daemon=True)
        self._thread.start()

    def process(self, inputs: Inputs) -> dict[str, Any]:
        p = self.params
        packet = inputs.packet
        with self._lock:
            if self.written + self.queued >= p.max_frames:
                return {}  # the inbox is full (frames written plus those on their way)
        last = self._last.get(packet.source_id)
        if last is not None and packet.timestamp - last < p.min_interval_s:
            return {}
        detections = inputs.get("detections")
        why = reasons(detections, inputs.get("tracks"), p.low_confidence)
        if p.sample_rate > 0 and self._random.random() < p.sample_rate:
            why.append("random sample")
        if not why:
            return {}
        frame = inputs["image"]
        item = (packet.source_id, packet.frame_index, packet.timestamp, frame.pixels.copy(), detections, why)
        with self._lock:
            self.queued += 1  # before the writer can see it, so it never counts below zero
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._lock:
                self.queued -= 1
            self.skipped_full += 1
            if self.skipped_full in (1, 10, 100) or self.skipped_full % 1000 == 0:
                log.warning("sink.dataset '%s': writer busy, %d hard frames skipped so far",
                            self.node_id, self.skipped_full)
            return {}
        self._last[packet.source_id] = packet.timestamp
        return {}

    def _writer(self) -> None:
        from segflow.vision.yolo_dataset import Label, mask_polygon, safe_key

        while True:
            item = self._queue.get()
            if item is None:
                return
            source, index, timestamp, pixels, detections, why = item
            try:
                labels = []
                if detections is not None and detections.mask is not None:
                    names = class_names(detections)
                    for i in range(len(detections)):
                        polygon = mask_polygon(detections.mask[i])
                        if len(polygon) >= 3:
                            labels.append(Label(self.dataset.class_id(names[i]), polygon))
                key = safe_key(f"{source}_{self.context.workflow_name}_{index:06d}")
                self.dataset.add_collected(key, pixels, labels)
                with (self.dataset.root / "collected" / "reasons.jsonl").open("a") as f:
                    f.write(json.dumps({"frame": key, "source": source, "index": index,
                                        "timestamp": round(timestamp, 3), "why": why}) + "\n")
                with self._lock:
                    self.written += 1
            except Exception as exc:  # noqa: BLE001 - a failed write is logged, never stops the line
                self._error = str(exc)
                log.error("sink.dataset '%s': cannot write frame %s: %s", self.node_id, index, exc)
            finally:
                with self._lock:
                    self.queued -= 1

    def close(self) -> None:
        thread = getattr(self, "_thread", None)
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout=30)
