"""``sink.dataset``: hard frames from a running line, with their pre-labels, into a labelling dataset.

A frame is kept when the model was unsure (any detection below
``low_confidence``), when the tracker's count disagrees with the detector's
(``tracks`` wired: objects the tracker has not confirmed, or lost), or at
random (``sample_rate``). Kept frames go to ``<folder>/collected/`` (the
image as JPEG, the detections as YOLO-seg polygons) where the editor's Label
mode shows them for review; reviewed frames move to the dataset's train/val
split. The folder is the same one the Label mode saves to.

It never slows the line: frames are handed to a writer thread through a small
queue, and a frame that finds the queue full is skipped (counted, logged; its
cooldown still runs, which gives the busy writer time).
It is bounded: at most ``max_frames`` frames wait in the inbox (frames already
there count), and per source at least ``cooldown_s`` of frame time lies between
two kept frames. That spacing, ``every_n_frames``, ``only_when`` and
``only_on_change`` are the one sink gate's (:mod:`segflow.delivery.gate`), so they
mean here what they mean in every sink; a frame that is not hard starts no
cooldown. ``min_interval_s`` is the old name of ``cooldown_s``, accepted with a
validation warning until 0.3.0.
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
from pydantic import Field, model_validator

from segflow.delivery.common import GateParams, writable_problems
from segflow.delivery.gate import GatedSink
from segflow.delivery.records import Findings, class_names
from segflow.engine import Inputs, Kind, Port, node_type
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.text import path_part
from segflow.engine.workflow.confine import writes_path

log = logging.getLogger(__name__)


OLD_INTERVAL_GOES_IN = "0.3.0"
"""The release from which ``min_interval_s`` (now the gate's ``cooldown_s``) is refused."""


class DatasetSinkParams(GateParams):
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
    cooldown_s: float = Field(
        1.0, ge=0, description="Per source, at least this much frame time between two kept frames (the sink "
        "gate's cooldown, as in every sink; a frame that is not hard starts none).",
    )
    min_interval_s: float | None = Field(
        None, ge=0, description=f"Deprecated: the old name of cooldown_s (refused from segflow {OLD_INTERVAL_GOES_IN})."
    )
    queue_size: int = Field(8, ge=1, le=1000, description="Frames waiting for the writer; more are skipped.")
    seed: int | None = Field(None, description="Seed of the random sample (empty = a different one each run).")

    @model_validator(mode="before")
    @classmethod
    def _old_interval_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("min_interval_s") is not None:
            if "cooldown_s" in data:
                raise ValueError("give cooldown_s only: min_interval_s is its old name")
            data = {**data, "cooldown_s": data["min_interval_s"]}
        return data


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
class DatasetSink(GatedSink):
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
        problems = writable_problems(folder_for(params, context), "folder", folder=True)
        if params.min_interval_s is not None:
            problems.append(ParamProblem(
                "min_interval_s", "min_interval_s is now cooldown_s, the gate option every sink shares; the old "
                f"name is refused from segflow {OLD_INTERVAL_GOES_IN}", "rename min_interval_s to cooldown_s",
                warning=True))
        return problems

    def setup(self) -> None:
        from segflow.vision.yolo_dataset import YoloSegDataset

        super().setup()
        p = self.params
        self.dataset = YoloSegDataset(folder_for(p, self.context))
        self.written = len(self.dataset.collected())
        self.queued = 0
        self.skipped_full = 0
        self._random = random.Random(p.seed)
        self._queue: queue.Queue = queue.Queue(maxsize=p.queue_size)
        self._error: str = ""
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._writer, name=f"dataset-{self.node_id}", daemon=True)
        self._thread.start()

    def process(self, inputs: Inputs) -> dict[str, Any]:
        why: list[str] = []

        def hard(findings: Findings) -> bool:
            p = self.params
            with self._lock:
                if self.written + self.queued >= p.max_frames:
                    return False  # the inbox is full (frames written plus those on their way)
            why.extend(reasons(findings.detections, inputs.get("tracks"), p.low_confidence))
            if p.sample_rate > 0 and self._random.random() < p.sample_rate:
                why.append("random sample")
            return bool(why)

        if self.admitted(inputs, hard) is None:
            return {}
        packet, detections, frame = inputs.packet, inputs.get("detections"), inputs["image"]
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

    def _writer(self) -> None:
        from segflow.vision.yolo_dataset import Label, mask_outline, safe_key

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
                        polygon = mask_outline(detections.mask[i])
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
