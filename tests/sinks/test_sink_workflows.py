"""workflows/sinks_*.yaml and line_outputs.yaml run end to end on the conveyor sample, and their sinks agree."""

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
from linekit import ModbusServer, OpcuaServer
from sinkkit import Broker, Receiver, Subscriber

from segflow.engine.api import load

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
    db_ids = {row[0] for row in con.execute("select record_id from detections")}
    (run_id,) = {row[0] for row in con.execute("select run_id from frames")}
    con.close()
    # one run id for the run: a detection has the same record_id in the file and the database
    assert {r["record_id"] for r in objects} == db_ids
    assert all(r["record_id"].startswith(f"{run_id}-") for r in counts)
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
            overrides=[f"hook.url={receiver.url}", f"snapshot.url={receiver.url}/frames", f"broker.port={broker.port}"],
            base_dir=workdir,
        )
        report = wf.run(max_frames=FRAMES)
        assert report.failures == 0
        frames = [r["frame"] for r in receiver.records()]
        assert frames == list(range(FRAMES))
        json_headers = [h for h in receiver.headers if h["Content-Type"] == "application/json"]
        assert json_headers[0]["Authorization"] == "Bearer t0ken"
        assert [h["X-First-Frame"] for h in json_headers] == [str(b["records"][0]["frame"]) for b in receiver.batches]
        puts = {(method, path) for method, path, _ in receiver.requests if method == "PUT"}
        assert puts == {("PUT", "/hook?line=belt")}
        snapshots = [body for method, path, body in receiver.requests if path == "/hook/frames"]
        long_frames = [r["frame"] for r in receiver.records() if any(d["length_mm"] > 9 for d in r["detections"])]
        assert len(snapshots) == len(long_frames) > 0
        assert all(b"Content-Type: image/jpeg\r\n\r\n\xff\xd8" in body for body in snapshots)  # a JPEG each
        expected = sum(1 for r in receiver.records() for d in r["detections"] if d["length_mm"] > 9)
        deadline = time.monotonic() + 20
        while len(sub.messages) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sub.close()
    assert expected > 0 and len({m["record_id"] for _, m in sub.messages}) == expected
    assert {t for t, _ in sub.messages} == {"segflow/conveyor-alerts/belt"}


def test_line_outputs_workflow(workdir: Path) -> None:
    """The PLC's gate, its registers, the SCADA variables and the audit log agree frame by frame."""
    plc = ModbusServer().start()
    scada = OpcuaServer(namespace="urn:plant:line1").start()
    try:
        wf = load(
            ROOT / "workflows/line_outputs.yaml",
            # max_age_s off: a loaded test machine may hold a write past 1 s (test_sink_modbus tests expiry)
            overrides=[f"gate.port={plc.port}", f"scada.endpoint={scada.endpoint}", "gate.max_age_s=0",
                       "scada.max_age_s=0"],
            base_dir=workdir,
        )
        report = wf.run(max_frames=FRAMES)  # the sinks' close() drains their queues
    finally:
        plc.close()
        scada.close()
    assert report.failures == 0 and report.frames == FRAMES
    audit = [json.loads(line) for line in (workdir / "out/conveyor/rejects.jsonl").read_text().splitlines()]
    longest: dict[int, float] = {}
    for r in audit:
        longest[r["frame"]] = max(longest.get(r["frame"], 0.0), r["length_mm"])
    frames = sorted(longest)
    assert frames and all(v > 9 for v in longest.values())
    gate = [v[0] for v in plc.values("coil", 0)]
    assert pulses(gate) == len(frames)
    assert [hi << 16 | lo for hi, lo in plc.values("register", 0)] == frames
    assert [v[0] for v in plc.values("register", 2)] == [round(longest[f] * 10) for f in frames]
    assert scada.values("Frame") == frames
    assert scada.values("LengthMm") == pytest.approx([longest[f] for f in frames])
    assert scada.values("Count") == [sum(1 for r in audit if r["frame"] == f) for f in frames]
    assert pulses(scada.values("Reject")) == len(frames)


def pulses(values: list[bool]) -> int:
    """Rejecting frames seen in a pulsed output's writes: each sets it on; it goes off after the last one
    (and between two when they came more than pulse_ms apart), never twice in a row."""
    assert values and values[-1] is False and values[0] is True
    assert all(a or b for a, b in zip(values, values[1:], strict=False)), values
    return values.count(True)
