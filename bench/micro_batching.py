"""Micro-batching across sources: a simulated model (20 ms + 1 ms/item, sleeping) fed by 4 sources.

    python bench/micro_batching.py [--frames 150]

Two measurements, each batched (batch_size 4) vs unbatched, side by side:
- capacity: sources produce as fast as they can (timestamps at 30 fps):
  throughput ratio and mean batch size;
- live: sources paced at 30 fps each (120 fps offered) with drop: oldest:
  how many frames each keeps up with.
Targets: mean batch >= 3.5 and throughput >= 3x unbatched.
"""

from __future__ import annotations

import argparse

from segflow.engine.api import loads


def workflow(frames: int, batch: int, realtime: bool) -> str:
    lines = ["version: 1", "name: batching", "settings: {max_inflight: 32}", "nodes:"]
    for i in range(4):
        lines.append(f"  cam{i}: {{type: source.test_pattern, params: {{frames: {frames}, fps: 30, seed: {i},"
                     f" realtime: {str(realtime).lower()}, drop: oldest, width: 64, height: 48}}}}")
    refs = ", ".join(f"cam{i}.image" for i in range(4))
    lines.append(f"  model: {{type: debug.simulated_model, params: {{call_ms: 20, item_ms: 1, batch_size: {batch},"
                 f" max_wait_ms: 10}}, inputs: {{image: [{refs}]}}}}")
    lines.append("  stats: {type: debug.stats, inputs: {image: model.image}}")
    return "\n".join(lines) + "\n"


def measure(frames: int, batch: int, realtime: bool) -> tuple[float, float, int, int]:
    report = loads(workflow(frames, batch, realtime)).run()
    model = next(m for m in report.nodes if m.node_id == "model")
    return report.frames / report.elapsed_s, model.items / max(model.calls, 1), report.frames, report.dropped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=150, help="frames per source")
    args = parser.parse_args()
    fast_b = measure(args.frames, 4, False)
    fast_u = measure(args.frames, 1, False)
    print(f"capacity (4 unpaced sources x {args.frames} frames, model 20 ms + 1 ms/item):")
    print(f"  batch_size 4 : {fast_b[0]:7.1f} frames/s, mean batch {fast_b[1]:.2f}")
    print(f"  batch_size 1 : {fast_u[0]:7.1f} frames/s, mean batch {fast_u[1]:.2f}")
    ratio = fast_b[0] / fast_u[0]
    print(f"  throughput ratio: {ratio:.2f}x (target >= 3x) -> {'PASS' if ratio >= 3 else 'FAIL'}; "
          f"mean batch {fast_b[1]:.2f} (target >= 3.5) -> {'PASS' if fast_b[1] >= 3.5 else 'FAIL'}")
    live_b = measure(args.frames, 4, True)
    live_u = measure(args.frames, 1, True)
    offered = 4 * args.frames
    print(f"live (4 cameras at 30 fps = 120 fps offered, {offered} frames, drop: oldest):")
    print(f"  batch_size 4 : processed {live_b[2]}, dropped {live_b[3]}, mean batch {live_b[1]:.2f}")
    print(f"  batch_size 1 : processed {live_u[2]}, dropped {live_u[3]}, mean batch {live_u[1]:.2f}")


if __name__ == "__main__":
    main()
