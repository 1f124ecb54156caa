"""sink.jsonl and sink.csv: whole lines, rotation, stable CSV headers, restarts that append."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from sinkkit import complete_lines, feed, make_node, rendered_detections

from segflow.delivery.linefile import LineFile, repair_tail
from segflow.engine import NodeError
from segflow.engine.node import RunContext
from segflow.nodes.sinks.files import CsvSink, JsonlSink


@pytest.mark.parametrize(
    ("content", "kept"),
    [
        (b"", b""),
        (b"a\nb\n", b"a\nb\n"),
        (b'a\nb\n{"half', b"a\nb\n"),
        (b"no newline at all", b""),
        (b"x" * 70000 + b"\n" + b"y" * 70000, b"x" * 70000 + b"\n"),  # the cut lies beyond one read
    ],
)
def test_repair_tail(tmp_path: Path, content: bytes, kept: bytes) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(content)
    assert repair_tail(path) == len(content) - len(kept)
    assert path.read_bytes() == kept


def test_jsonl_writes_every_detection_and_restart_appends(tmp_path: Path) -> None:
    node = make_node(JsonlSink, tmp_path, path="out/d.jsonl", batch_size=4)
    for i in range(5):
        feed(node, i, rendered_detections())
    node.close()
    path = tmp_path / "out/d.jsonl"
    rows = [json.loads(line) for line in complete_lines(path)]
    assert len(rows) == 15 and path.read_bytes().endswith(b"\n")
    assert [(r["frame"], r["det_index"]) for r in rows] == [(f, d) for f in range(5) for d in range(3)]
    assert rows[0]["workflow"] == "wf" and rows[0]["length_mm"] == 5.0

    with open(path, "ab") as f:  # what kill -9 during a write can leave behind
        f.write(b'{"record_id":"half')
    again = make_node(JsonlSink, tmp_path, path="out/d.jsonl", per="frame")
    feed(again, 0, sv.Detections.empty())
    again.close()
    rows = [json.loads(line) for line in complete_lines(path)]
    assert len(rows) == 16 and rows[-1]["count"] == 0
    assert rows[0]["record_id"].split("-")[0:2] != rows[-1]["record_id"].split("-")[0:2]  # a new run id


def test_jsonl_buffers_until_batch_or_interval(tmp_path: Path) -> None:
    node = make_node(JsonlSink, tmp_path, path="d.jsonl", batch_size=100, flush_interval_s=0.2, per="frame")
    feed(node, 0, rendered_detections())
    path = tmp_path / "d.jsonl"
    assert path.read_bytes() == b""  # buffered: below batch_size
    deadline = 50
    while not path.read_bytes() and deadline:
        node.outbox.ticker._stop.wait(0.05)
        deadline -= 1
    assert len(complete_lines(path)) == 1  # the ticker wrote it within the interval
    node.close()


def test_records_overdue_for_a_starved_ticker_are_written_by_the_next_frame(tmp_path, monkeypatch) -> None:
    """A machine loaded past its cores can wake the ticker late; the frames that keep coming write for it."""
    import segflow.delivery.base as base

    now = [100.0]
    monkeypatch.setattr(base, "monotonic", lambda: now[0])  # the buffer's clock, moved by hand
    node = make_node(JsonlSink, tmp_path, path="d.jsonl", batch_size=100, flush_interval_s=0.5, per="frame")
    node.outbox.ticker.stop()  # a ticker that never gets the CPU
    path = tmp_path / "d.jsonl"
    feed(node, 0, rendered_detections())
    now[0] += 0.4
    feed(node, 1, rendered_detections())
    assert complete_lines(path) == []  # within the interval: they wait for a batch
    now[0] += 0.1
    feed(node, 2, rendered_detections())  # frame 0 has waited the interval
    assert [json.loads(line)["frame"] for line in complete_lines(path)] == [0, 1, 2]
    now[0] += 0.4
    feed(node, 3, rendered_detections())
    assert len(complete_lines(path)) == 3  # the buffer emptied, so its clock started again
    node.close()
    assert [json.loads(line)["frame"] for line in complete_lines(path)] == [0, 1, 2, 3]


def test_gate_options_reach_the_file(tmp_path: Path) -> None:
    node = make_node(
        JsonlSink,
        tmp_path,
        path="d.jsonl",
        per="frame",
        every_n_frames=2,
        only_when="count(class == stone) > 1",
    )
    dets = rendered_detections()
    for i in range(6):
        feed(node, i, dets if i != 2 else dets[dets.data["class_name"] == "bean"])
    node.close()
    frames = [json.loads(line)["frame"] for line in complete_lines(tmp_path / "d.jsonl")]
    assert frames == [0, 4]


def rotated_rows(tmp_path: Path, **rotate) -> tuple[list[Path], list[list[str]]]:
    node = make_node(JsonlSink, tmp_path, path="d.jsonl", batch_size=5, **rotate)
    for i in range(5):
        feed(node, i, rendered_detections(), value={"note": "x" * 40})
    node.close()
    files = sorted(tmp_path.glob("d.*.jsonl"), key=lambda p: int(p.name.split(".")[1]))
    files.append(tmp_path / "d.jsonl")
    lines = [complete_lines(p) for p in files]
    rows = [json.loads(line) for chunk in lines for line in chunk]
    # nothing lost, nothing doubled, still in order across the rotated files
    assert [(r["frame"], r["det_index"]) for r in rows] == [(f, d) for f in range(5) for d in range(3)]
    return files, lines


def test_rotation_by_record_count(tmp_path: Path) -> None:
    files, lines = rotated_rows(tmp_path, rotate_records=4)
    assert [p.name for p in files] == ["d.1.jsonl", "d.2.jsonl", "d.3.jsonl", "d.jsonl"]
    assert [len(chunk) for chunk in lines] == [4, 4, 4, 3]


def test_rotation_by_size(tmp_path: Path) -> None:
    limit = 1000
    files, lines = rotated_rows(tmp_path, rotate_mb=limit / 2**20)
    sizes = [sum(len(line) + 1 for line in chunk) for chunk in lines]
    assert len(files) > 3
    for size, nxt in zip(sizes[:-1], lines[1:], strict=True):
        assert size <= limit < size + len(nxt[0]) + 1  # full, and the next line would not fit


def test_write_to_a_full_disk_is_an_error_naming_the_sink(tmp_path: Path) -> None:
    node = make_node(JsonlSink, tmp_path, path="/dev/full", batch_size=1)
    with pytest.raises(NodeError, match=r"sink.jsonl 'sink': cannot write 1 record to /dev/full: No space"):
        feed(node, 0, rendered_detections())
    node.close()  # what it still holds is set aside, not dropped, and the report says where
    report = node.undelivered()
    assert report.records == 3 and "No space left" in report.reason
    assert len(complete_lines(Path(report.kept_in))) == 3


def test_failed_write_is_cut_back_to_whole_lines(tmp_path: Path) -> None:
    file = LineFile(tmp_path / "x.jsonl")
    file.open()
    file.write(['{"a":1}\n'])
    real_write = os.write
    calls = []

    def half_then_fail(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:5]))
        raise OSError(28, "No space left on device")

    os.write = half_then_fail
    try:
        with pytest.raises(OSError):
            file.write(['{"b":2}\n', '{"c":3}\n'])
    finally:
        os.write = real_write
    file.write(['{"d":4}\n'])
    file.close()
    assert (tmp_path / "x.jsonl").read_text() == '{"a":1}\n{"d":4}\n'


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("ok/sub/d.jsonl", None),
        ("blocker/d.jsonl", "is a file, not a folder"),
        ("folder", "is a folder, not a file"),
    ],
)
def test_check_params_paths(tmp_path: Path, path: str, problem: str | None) -> None:
    (tmp_path / "blocker").write_text("x")
    (tmp_path / "folder").mkdir()
    problems = JsonlSink.check_params(JsonlSink.Params(path=path), RunContext(base_dir=tmp_path))
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].field == "path" and problem in problems[0].message


def test_check_params_detects_a_disk_too_full(tmp_path: Path) -> None:
    free_mb = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize / 2**20
    ok = CsvSink.check_params(CsvSink.Params(path="a.csv", min_free_mb=free_mb / 2), RunContext(base_dir=tmp_path))
    full = CsvSink.check_params(CsvSink.Params(path="a.csv", min_free_mb=free_mb * 2), RunContext(base_dir=tmp_path))
    assert ok == [] and "MiB free" in full[0].message and "min_free_mb" in full[0].hint


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_csv_rows_have_flat_columns(tmp_path: Path) -> None:
    node = make_node(CsvSink, tmp_path, path="d.csv")
    feed(node, 0, rendered_detections(), value={"mean": 1.5})
    node.close()
    rows = read_csv(tmp_path / "d.csv")
    header = (tmp_path / "d.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["record_id", "workflow", "source", "frame", "timestamp", "time"]
    assert {"x1", "y1", "x2", "y2", "length_mm", "value.mean", "colour_lab"} <= set(header)
    assert [r["class"] for r in rows] == ["stone", "bean", "stone"]
    assert (rows[1]["x1"], rows[1]["y2"], rows[1]["value.mean"]) == ("41.0", "39.0", "1.5")
    assert json.loads(rows[2]["colour_lab"]) == [70.0, 5.0, 6.0]


def test_csv_new_field_rotates_instead_of_shifting_columns(tmp_path: Path) -> None:
    node = make_node(CsvSink, tmp_path, path="d.csv", batch_size=1)
    plain = rendered_detections()
    feed(node, 0, plain)
    richer = rendered_detections()
    richer.data["hue_deg"] = np.array([10.0, 20.0, 30.0])
    feed(node, 1, richer)
    feed(node, 2, plain)  # fewer fields fit the current header: no new file
    node.close()
    old, new = read_csv(tmp_path / "d.1.csv"), read_csv(tmp_path / "d.csv")
    assert len(old) == 3 and "hue_deg" not in old[0]
    assert [r["hue_deg"] for r in new] == ["10.0", "20.0", "30.0", "", "", ""]
    assert [r["frame"] for r in new] == ["1"] * 3 + ["2"] * 3


def test_csv_restart_keeps_the_header_and_repairs(tmp_path: Path) -> None:
    node = make_node(CsvSink, tmp_path, path="d.csv", per="frame")
    feed(node, 0, rendered_detections())
    node.close()
    with open(tmp_path / "d.csv", "a") as f:
        f.write("half,a,row")
    again = make_node(CsvSink, tmp_path, path="d.csv", per="frame")
    feed(again, 1, rendered_detections())
    again.close()
    text = (tmp_path / "d.csv").read_text()
    assert text.count("record_id") == 1 and "half" not in text
    rows = read_csv(tmp_path / "d.csv")
    assert [(r["frame"], r["count"], r["counts.stone"]) for r in rows] == [
        ("0", "3", "2"),
        ("1", "3", "2"),
    ]
    assert not (tmp_path / "d.1.csv").exists()


def test_csv_per_frame_keeps_the_detections_as_json_text(tmp_path: Path) -> None:
    node = make_node(CsvSink, tmp_path, path="d.csv", per="frame")
    feed(node, 0, rendered_detections())
    node.close()
    [row] = read_csv(tmp_path / "d.csv")
    assert list(row)[-1] == "detections"  # counts first, the list last
    dets = json.loads(row["detections"])
    assert [d["class"] for d in dets] == ["stone", "bean", "stone"]
    assert [d["det_index"] for d in dets] == [0, 1, 2] and len(dets[0]["box"]) == 4
    assert row["count"] == "3" and row["counts.stone"] == "2"


def test_csv_newlines_in_values_stay_on_one_line(tmp_path: Path) -> None:
    dets = rendered_detections()
    dets.data["note"] = np.array(["a\nb", "c,d", 'say "hi"'])
    node = make_node(CsvSink, tmp_path, path="d.csv")
    feed(node, 0, dets)
    node.close()
    assert len((tmp_path / "d.csv").read_text().splitlines()) == 4
    assert [r["note"] for r in read_csv(tmp_path / "d.csv")] == ["a\\nb", "c,d", 'say "hi"']


def test_a_value_only_sink_writes_one_line_per_frame(tmp_path: Path) -> None:
    node = make_node(JsonlSink, tmp_path, path="v.jsonl")
    for i in range(3):
        feed(node, i, value={"mean": i * 1.5})
    node.close()
    rows = [json.loads(line) for line in complete_lines(tmp_path / "v.jsonl")]
    assert [(r["frame"], r["value"]["mean"]) for r in rows] == [(0, 0.0), (1, 1.5), (2, 3.0)]


def test_a_failed_background_flush_is_reported_and_nothing_is_lost(tmp_path: Path) -> None:
    node = make_node(JsonlSink, tmp_path, path="f.jsonl", per="frame", batch_size=1000, flush_interval_s=0.05)
    real_write, failures, disk_full = node.write, [], [True]

    def flaky(records):
        if disk_full[0]:
            failures.append(len(records))
            raise OSError(28, "No space left on device")
        real_write(records)

    node.write = flaky
    feed(node, 0, rendered_detections())
    deadline = 100
    while not failures and deadline:
        node.outbox.ticker._stop.wait(0.02)
        deadline -= 1
    with pytest.raises(NodeError, match=r"sink.jsonl 'sink': cannot write .* No space left"):
        feed(node, 1, rendered_detections())  # the ticker's failure surfaces on the next frame
    disk_full[0] = False
    for i in range(2, 4):
        try:
            feed(node, i, rendered_detections())
        except NodeError:
            pass  # a failure the ticker met before the disk recovered
    node.close()
    frames = [json.loads(line)["frame"] for line in complete_lines(tmp_path / "f.jsonl")]
    assert frames == [0, 1, 2, 3] and failures


def test_a_target_that_keeps_failing_holds_bounded_memory_and_sets_records_aside(tmp_path, monkeypatch, caplog):
    """/dev/full refuses every write: the backlog stops growing at the limit; nothing is dropped."""
    from sinkkit import feed, make_node

    import segflow.delivery.base as base
    from segflow.engine import NodeError
    from segflow.nodes.sinks.files import JsonlSink

    monkeypatch.setattr(base, "MAX_BUFFERED_RECORDS", 5)
    node = make_node(JsonlSink, tmp_path, path="/dev/full", batch_size=1, flush_interval_s=3600)
    failures = 0
    for frame in range(12):
        try:
            feed(node, frame, value={"n": frame})
        except NodeError:
            failures += 1
    assert failures == 12
    assert len(node.outbox.items) == 5  # the newest five wait in memory for the disk to come back
    assert [r["frame"] for r in node.outbox.items] == [7, 8, 9, 10, 11]
    assert "set the 1 oldest unwritten records aside" in caplog.text
    node.close()  # the five still refused join the seven in the rejected file
    report = node.undelivered()
    assert report is not None and report.records == 12 and report.node == "sink"
    kept = [json.loads(line) for line in complete_lines(Path(report.kept_in))]
    assert [r["record"]["frame"] for r in kept] == list(range(12))
    assert all("No space left" in r["error"] or "kept failing" in r["error"] for r in kept)
