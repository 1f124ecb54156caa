"""Ultralytics as ``segflow train`` runs it: offline, with one progress line per epoch.

Shared by the segmentation and classification training paths and by
``segflow export``, so none of them imports another's command module.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from segflow.vision.ultralytics_refs import offline_ultralytics

__all__ = ["EpochProgress", "offline_ultralytics"]


class EpochProgress:
    """Trainer callback: one line per epoch with the metrics that matter, plus a JSONL log."""

    SEGMENT = {"mask mAP50": "metrics/mAP50(M)", "box mAP50": "metrics/mAP50(B)"}

    def __init__(self, log_path: Path, stream=sys.stderr, metrics: dict[str, str] | None = None):
        self.log_path = log_path
        self.metrics = metrics or self.SEGMENT  # shown name -> ultralytics' metric key
        self.stream = stream
        self.start = time.monotonic()
        self.last_epoch = 0

    def __call__(self, trainer) -> None:
        epoch, total = trainer.epoch + 1, trainer.epochs
        if epoch <= self.last_epoch or epoch > total:
            return  # ultralytics fires it once more (as epoch total + 1) after its best.pt check
        self.last_epoch = epoch
        m = {k: round(float(v), 4) for k, v in (trainer.metrics or {}).items()}
        elapsed = time.monotonic() - self.start
        done = int(30 * epoch / total)
        bar = "#" * done + "-" * (30 - done)
        shown = "".join(f"  {name} {m.get(key, float('nan')):.3f}" for name, key in self.metrics.items())
        self.stream.write(f"[{bar}] epoch {epoch}/{total}{shown}  {elapsed / 60:.1f} min\n")
        self.stream.flush()
        with self.log_path.open("a") as f:
            f.write(json.dumps({"epoch": epoch, "epochs": total, "elapsed_s": round(elapsed, 1), **m}) + "\n")
