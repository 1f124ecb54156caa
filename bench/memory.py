"""Memory stays flat: 20,000 frames of a fast source into a slow node (bounded in-flight packets).

    python bench/memory.py [--frames 20000]

RSS is sampled after the first 1,000 frames (warm-up) and at the end. Target:
growth under 50 MB.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from segflow.engine.api import loads
from segflow.engine.observe.hooks import RunHooks

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


class Sampler(RunHooks):
    def __init__(self) -> None:
        self.samples: list[tuple[int, float]] = []

    def on_packet_done(self, *, frames_done: int, **future_kwargs: Any) -> None:
        if frames_done % 1000 == 0:
            self.samples.append((frames_done, rss_mb()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=20_000)
    args = parser.parse_args()
    text = f"""
version: 1
name: memory
settings: {{max_inflight: 16}}
nodes:
  cam: {{type: source.test_pattern, params: {{frames: {args.frames}, width: 320, height: 240}}}}
  slow: {{type: debug.simulated_model, params: {{call_ms: 0.3, item_ms: 0}}, inputs: {{image: cam.image}}}}
  stats: {{type: debug.stats, inputs: {{image: slow.image}}}}
"""
    sampler = Sampler()
    report = loads(text).run(hooks=sampler)
    warm = sampler.samples[0][1]
    peak = max(mb for _, mb in sampler.samples)
    growth = sampler.samples[-1][1] - warm
    print(f"memory: {report.frames} frames (320x240) of a fast source into a slow node, max_inflight 16")
    print(f"  RSS after 1,000 frames: {warm:.1f} MB; at the end: {sampler.samples[-1][1]:.1f} MB; peak {peak:.1f} MB")
    print(f"  growth: {growth:+.1f} MB (target < 50 MB) -> {'PASS' if growth < 50 else 'FAIL'}")


if __name__ == "__main__":
    main()
