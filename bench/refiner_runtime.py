"""segment.refine's two runtimes side by side: onnxruntime against OpenCV's DNN module.

    python bench/refiner_runtime.py [--frames 30] [--rounds 5]

The shipped refiner on the shipped model's real stone masks in the first --frames
frames of the sample video: each round refines every mask once on each runtime
(one thread each, as the node runs it), alternating which goes first, and the
best round of each is kept (the machine may be shared). Also checks that both
give the same masks. Target: onnxruntime >= 1.3x OpenCV per mask.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "assets" / "models" / "coffee-stones-seg.pt"
REFINER = ROOT / "assets" / "models" / "coffee-stones-refine.onnx"
VIDEO = ROOT / "assets" / "samples" / "conveyor.mp4"
TARGET = 1.3


def stone_masks(frames: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(frame, mask) for every stone the model finds in the first ``frames`` frames, as detect.yolo gives them."""
    from ultralytics import YOLO

    from segflow.tools.mask_accuracy import predict_masks

    model = YOLO(str(MODEL))
    capture = cv2.VideoCapture(str(VIDEO))
    out = []
    for _ in range(frames):
        ok, frame = capture.read()
        if not ok:
            break
        out += [(frame, mask) for mask in predict_masks(model, frame, 320, 0.35)]
    capture.release()
    return out


def main() -> int:
    from segflow.engine.execution.blas import limit_blas_threads
    from segflow.vision.mask_refiner import MaskRefiner

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    limit_blas_threads()  # as a run does
    pairs = stone_masks(args.frames)
    refiners = {name: MaskRefiner(REFINER, runtime=name) for name in ("onnxruntime", "opencv")}
    masks = {name: [r.refine(f, m).mask for f, m in pairs] for name, r in refiners.items()}  # warm up, compare
    differ = max(np.count_nonzero(a ^ b) for a, b in zip(*masks.values(), strict=True))
    best = {name: float("inf") for name in refiners}
    for round_ in range(args.rounds):
        order = list(refiners) if round_ % 2 == 0 else list(refiners)[::-1]
        for name in order:
            start = time.perf_counter()
            for frame, mask in pairs:
                refiners[name].refine(frame, mask)
            best[name] = min(best[name], (time.perf_counter() - start) / len(pairs))
    ratio = best["opencv"] / best["onnxruntime"]
    print(f"{len(pairs)} stone masks from {args.frames} frames, best of {args.rounds} rounds, one thread each")
    for name, seconds in best.items():
        print(f"  {name:12s} {seconds * 1e3:.2f} ms a mask")
    print(f"  onnxruntime {ratio:.2f}x OpenCV (target >= {TARGET}x); masks differ by at most {differ} px")
    return 0 if ratio >= TARGET and differ <= 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
