"""What measure.masks costs per object, edge method by edge method, on the conveyor sample's first frame.

    python bench/measure_cost.py [--frame 0] [--repeat 1]

The masks are those the sample's logging workflows measure (`workflows/sinks_files.yaml`:
detect.threshold, Otsu, objects wholly in view). Each object is located alone (the first
pass of ``edges: image``, whose cost is per object) with whole shapes, with sectors only,
and from the mask's own edges; then the whole node runs on the frame in each mode (its
second pass refits small objects with the frame's blur), and once more with ``workers: auto``
(one process per core fitting objects side by side; the figure includes starting them).
Figures are seconds, side by side in one run, with the machine's load: on a busy machine
every figure grows alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from segflow.engine.frame import Frame, PacketInfo
from segflow.engine.node import Inputs, RunContext
from segflow.nodes.measure.masks import MeasureMasks
from segflow.nodes.models.threshold import ThresholdDetector
from segflow.vision.outline import locate

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "samples" / "conveyor.mp4"
THRESHOLD = {"channel": "gray", "blur": 3, "method": "otsu", "open_kernel": 3, "fill_holes": True,
             "clear_border": True, "min_area": 80, "class_name": "object"}  # as in workflows/sinks_files.yaml
MODES = {"image, shapes": {"edges": "image", "shapes": True},
         "image, sectors only": {"edges": "image", "shapes": False},
         "mask": {"edges": "mask"},
         "image, shapes, workers: auto": {"edges": "image", "shapes": True, "workers": "auto"}}


def frame_at(index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(SAMPLE))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = capture.read()
    capture.release()
    if not ok:
        raise SystemExit(f"{SAMPLE}: no frame {index}")
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="whole-frame runs per mode (the fastest is shown)")
    args = parser.parse_args()
    image = frame_at(args.frame)
    context = RunContext("measure-cost")
    packet = PacketInfo("conveyor", args.frame, 0.0, "measure-cost")
    frame = Frame(image, "conveyor", args.frame, 0.0)
    detector = ThresholdDetector("objects", ThresholdDetector.Params(**THRESHOLD), context)
    detector.setup()
    detections = detector.process(Inputs({"image": frame}, packet))["detections"]
    masks = detections.mask
    areas = masks.reshape(len(masks), -1).sum(axis=1)
    print(f"{SAMPLE.name} frame {args.frame}: {len(masks)} objects, {int(areas.min())}-{int(areas.max())} px; "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    counts = masks.sum(axis=0)
    print("\nper object, located alone (s): min / median / max")
    for name, params in MODES.items():
        if "workers" in params:
            continue  # the same work as without them, one object at a time
        times = []
        for m in masks:
            start = time.perf_counter()
            if params["edges"] == "mask":
                locate(m, reason="edges: mask")
            else:
                locate(m, image, others=(counts - m) > 0, shapes=params["shapes"])
            times.append(time.perf_counter() - start)
        print(f"  {name:28s} {min(times):7.3f} {statistics.median(times):7.3f} {max(times):7.3f}")
    print("\nthe node on the whole frame (s)")
    for name, params in MODES.items():
        node = MeasureMasks("measure", MeasureMasks.Params(scale={"mode": "fixed", "mm_per_px": 0.25}, skeleton=False,
                                                           **params), context)
        node.setup()
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            node.process(Inputs({"detections": detections, "image": frame}, packet))
            best = min(best, time.perf_counter() - start)
        node.close()
        print(f"  {name:28s} {best:7.2f}  ({best / len(masks):.3f} an object)")
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
