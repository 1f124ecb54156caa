"""A looped video pipeline changed over HTTP carries on where it was: across a loop's wrap, no frame lost or twice.

A light server (no model: ``debug.simulated_model``) on a 12-frame video the test
writes, so the pipeline goes round the file many times in a few seconds and the
changes land before, at and after wraps.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from servekit import wait_for

from segflow.client import Client
from tests.serve.conftest import Server, start_server, stop_server

FRAMES, FPS = 12, 10.0


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> Server:
    running = start_server(tmp_path_factory.mktemp("light"))
    yield running
    stop_server(running.process)


def write_video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (64, 48))
    for i in range(FRAMES):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()
    return path


def looped(video: Path, out: Path, call_ms: float, fps: float = 0.0) -> str:
    return f"""\
version: 1
name: loop-watch
settings: {{max_inflight: 4}}
nodes:
  belt: {{type: source.video, params: {{path: {video}, loop: true, fps: {fps}}}}}
  model:
    type: debug.simulated_model
    params: {{call_ms: {call_ms}, item_ms: 1, batch_size: 2, max_wait_ms: 5}}
    inputs: {{image: belt.image}}
  stats: {{type: debug.stats, inputs: {{image: model.image}}}}
  log:
    type: sink.jsonl
    params: {{path: {out}, per: frame, flush_interval_s: 0.2}}
    inputs: {{value: stats.value}}
"""


def through(client: Client, pipeline_id: str, frames: int) -> None:
    """Wait until the pipeline has put ``frames`` through, all runs together; a failed run fails the test at once."""
    info = wait_for(lambda: i if (i := client.get(pipeline_id)).frames_done >= frames or i.state == "failed"
                    else None, what=f"{frames} frames through")
    assert info.state != "failed", info.error


@pytest.mark.parametrize(("fps", "kept"), [(0.0, list(range(FRAMES))), (4.0, [0, 3, 5, 8, 10])],
                         ids=["every-frame", "fps-cap"])
def test_restarts_across_loop_wraps_lose_and_repeat_no_frame(light: Server, tmp_path: Path, fps: float,
                                                              kept: list[int]) -> None:
    video, out = write_video(tmp_path / "loop.avi"), tmp_path / "loop.jsonl"
    with Client(light.url) as client:
        started = client.start(yaml=looped(video, out, 20, fps))
        began = 0  # frames through when the current run began: each run puts its own share through
        for swap, run in enumerate((5, 2 * FRAMES + 1, 4 * FRAMES, 5 * FRAMES + 7), start=1):
            through(client, started.id, began + run)
            changed = client.update(started.id, looped(video, out, 20 + swap, fps))  # call_ms: set up anew
            assert changed.how == "restarted" and changed.pipeline.generation == swap
            # the count carries on across the restart, as the sink's frame numbers do
            assert changed.pipeline.swaps[-1]["at_frames"] >= began + run
            began = changed.pipeline.frames_done
            assert began >= changed.pipeline.swaps[-1]["at_frames"]
        through(client, started.id, began + 10)
        stopped = client.stop(started.id)
        assert stopped.state == "stopped", stopped.error
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == stopped.frames_done  # every frame through, all runs together, reached the sink once
    assert len({r["record_id"].rsplit("-", 2)[0] for r in records}) == 5  # five runs wrote them
    indices = [r["frame"] for r in records]
    assert indices == list(range(len(records)))  # the sink's frame numbers go on across every swap
    # Which file frame of which pass each record is, from its timestamp (passes so far + file frame / fps):
    # the frames the fps cap keeps, pass after pass, many times round the file.
    played = [round(r["timestamp"] * FPS) for r in records]
    assert played == [i // len(kept) * FRAMES + kept[i % len(kept)] for i in range(len(records))]
    assert played[-1] > 6 * FRAMES
