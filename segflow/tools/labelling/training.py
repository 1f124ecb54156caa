"""A ``segflow train`` run in a subprocess that the editor can watch, stop, and compare with the old model.

Progress comes from the run's ``epochs.jsonl`` (one line per epoch, written by
``segflow train``), the result from its ``summary.json``. After a successful
run the old model is validated on the same val split (``python -m
segflow.tools.labelling.validate_old``), so the two mask mAP50 figures are
comparable; the old model's own summary JSON (its model card's figure, on its
own val set) is shown beside them when it exists. Stopping sends SIGTERM to the
run's process group (data-loader workers included) and SIGKILL after a grace
period.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

GRACE_S = 8.0
FEW_VAL_FRAMES = 5  # below this many val frames, a mask mAP50 says little (one frame: both models score 0.995)


def few_val_frames(count: int) -> str | None:
    """A warning when the val split is too small for its mAP figures to tell two models apart, else None."""
    if count >= FEW_VAL_FRAMES:
        return None
    return (f"the val split has {count} frame{'s' if count != 1 else ''}: mask mAP50 on so few says little "
            f"(on one frame both models can score 0.995); label at least {FEW_VAL_FRAMES} val frames "
            f"(about one saved frame in five goes to val)")


class TrainSettings(BaseModel):
    data: str  # data.yaml
    model: str = "yolov8n-seg.yaml"  # a .pt fine-tunes, a .yaml trains from scratch
    epochs: int = Field(2, ge=1, le=1000)
    imgsz: int = Field(320, ge=32, le=2048, multiple_of=32)
    batch: int = Field(4, ge=1, le=512)
    workers: int = Field(0, ge=0, le=16)
    out: str = "runs/label/train"
    device: str = "cpu"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "segflow.tools.train", self.data, "--model", self.model,
                "--epochs", str(self.epochs), "--imgsz", str(self.imgsz), "--batch", str(self.batch),
                "--workers", str(self.workers), "--out", self.out, "--device", self.device]


@dataclass
class Progress:
    epoch: int = 0
    epochs: int = 0
    mask_map50: float | None = None
    elapsed_s: float = 0.0

    @property
    def fraction(self) -> float:
        return self.epoch / self.epochs if self.epochs else 0.0


def read_progress(epochs_jsonl: Path, epochs: int) -> Progress:
    progress = Progress(epochs=epochs)
    if not epochs_jsonl.is_file():
        return progress
    for line in epochs_jsonl.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written
        progress = Progress(int(row.get("epoch", 0)), int(row.get("epochs", epochs)),
                            row.get("metrics/mAP50(M)"), float(row.get("elapsed_s", 0.0)))
    return progress


def old_model_summary(model: Path) -> dict[str, Any] | None:
    """The summary JSON shipped beside a model (``x.summary.json`` for ``x.pt``), or None."""
    path = model.with_suffix(".summary.json")
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


@dataclass
class TrainJob:
    settings: TrainSettings
    cwd: Path
    old_model: Path | None = None  # the workflow's current model, validated on the new val split after
    phase: str = "idle"  # training, validating-old, done, failed, stopped
    message: str = ""
    started: float = 0.0
    finished: float = 0.0
    _proc: subprocess.Popen | None = None
    _log: Any = None
    _events: list[str] = field(default_factory=list)

    @property
    def out(self) -> Path:
        return (self.cwd / self.settings.out).resolve()

    @property
    def log_path(self) -> Path:
        return self.out / "editor-train.log"

    def _spawn(self, command: list[str]) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(command, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                      start_new_session=True, env=env)

    def start(self) -> None:
        for stale in ("epochs.jsonl", "summary.json", "old_val.json"):
            (self.out / stale).unlink(missing_ok=True)
        self.started = time.monotonic()
        self.phase = "training"
        self._spawn(self.settings.command())

    def progress(self) -> Progress:
        return read_progress(self.out / "epochs.jsonl", self.settings.epochs)

    def poll(self) -> str:
        """Advance the job when its process ended; returns the phase."""
        if self._proc is None or self.phase not in ("training", "validating-old"):
            return self.phase
        rc = self._proc.poll()
        if rc is None:
            return self.phase
        self._log.close()
        if self.phase == "training":
            if rc != 0:
                self.phase, self.message = "failed", f"segflow train exited with {rc}: {self.log_tail()}"
                self.finished = time.monotonic()
                return self.phase
            if self.old_model is not None and self.old_model.is_file():
                self.phase = "validating-old"
                self._spawn([sys.executable, "-m", "segflow.tools.labelling.validate_old", str(self.old_model),
                             str((self.cwd / self.settings.data).resolve()), "--imgsz", str(self.settings.imgsz),
                             "--out", str(self.out / "old_val.json")])
                return self.phase
        elif rc != 0:
            self.message = f"validating the old model failed ({rc}): {self.log_tail()}"
        self.phase = "done"
        self.finished = time.monotonic()
        return self.phase

    def stop(self) -> None:
        """Terminate the run (and its workers) cleanly; kill it when it does not go."""
        if self._proc is None or self._proc.poll() is not None:
            return
        try:
            os.killpg(self._proc.pid, signal.SIGTERM)
            self._proc.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=GRACE_S)
        except ProcessLookupError:
            pass
        if self._log is not None:
            self._log.close()
        self.phase, self.message = "stopped", "stopped by the user"
        self.finished = time.monotonic()

    @property
    def running(self) -> bool:
        return self.phase in ("training", "validating-old")

    def summary(self) -> dict[str, Any] | None:
        path = self.out / "summary.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def old_validation(self) -> dict[str, Any] | None:
        path = self.out / "old_val.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def weights(self) -> Path | None:
        """The model to use: the summary's best weights, or, after a stop, the best of the epochs that finished.

        Ultralytics writes ``weights/best.pt`` at the end of every epoch, so a run stopped
        after one finished epoch has a usable model even though it wrote no summary.
        """
        summary = self.summary()
        if summary and Path(summary["weights"]).is_file():
            return Path(summary["weights"])
        best = self.out / "weights" / "best.pt"
        if self.phase == "stopped" and self.progress().epoch >= 1 and best.is_file():
            return best
        return None

    @property
    def elapsed(self) -> float:
        """Seconds from Start to the end of the job (or to now): the one figure the page shows."""
        return (self.finished or time.monotonic()) - self.started if self.started else 0.0

    def log_tail(self, lines: int = 6) -> str:
        try:
            return " | ".join(self.log_path.read_text().strip().splitlines()[-lines:])
        except OSError:
            return ""
