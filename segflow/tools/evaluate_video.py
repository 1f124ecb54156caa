"""Check a stone model against a generated conveyor video's ground truth.

Detects stones in every frame, links them into tracks with a constant-velocity
nearest-neighbour tracker (objects on a belt move rigidly), and reports unique
stones counted vs ``stone_count``, per-stone detection recall at each stone's
first fully visible frame, and the mask length error in mm.  This is the
model-card check for the sample video; the workflows use the real tracker node.

    python -m segflow.tools.evaluate_video assets/models/coffee-stones-seg.pt assets/samples/conveyor.mp4
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from segflow.tools.synth.sprites import max_feret


def _iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Tracks:
    """Greedy constant-velocity tracker for rigid belt motion."""

    def __init__(self, gate_px: float = 40.0, max_miss: int = 5):
        self.gate, self.max_miss = gate_px, max_miss
        self.tracks: list[dict] = []

    def update(self, centres: list[np.ndarray]) -> list[int]:
        live = [t for t in self.tracks if t["miss"] <= self.max_miss]
        pairs = sorted(
            (float(np.linalg.norm(t["c"] + t["v"] - c)), ti, ci)
            for ti, t in enumerate(live)
            for ci, c in enumerate(centres)
        )
        ids = [-1] * len(centres)
        used_t: set[int] = set()
        for dist, ti, ci in pairs:
            if dist > self.gate or ti in used_t or ids[ci] != -1:
                continue
            t = live[ti]
            t["v"] = 0.5 * t["v"] + 0.5 * (centres[ci] - t["c"])
            t["c"], t["miss"], t["hits"] = centres[ci], 0, t["hits"] + 1
            used_t.add(ti)
            ids[ci] = t["id"]
        for ti, t in enumerate(live):
            if ti not in used_t:
                t["miss"] += 1
                t["c"] = t["c"] + t["v"]
        for ci, c in enumerate(centres):
            if ids[ci] == -1:
                tid = len(self.tracks) + 1
                self.tracks.append({"id": tid, "c": c, "v": np.zeros(2), "miss": 0, "hits": 1})
                ids[ci] = tid
        return ids


def evaluate(model_path: str, video: str, conf: float = 0.35, imgsz: int = 320) -> dict:
    from segflow.tools.train import offline_ultralytics

    offline_ultralytics()
    from ultralytics import YOLO

    truth = json.loads(Path(video).with_suffix(".json").read_text())
    model = YOLO(model_path)
    cap = cv2.VideoCapture(str(video))
    tracker = Tracks()
    per_frame: list[list[tuple]] = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        res = model.predict(frame, imgsz=imgsz, conf=conf, verbose=False)[0]
        dets = []
        if res.masks is not None and len(res.boxes):
            for box, poly in zip(res.boxes.xyxy.cpu().numpy(), res.masks.xy, strict=True):
                dets.append((box, poly))
        ids = tracker.update([np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]) for b, _ in dets])
        per_frame.append([(tid, b, p) for tid, (b, p) in zip(ids, dets, strict=True)])
    counted = [t for t in tracker.tracks if t["hits"] >= 3]
    found, errors = 0, []
    for s in truth["stones"]:
        frame = s["fully_visible"][0]
        best = max(per_frame[frame], key=lambda d: _iou(d[1], s["bbox_at_first_full"]), default=None)
        if best is not None and _iou(best[1], s["bbox_at_first_full"]) >= 0.5:
            found += 1
            if len(best[2]) >= 3:
                errors.append(max_feret(best[2]) * truth["mm_per_px"] - s["length_mm"])
    return {
        "frames": len(per_frame),
        "stones_counted": len(counted),
        "stones_truth": truth["stone_count"],
        "count_error_pct": round(100.0 * (len(counted) - truth["stone_count"]) / truth["stone_count"], 1),
        "stones_detected_at_first_full_view": found,
        "median_abs_length_error_mm": round(float(np.median(np.abs(errors))), 3) if errors else None,
        "conf": conf,
        "imgsz": imgsz,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("video")
    parser.add_argument("--conf", type=float, default=0.35)
    parser.add_argument("--imgsz", type=int, default=320)
    args = parser.parse_args(argv)
    print(json.dumps(evaluate(args.model, args.video, args.conf, args.imgsz), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
