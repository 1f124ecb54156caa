"""Second-stage batching with the real classifier: crops of 4 cameras, batched by crop count vs one call per crop.

    python bench/classify_crops.py [--frames 8] [--batch 32] [--model assets/models/coffee-objects-cls.pt]

The two-stage line of ``workflows/coffee_objects.yaml`` (threshold -> crop ->
``classify.yolo`` -> stitch) on 4 sources, each a folder of generated objects
stills (different seeds, about 25 crops a frame), run twice in one process,
side by side: ``batch_size`` N (crops of every frame and camera in flight share
a call) and ``batch_size`` 1 (the classifier called once per crop). Printed:
crops/s end to end and on the classifier node alone, the ratio, and the mean
batch: crops per model call, counted at the call itself (the run report's
mean batch counts crops per engine micro-batch, which with ``batch_size`` 1 is
still a whole frame's crops, cut by the node into calls of one). Target:
crops/s >= 3x.

A packet's crops are never split across micro-batches (the batcher holds back
the frame that would overflow one), so with these frames' ~34 crops the batch
fills to about two thirds of ``batch_size`` 64; with the issue's ~6 crops a
frame it fills to within a frame of it.

An ``.onnx`` model runs on the edge runtime (export the shipped .pt with
``segflow export assets/models/coffee-objects-cls.pt --format onnx --dynamic``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import cv2

from segflow.engine.api import loads
from segflow.nodes.models.classify import YoloClassifier
from segflow.tools.synth.crops import render_objects

ROOT = Path(__file__).resolve().parents[1]


def write_stills(folder: Path, frames: int) -> None:
    for camera in range(4):
        (folder / f"cam{camera}").mkdir(parents=True)
        for i in range(frames):
            image, _ = render_objects(seed=1000 + 100 * camera + i)
            cv2.imwrite(str(folder / f"cam{camera}" / f"{i:03d}.png"), image)


def workflow(folder: Path, model: str, batch: int) -> str:
    lines = ["version: 1", "name: classify-crops", "settings: {max_inflight: 16}", "nodes:"]
    for i in range(4):
        lines += [
            f"  cam{i}: {{type: source.image, params: {{path: '{folder}/cam{i}', fps: 15}}}}",
            f"  objects{i}: {{type: detect.threshold, params: {{channel: gray, blur: 5, method: otsu, open_kernel: 3,"
            f" min_area: 60}}, inputs: {{image: cam{i}.image}}}}",
            f"  crop{i}: {{type: crop.detections, params: {{margin_ratio: 0.15}},"
            f" inputs: {{image: cam{i}.image, detections: objects{i}.detections}}}}",
        ]
    crops = ", ".join(f"crop{i}.crops" for i in range(4))
    lines += [
        f"  kind: {{type: classify.yolo, params: {{model: '{model}', top_k: 1, batch_size: {batch},"
        f" max_wait_ms: 20}}, inputs: {{crops: [{crops}]}}}}",
        "  label: {type: crop.stitch, params: {mode: attach}, inputs: {crops: kind.crops}}",
        f"  log: {{type: sink.jsonl, params: {{path: '{folder}/out-{batch}.jsonl'}},"
        " inputs: {detections: label.detections}}",
    ]
    return "\n".join(lines) + "\n"


MODEL_CALLS: list[int] = []  # crops per call of the classifier, appended by the wrapper below
_classify = YoloClassifier.classify


def counted_classify(self: YoloClassifier, items: list) -> list:
    MODEL_CALLS.append(len(items))
    return _classify(self, items)


def measure(folder: Path, model: str, batch: int) -> dict[str, float]:
    MODEL_CALLS.clear()
    report = loads(workflow(folder, model, batch), base_dir=ROOT).run()
    assert report.failures == 0, report.failure_log
    kind = next(m for m in report.nodes if m.node_id == "kind")
    return {"crops": kind.items, "crops_per_s": kind.items / report.elapsed_s,
            "model_crops_per_s": kind.items / kind.busy_s, "mean_batch": sum(MODEL_CALLS) / len(MODEL_CALLS)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=8, help="frames per camera")
    parser.add_argument("--batch", type=int, default=32, help="batch_size of the batched run (crops)")
    parser.add_argument("--model", default="assets/models/coffee-objects-cls.pt")
    args = parser.parse_args()
    YoloClassifier.classify = counted_classify  # type: ignore[method-assign]
    folder = Path(tempfile.mkdtemp(prefix="segflow-bench-"))
    try:
        write_stills(folder, args.frames)
        measure(folder, args.model, args.batch)  # warm-up: model load, first-call costs
        batched = measure(folder, args.model, args.batch)
        single = measure(folder, args.model, 1)
    finally:
        shutil.rmtree(folder)
    print(f"classify.yolo ({args.model}) on the crops of 4 cameras x {args.frames} frames "
          f"({batched['crops']:.0f} crops):")
    for name, m in ((f"batch_size {args.batch}", batched), ("batch_size 1 ", single)):
        print(f"  {name}: {m['crops_per_s']:7.1f} crops/s end to end, {m['model_crops_per_s']:7.1f} crops/s "
              f"on the classifier, mean batch {m['mean_batch']:.1f} crops per call")
    ratio = batched["crops_per_s"] / single["crops_per_s"]
    model_ratio = batched["model_crops_per_s"] / single["model_crops_per_s"]
    print(f"  ratio: {ratio:.2f}x end to end, {model_ratio:.2f}x on the classifier (target >= 3x) -> "
          f"{'PASS' if ratio >= 3 else 'FAIL'}")


if __name__ == "__main__":
    main()
