"""A served run without HTTP: requests' images meet in one micro-batch and each result goes home."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from segflow.engine.api import loads
from segflow.serve.batched import BatchedRun

WORKFLOW = """\
version: 1
name: means
settings: {on_error: skip}
nodes:
  cam: {type: source.test_pattern, params: {frames: 1}}
  model:
    type: debug.simulated_model
    params: {call_ms: 5, item_ms: 1, batch_size: 4, max_wait_ms: 1000}
    inputs: {image: cam.image}
  picky: {type: debug.fail, params: {frames: FRAMES, exception: FAIL}, inputs: {image: model.image}}
  stats: {type: debug.stats, inputs: {image: picky.image}}
  means: {type: sink.jsonl, params: {path: OUT/means.jsonl, per: frame}, inputs: {value: stats.value}}
  batches: {type: sink.jsonl, params: {path: OUT/batches.jsonl, per: frame}, inputs: {value: model.value}}
"""


def served(tmp_path: Path, exception: str = "NodeError", fail_on: str = "[5]") -> BatchedRun:
    text = WORKFLOW.replace("OUT", str(tmp_path)).replace("FAIL", exception).replace("FRAMES", fail_on)
    return BatchedRun(loads(text, base_dir=tmp_path))


def test_concurrent_images_are_batched_and_each_gets_its_own_result(tmp_path: Path) -> None:
    run = served(tmp_path, fail_on="[]")
    run.start()
    try:
        images = [np.full((8, 8, 3), 10 * k, np.uint8) for k in range(8)]
        futures = run.submit(images)  # all in flight before the first batch fills
        results = [f.result(timeout=120) for f in futures]
        with ThreadPoolExecutor(4) as pool:
            more = list(pool.map(lambda k: run.submit([images[k]])[0].result(timeout=120), [3, 1, 7, 0]))
    finally:
        run.stop()
    assert [r.records["means"][0]["value"]["mean"] for r in results] == [10.0 * k for k in range(8)]
    assert [r.records["means"][0]["value"]["mean"] for r in more] == [30.0, 10.0, 70.0, 0.0]
    assert max(r.records["batches"][0]["value"] for r in results) > 1  # they met in the model's batches
    assert not (tmp_path / "means.jsonl").exists()  # the sinks' rows came back; nothing was written


def test_a_node_failing_on_one_image_is_that_image_s_error(tmp_path: Path) -> None:
    run = served(tmp_path)
    try:
        results = [run.submit([np.zeros((8, 8, 3), np.uint8)])[0].result(timeout=120) for _ in range(7)]
    finally:
        run.stop()
    assert [bool(r.errors) for r in results] == [False] * 5 + [True, False]
    assert "node 'picky' (debug.fail): simulated failure on frame 5" in results[5].errors[0]
    assert "means" not in results[5].records and results[5].records["batches"]  # its sink got nothing


def test_a_crash_ends_the_run_for_whoever_waits_and_the_next_request_starts_a_new_one(tmp_path: Path) -> None:
    run = served(tmp_path, exception="SystemExit")
    try:
        futures = [run.submit([np.zeros((8, 8, 3), np.uint8)])[0] for _ in range(6)]
        crashed = futures[5].result(timeout=120)
        assert "SystemExit" in crashed.errors[0] and "'picky'" in crashed.errors[0]
        again = run.submit([np.full((8, 8, 3), 7, np.uint8)])[0].result(timeout=120)
    finally:
        run.stop()
    assert again.records["means"][0]["value"]["mean"] == 7.0
