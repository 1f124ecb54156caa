"""Train mode: a model after a Stop, one time figure, and a warning when the val split is too small to compare."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from segflow.tools.labelling.training import TrainJob, TrainSettings, few_val_frames

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "segflow" / "ui" / "app.py")


def stopped_job(ws: Path, epochs_done: int) -> TrainJob:
    """A job stopped after ``epochs_done`` epochs, as ``segflow train`` leaves its folder (no summary)."""
    job = TrainJob(TrainSettings(data="datasets/d/data.yaml", epochs=5, out="runs/label/d-1"), ws)
    (job.out / "weights").mkdir(parents=True)
    rows = [{"epoch": e, "epochs": 5, "elapsed_s": 3.0 * e, "metrics/mAP50(M)": 0.4} for e in range(1, epochs_done + 1)]
    (job.out / "epochs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if epochs_done:
        shutil.copyfile(ROOT / "assets/models/coffee-stones-seg.pt", job.out / "weights" / "best.pt")
    job.phase, job.message = "stopped", "stopped by the user"
    job.started, job.finished = time.monotonic() - 12.0, time.monotonic()
    return job


@pytest.mark.parametrize(("epochs_done", "usable"), [(1, True), (0, False)])
def test_a_stopped_run_offers_the_best_of_its_finished_epochs(tmp_path, epochs_done, usable):
    job = stopped_job(tmp_path, epochs_done)
    assert (job.weights() == job.out / "weights" / "best.pt") is usable
    assert job.weights() is not None or not usable
    assert 11.5 < job.elapsed < 13.0 and job.elapsed == job.elapsed  # fixed once finished


@pytest.mark.parametrize(("count", "warned"), [(0, True), (1, True), (4, True), (5, False), (40, False)])
def test_few_val_frames_warn(count, warned):
    text = few_val_frames(count)
    assert (text is not None) is warned
    if warned:
        assert f"{count} frame" in text and "0.995" in text


@pytest.fixture
def workspace(tmp_path) -> Path:
    (tmp_path / "workflows").mkdir()
    shutil.copy(ROOT / "workflows" / "coffee_stones.yaml", tmp_path / "workflows" / "coffee_stones.yaml")
    os.symlink(ROOT / "assets", tmp_path / "assets")
    return tmp_path


def test_train_mode_offers_use_this_model_after_a_stop_and_uses_it(monkeypatch, workspace):
    monkeypatch.setenv("SEGFLOW_EDITOR_WORKSPACE", str(workspace))
    monkeypatch.setenv("SEGFLOW_EDITOR_FILE", "workflows/coffee_stones.yaml")
    monkeypatch.delenv("SEGFLOW_EDITOR_TOKEN", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.session_state["train_job"] = stopped_job(workspace, 1)
    at.session_state["mode"] = "Train"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    warnings = "\n".join(str(w.value) for w in at.warning)
    assert "Training stopped after 12 s (epoch 1 of 5 finished)" in warnings and "best.pt" in warnings
    assert "— stopped — 12 s" in "\n".join(str(c.value) for c in at.caption)  # one figure, said twice alike
    at.button(key="train_use").click().run()
    params = at.session_state["editor"].state.node("detect").params
    assert params["model"] == "runs/label/d-1/weights/best.pt"
