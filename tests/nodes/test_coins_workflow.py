"""workflows/coins.yaml end to end: photo -> threshold -> measure -> colour -> sinks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

ROOT = Path(__file__).resolve().parents[2]


def test_committed_sample_is_the_coins_photo():
    pixels = cv2.imread(str(ROOT / "assets/samples/coins.png"), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(pixels, data.coins())


def test_coins_workflow_runs_and_logs_24_measured_coins(tmp_path):
    from segflow.engine import api
    (tmp_path / "assets/samples").mkdir(parents=True)
    shutil.copy(ROOT / "assets/samples/coins.png", tmp_path / "assets/samples/coins.png")
    workflow = api.load(ROOT / "workflows/coins.yaml", base_dir=tmp_path)
    report = workflow.run()
    assert report.failures == 0
    records = [json.loads(line) for line in (tmp_path / "out/coins.jsonl").read_text().splitlines()]
    assert len(records) == 24
    assert {r["class"] for r in records} == {"coin"}
    # 0.4 mm per pixel; the coins in the photo are about 38 to 66 px across.
    assert all(14 < r["feret_max_mm"] < 28 for r in records)
    assert all(r["length_mm"] == pytest.approx(r["length_px"] * 0.4) for r in records)
    # The coin at (25, 179) has a dark patch on its rim that its grey-level outline follows (0.78).
    assert all(r["circularity"] > 0.75 for r in records)
    assert sum(r["edge_method"] == "image" for r in records) >= 22  # the frame is wired in by itself
    assert all(r["colour_label"] in {"bright", "dark", "other"} for r in records)
    assert len(list((tmp_path / "out/coins").rglob("*.png"))) == 1
