"""workflows/sinks_*.yaml run end to end on the conveyor sample, and their sinks agree."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import time
import uuid
from pathlib import Path

import av
import cv2
import pytest
from sinkkit import Broker, Receiver, Subscriber

from segflow.engine.runner import load

ROOT = Path(__file__).resolve().parents[2]
FRAMES = 12


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "assets/samples").mkdir(parents=True)
    shutil.copy(ROOT / "assets/samples/conveyor.mp4", tmp_path / "assets/samples/conveyor.mp4")
    return tmp_path


def test_sinks_files_workflow(workdir: Path) -> None:
    report = load(ROOT / "workflows/sinks_files.yaml", base_dir=workdir).run(max_frames=FRAMES)
    assert report.failures == 0 and report.frames == FRAMES
    out = workdir / "out/conveyor"
    objects = [json.loads(line) for line in (out / "objects.jsonl").read_text().splitlines()]
    with open(out / "counts.csv", newline="") as f:
        counts = list(csv.DictReader(f))
    con = sqlite3.connect(out / "results.db")
    db_count = con.execute("select count(*) from detections").fetchone()[0]
    db_frames = con.execute("select count(*) from frames").fetchone()[0]
    con.close()
    # three sinks, one truth: the same objects, frame by frame
    assert len(counts) == db_frames == FRAMES
    assert len(objects) == db_count == sum(int(r["count"]) for r in counts) > 10 * FRAMES
    assert all(r["length_mm"] == pytest.approx(r["length_px"] * 0.25) for r in objects)
    with av.open(str(out / "belt.mp4")) as video:
        assert video.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in video.decode(video=0)) == FRAMES
    crops = list((out / "crops").rglob("*.png"))
    long_frames = {r["frame"] for r in objects if r["length_mm"] > 9}
    assert crops and {int(p.name.split("_")[-3]) for p in crops} <= long_frames
    assert cv2.imread(str(crops[0]), cv2.IMREAD_UNCHANGED).shape[2] == 4


def test_sinks_network_workflow(workdir: Path, receiver: Receiver, broker: Broker, monkeypatch) -> None:
    monkeypatch.setenv("SEGFLOW_TOKEN", "t0ken")
    sub = Subscriber(broker.port, "segflow/conveyor-alerts/#", f"t-{uuid.uuid4().hex[:8]}")
    try:
        wf = load(
            ROOT / "workflows/sinks_network.yaml",
            overrides=[f"hook.url={receiver.url}", f"broker.port={broker.port}"],
            base_dir=workdir,
        )
        report = wf.run(max_frames=FRAMES)
        assert report.failures == 0
        frames = [r["frame"] for r in receiver.records()]
        assert frames == list(range(FRAMES))
        assert receiver.headers[0]["Authorization"] == "Bearer t0ken"
        expected = sum(1 for r in receiver.records() for d in r["detections"] if d["length_mm"] > 9)
        deadline = time.monotonic() + 20
        while len(sub.messages) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sub.close()
    assert expected > 0 and len({m["record_id"] for _, m in sub.messages}) == expected
    assert {t for t, _ in sub.messages} == {"segflow/conveyor-alerts/belt"}
