"""measure.masks with ``workers``: objects' edges fitted in worker processes, the same figures as in one thread.

Real processes (spawned, as the node starts them), on a camera-like frame of the truth
generator: small blobs and bars under a soft lens, with noise, and masks off by a pixel.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from pydantic import ValidationError

from segflow.engine.frame import Frame, PacketInfo
from segflow.engine.node import Inputs, RunContext
from segflow.nodes.measure.masks import MeasureMasks
from segflow.tools.measure_truth import SCENARIOS, scenes, with_mask


def frame_and_masks(kind: str) -> tuple[np.ndarray, np.ndarray]:
    scene, masks = next(iter(scenes(replace(with_mask(SCENARIOS[kind], "model"), objects=4, frames=1, seed=11))))
    return scene.image, np.stack(masks)


def pids() -> set[int]:
    return {p.pid for p in multiprocessing.active_children() if p.pid is not None}


def measured(image: np.ndarray, masks: np.ndarray, workers: int | str) -> tuple[sv.Detections, set[int]]:
    """The measured detections, and the processes the node started (alive before it closed)."""
    params = MeasureMasks.Params(scale={"mode": "fixed", "mm_per_px": 0.1}, workers=workers)
    node = MeasureMasks("measure", params, RunContext("workers"))
    before = pids()
    node.setup()
    boxes = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
                      for ys, xs in (np.nonzero(m) for m in masks)], float)
    detections = sv.Detections(xyxy=boxes, mask=masks, class_id=np.zeros(len(masks), int))
    inputs = Inputs({"detections": detections, "image": Frame(image, "cam", 0, 0.0)}, PacketInfo("cam", 0, 0.0, "w"))
    try:
        out = node.process(inputs)["detections"]
        return out, pids() - before
    finally:
        node.close()


@pytest.mark.parametrize("kind", ["blob", "bar"])
def test_workers_give_the_figures_one_thread_gives(kind):
    image, masks = frame_and_masks(kind)
    (alone, none), (side_by_side, two) = measured(image, masks, 1), measured(image, masks, 2)
    assert (len(none), len(two)) == (0, 2)
    assert not two & pids()  # close() stopped them
    assert np.array_equal(alone.mask, side_by_side.mask)
    assert set(alone.data) == set(side_by_side.data)
    for name, values in alone.data.items():
        if values.dtype == object:
            assert list(values) == list(side_by_side.data[name]), name
        else:
            np.testing.assert_array_equal(values, side_by_side.data[name], err_msg=name)
    assert set(alone.data["edge_method"]) == {"image"}  # the work the workers did was the real fit


def test_a_workers_count_out_of_range_is_refused_with_its_fix():
    with pytest.raises(ValidationError, match="1 to 256, or auto"):
        MeasureMasks.Params(workers=0)
    assert MeasureMasks.Params(workers="auto").workers == "auto"


def test_a_script_without_a_main_guard_is_not_run_again_by_the_workers(tmp_path):
    """Spawned processes import the parent's main script unless told not to: its side effects would run twice."""
    script = tmp_path / "measure_photo.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "print('top level', flush=True)\n"
        "from test_measure_workers import frame_and_masks, measured\n"
        "detections, started = measured(*frame_and_masks('blob'), 2)\n"
        "print('workers', len(started), 'methods', sorted(set(detections.data['edge_method'])), flush=True)\n"
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("top level") == 1, run.stdout
    assert "workers 2 methods ['image']" in run.stdout
    assert "died" not in run.stderr  # no worker fell over on the way (the node would fall back to its thread)
