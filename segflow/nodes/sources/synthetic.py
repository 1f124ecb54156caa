"""``source.test_pattern``: synthetic frames with moving shapes, like GStreamer's videotestsrc.

Several instances in one workflow are several sources, which is how engine
tests and benchmarks exercise batching across cameras without a camera.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import cv2
import numpy as np
from pydantic import Field

from segflow.engine import Frame, LiveSourceParams, SourceNode, node_type


class PatternParams(LiveSourceParams):
    frames: int = Field(100, ge=0, description="How many frames to produce (0 = until stopped).")
    width: int = Field(320, ge=8, le=8192, description="Frame width in pixels.")
    height: int = Field(240, ge=8, le=8192, description="Frame height in pixels.")
    fps: float = Field(30.0, gt=0, le=1000, description="Frame rate; timestamps follow it.")
    realtime: bool = Field(
        False, description="Pace frames at `fps` like a live camera (and allow dropping)."
    )
    shapes: int = Field(3, ge=0, le=64, description="How many moving shapes to draw.")
    seed: int = Field(0, description="Seed of the shapes' colours, sizes and paths.")


@node_type("source.test_pattern")
class PatternSource(SourceNode):
    """Synthetic frames with moving shapes on a gradient: a camera-free source."""

    Params = PatternParams
    params: PatternParams

    def setup(self) -> None:
        p = self.params
        rng = np.random.default_rng(p.seed)
        y, x = np.mgrid[0 : p.height, 0 : p.width]
        background = np.stack(
            [(x * 255 // max(p.width - 1, 1)), (y * 255 // max(p.height - 1, 1)), np.full_like(x, 64)],
            axis=-1,
        )
        self._background = background.astype(np.uint8)
        self._shapes = [
            {
                "colour": tuple(int(c) for c in rng.integers(0, 256, 3)),
                "radius": int(rng.integers(4, max(5, min(p.width, p.height) // 6))),
                "start": rng.uniform(0, 1, 2),
                "velocity": rng.uniform(-0.02, 0.02, 2),
                "square": bool(rng.integers(0, 2)),
            }
            for _ in range(p.shapes)
        ]

    def total_frames(self) -> int | None:
        return self.params.frames or None

    def is_live(self) -> bool:
        return self.params.realtime

    def render(self, index: int) -> np.ndarray:
        p = self.params
        image = self._background.copy()
        for shape in self._shapes:
            fx, fy = (shape["start"] + shape["velocity"] * index) % 1.0
            cx, cy, r = int(fx * p.width), int(fy * p.height), shape["radius"]
            if shape["square"]:
                cv2.rectangle(image, (cx - r, cy - r), (cx + r, cy + r), shape["colour"], -1)
            else:
                cv2.circle(image, (cx, cy), r, shape["colour"], -1)
        cv2.putText(image, str(index), (4, p.height - 6), cv2.FONT_HERSHEY_PLAIN, 1, (255, 255, 255))
        return image

    def frames(self) -> Iterator[Frame]:
        p = self.params
        period = 1.0 / p.fps
        start = time.monotonic()
        index = 0
        while (p.frames == 0 or index < p.frames) and not self.context.stop_event.is_set():
            if p.realtime:
                delay = start + index * period - time.monotonic()
                if delay > 0:
                    self.context.stop_event.wait(delay)
            yield self.make_frame(self.render(index), index, index * period)
            index += 1
