"""The Train mode's job: a real `segflow train` subprocess, its progress, and a clean Stop."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from segflow.tools.labelling.training import TrainJob, TrainSettings, read_progress
from segflow.tools.synth.dataset import write_dataset


def test_progress_reads_the_last_complete_epoch(tmp_path: Path):
    log = tmp_path / "epochs.jsonl"
    assert read_progress(log, 5).epoch == 0
    log.write_text(json.dumps({"epoch": 1, "epochs": 5, "elapsed_s": 3.0, "metrics/mAP50(M)": 0.25}) + "\n"
                   + json.dumps({"epoch": 2, "epochs": 5, "elapsed_s": 6.5, "metrics/mAP50(M)": 0.5}) + "\n"
                   + '{"epoch": 3, "epo')  # a line still being written
    progress = read_progress(log, 5)
    assert (progress.epoch, progress.mask_map50, progress.fraction) == (2, 0.5, 0.4)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_stop_ends_the_run_and_its_process_group(tmp_path: Path):
    data = write_dataset(tmp_path / "ds", n_train=4, n_val=2, seed=3)
    settings = TrainSettings(data=str(data), model="yolov8n-seg.yaml", epochs=200, imgsz=64, batch=2,
                             out="runs/stop-me")
    job = TrainJob(settings, tmp_path)
    job.start()
    deadline = time.monotonic() + 240
    while job.progress().epoch < 1 and time.monotonic() < deadline:  # wait until it really trains
        assert job.poll() == "training", job.log_tail()
        time.sleep(0.5)
    assert job.progress().epoch >= 1, job.log_tail()
    pid = job._proc.pid
    job.stop()
    assert job.phase == "stopped" and not job.running
    assert job._proc.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # no worker of the run is left behind
    assert job.summary() is None and job.progress().epoch < 200
    # the finished epochs left their best weights, which Train mode offers to use
    assert job.weights() == job.out / "weights" / "best.pt" and job.weights().is_file()
