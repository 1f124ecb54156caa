"""Second-stage batching: crops of 4 sources (~6 per frame) into one model, batched by crop count.

    python bench/crop_batching.py [--frames 40] [--batch 32]

A cheap first stage (detect.threshold on the red channel of test patterns of
10 moving shapes, about 6 of them red enough) finds the parts; crop.detections
cuts a 64 px crop around each; a simulated model (20 ms per call + 1 ms per
crop, sleeping like real inference) classifies the crops;
crop.stitch puts the classes back. Side by side in one run: the model with
``batch_size`` counting crops vs the same model called once per crop
(``batch_size: 1``). Targets: mean batch >= 0.9 x batch_size, crops/s >= 3x.
"""

from __future__ import annotations

import argparse

from segflow.engine.api import loads


def workflow(frames: int, batch: int) -> str:
    cams = [f"cam{i}" for i in range(4)]
    images = ", ".join(f"{c}.image" for c in cams)
    lines = ["version: 1", "name: crop-batching", "settings: {max_inflight: 32}", "nodes:"]
    lines += [f"  {c}: {{type: source.test_pattern, params: {{frames: {frames}, seed: {i}, width: 320, height: 240,"
              f" shapes: 10}}}}" for i, c in enumerate(cams)]
    lines += [
        f"  find: {{type: detect.threshold, params: {{channel: r, method: fixed, threshold: 100, min_area: 20}},"
        f" inputs: {{image: [{images}]}}}}",
        f"  cut: {{type: crop.detections, params: {{size: 64, margin_ratio: 0.1}},"
        f" inputs: {{image: [{images}], detections: find.detections}}}}",
        f"  classify: {{type: debug.simulated_model, params: {{call_ms: 20, item_ms: 1, batch_size: {batch},"
        f" max_wait_ms: 20}}, inputs: {{crops: cut.crops}}}}",
        "  stitch: {type: crop.stitch, params: {mode: attach}, inputs: {crops: classify.crops}}",
        "  count: {type: debug.stats, inputs: {image: " + cams[0] + ".image}}",
    ]
    return "\n".join(lines) + "\n"


def measure(frames: int, batch: int) -> tuple[float, float, int, int]:
    """(crops/s of the whole run, mean crops per model call, crops, model calls)."""
    report = loads(workflow(frames, batch)).run()
    model = next(m for m in report.nodes if m.node_id == "classify")
    return model.items / report.elapsed_s, model.items / max(model.calls, 1), model.items, model.calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=40, help="frames per source")
    parser.add_argument("--batch", type=int, default=32, help="batch_size (crops per model call)")
    args = parser.parse_args()
    batched = measure(args.frames, args.batch)
    single = measure(args.frames, 1)
    print(f"4 sources x {args.frames} frames, {batched[2]} crops ({batched[2] / (4 * args.frames):.1f} per frame), "
          "model 20 ms/call + 1 ms/crop:")
    print(f"  batch_size {args.batch:<3}: {batched[0]:7.1f} crops/s, {batched[3]} calls, mean batch {batched[1]:.2f}")
    print(f"  batch_size 1  : {single[0]:7.1f} crops/s, {single[2]} model calls (one per crop)")
    fill = batched[1] / args.batch
    ratio = batched[0] / single[0]
    print(f"  mean batch {fill:.2f} x batch_size (target >= 0.9) -> {'PASS' if fill >= 0.9 else 'FAIL'}; "
          f"crops/s ratio {ratio:.2f}x (target >= 3x) -> {'PASS' if ratio >= 3 else 'FAIL'}")


if __name__ == "__main__":
    main()
