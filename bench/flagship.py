"""The flagship coffee graph against its model alone and a naive script, side by side in one run.

    python bench/flagship.py [--frames 450] [--repeats 2]

Same video (assets/samples/conveyor.mp4, looped), same model
(assets/models/coffee-stones-seg.pt, imgsz 320, retina masks, confidence 0.35):

- bare:   decode -> model.predict, one frame at a time, nothing else;
- naive:  a hand-written sequential script doing the workflow's work:
          predict -> ByteTrack -> per-mask min-area rectangle and mean Lab ->
          annotate -> video file + JSONL;
- segflow: `workflows/coffee_stones.yaml` with all its sinks (video, JSONL, SQLite), its model
          on ultralytics like the other two (``detect.runtime=ultralytics``): what the engine costs or
          gains on the same runtime. As shipped (``runtime: auto``) the model is compiled first:
          bench/compiled.py measures that.

Runs are interleaved (bare, naive, segflow, bare, ...) and the best of each
is kept: the machine may be shared. Targets: segflow >= 0.95x bare, and
faster than naive.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "assets" / "samples" / "conveyor.mp4"
MODEL = ROOT / "assets" / "models" / "coffee-stones-seg.pt"
WORKFLOW = ROOT / "workflows" / "coffee_stones.yaml"
PREDICT = {"imgsz": 320, "retina_masks": True, "conf": 0.35, "verbose": False}


def looped_frames(count: int):
    """The sample video decoded again and again until ``count`` frames have come out."""
    done = 0
    while done < count:
        cap = cv2.VideoCapture(str(VIDEO))
        while done < count:
            ok, frame = cap.read()
            if not ok:
                break
            done += 1
            yield frame
        cap.release()


def bare(frames: int, _out: Path) -> float:
    from ultralytics import YOLO

    model = YOLO(str(MODEL))
    start = time.perf_counter()
    for frame in looped_frames(frames):
        model.predict(frame, **PREDICT)
    return frames / (time.perf_counter() - start)


def naive(frames: int, out: Path) -> float:
    import supervision as sv
    from trackers import ByteTrackTracker
    from ultralytics import YOLO

    model = YOLO(str(MODEL))
    tracker = ByteTrackTracker(frame_rate=15, track_activation_threshold=0.35, high_conf_det_threshold=0.35,
                               minimum_iou_threshold=0.1, lost_track_buffer=15, minimum_consecutive_frames=3)
    masks_drawn, labels = sv.MaskAnnotator(), sv.LabelAnnotator(text_scale=0.4)
    writer = None
    start = time.perf_counter()
    with open(out / "naive.jsonl", "w") as log:
        for index, frame in enumerate(looped_frames(frames)):
            result = model.predict(frame, **PREDICT)[0]
            dets = tracker.update(sv.Detections.from_ultralytics(result))
            lab = cv2.cvtColor(frame, cv2.COLOR_BGR2LAB)
            rows, texts = [], []
            for i in range(len(dets)):
                mask = dets.mask[i].astype(np.uint8) if dets.mask is not None else None
                if mask is None or not mask.any():
                    continue
                contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
                (_, _), (w, h), _ = cv2.minAreaRect(max(contours, key=cv2.contourArea))
                mean = cv2.mean(lab, mask)[:3]
                length_mm = max(w, h) * 0.25
                rows.append({"frame": index, "tracker_id": int(dets.tracker_id[i]), "length_mm": length_mm,
                             "lab": [round(v, 2) for v in mean]})
                texts.append(f"#{dets.tracker_id[i]} {length_mm:.1f} mm")
            scene = masks_drawn.annotate(frame.copy(), dets)
            if len(texts) == len(dets):
                scene = labels.annotate(scene, dets, labels=texts)
            if writer is None:
                writer = cv2.VideoWriter(str(out / "naive.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 15,
                                         (frame.shape[1], frame.shape[0]))
            writer.write(scene)
            for row in rows:
                log.write(json.dumps(row) + "\n")
    if writer is not None:
        writer.release()
    return frames / (time.perf_counter() - start)


def segflow(frames: int, out: Path, *extra: str) -> float:
    """``extra``: more ``node.param=value`` overrides (bench/compiled.py runs it with ``detect.runtime=compiled``)."""
    from segflow.engine.api import load

    overrides = ["belt.loop=true", f"video.path={out}/{{source}}.mp4", f"log.path={out}/stones.jsonl",
                 f"db.database={out}/stones.db", *extra]
    wf = load(WORKFLOW, overrides=overrides, base_dir=ROOT)
    report = wf.run(max_frames=frames)
    assert report.frames == frames and report.exit_code == 0, report.table()
    return report.fps  # frames over the streaming time, as the CLI reports it (setup excluded)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=450)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            on_ultralytics = lambda n, out: segflow(n, out, "detect.runtime=ultralytics")  # noqa: E731
            for name, fn in (("bare", bare), ("naive", naive), ("segflow", on_ultralytics)):
                out = Path(tmp) / f"{name}"
                out.mkdir(exist_ok=True)
                best[name] = max(best.get(name, 0.0), fn(args.frames, out))
    print(f"flagship coffee graph, {args.frames} frames, best of {args.repeats} (FPS)")
    for name in ("bare", "naive", "segflow"):
        print(f"  {name:<8} {best[name]:6.2f}")
    print(f"  segflow / bare  : {best['segflow'] / best['bare']:.2f}x (target >= 0.95x)")
    print(f"  segflow / naive : {best['segflow'] / best['naive']:.2f}x (target > 1x)")


if __name__ == "__main__":
    main()
