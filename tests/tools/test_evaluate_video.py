"""The model-card video check: tracker logic and an end-to-end run on a short video."""

import json

import numpy as np
import pytest

from segflow.tools.evaluate_video import Tracks, evaluate
from segflow.tools.synth.video import render_conveyor, write_video


@pytest.mark.parametrize(
    "speeds,gaps,expected",
    [
        ([8, 8], [], 2),  # two stones riding the belt: two tracks
        ([8], [5, 6], 1),  # missed for two frames, then seen again: still one
        ([8], list(range(3, 12)), 2),  # lost for longer than max_miss: counted twice
        ([60], [], 20),  # jumps far beyond the gate every frame: never linked
    ],
)
def test_tracks_link_constant_velocity_motion(speeds, gaps, expected):
    tracker = Tracks(gate_px=40.0, max_miss=5)
    for t in range(20):
        if t in gaps:
            tracker.update([])
            continue
        tracker.update([np.array([10.0 + v * t, 100.0 + 150 * i]) for i, v in enumerate(speeds)])
    assert len(tracker.tracks) == expected


def test_evaluate_runs_end_to_end(tiny_run, tmp_path):
    video = render_conveyor(seed=2, seconds=1.0, fps=15, n_stones=2, beans_per_frame=20)
    path = write_video(video.frames, tmp_path / "v.mp4", 15)
    path.with_suffix(".json").write_text(json.dumps(video.truth))
    report = evaluate(str(tiny_run["out"] / "weights" / "best.pt"), str(path), imgsz=64)
    assert report["frames"] == 15 and report["stones_truth"] == 2
    assert 0 <= report["stones_detected_at_first_full_view"] <= 2
