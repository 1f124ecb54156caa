"""One record path: one run id for every sink, the same batch meaning in file and remote sinks, no ignored param."""

from __future__ import annotations

import json
import pickle
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pydantic
import pytest
from sinkkit import feed, make_node, rendered_detections

from segflow.delivery.remote import RemoteSink
from segflow.engine.api import loads
from segflow.engine.execution.executor import RunOptions
from segflow.engine.workflow.issues import WorkflowError
from segflow.nodes.sinks.files import JsonlSink
from segflow.nodes.sinks.images import ImagesParams
from segflow.nodes.sinks.stdout import StdoutParams
from segflow.nodes.sinks.video import VideoParams

TWO_SINKS = """\
version: 1
name: joined
nodes:
  pattern: {type: source.test_pattern, params: {frames: 5, width: 32, height: 24}}
  log: {type: sink.jsonl, params: {path: out/log.jsonl}, inputs: {image: pattern.image}}
  db: {type: sink.sql, params: {database: out/db.sqlite}, inputs: {image: pattern.image}}
"""


def test_two_sinks_of_one_run_give_each_frame_one_record_id(tmp_path: Path) -> None:
    """The run id comes from the run, not from each sink: a JSONL line and its SQL row join on it."""
    ids = []
    for _ in range(2):  # two runs: each its own run id, shared by both of its sinks
        report = loads(TWO_SINKS, base_dir=tmp_path).run()
        assert report.failures == 0 and report.frames == 5
        lines = (tmp_path / "out/log.jsonl").read_text().splitlines()[-5:]
        ids.append({json.loads(line)["record_id"] for line in lines})
    con = sqlite3.connect(tmp_path / "out/db.sqlite")
    rows = con.execute("select run_id, source, frame_index from frames").fetchall()
    runs = con.execute("select run_id, node_id from runs").fetchall()
    con.close()
    assert {f"{run}-{source}-{frame}" for run, source, frame in rows} == ids[0] | ids[1]
    assert len({i.rsplit("-", 2)[0] for i in ids[0]}) == 1 and ids[0].isdisjoint(ids[1])
    assert sorted(node for _, node in runs) == ["db", "db"] and len({run for run, _ in runs}) == 2


def test_every_worker_of_a_run_gets_the_same_run_id(tmp_path: Path) -> None:
    """Ray builds a context per actor from the run's options (pickled): they agree on the run id."""
    plan = loads(TWO_SINKS, base_dir=tmp_path).plan()
    options = RunOptions(tmp_path)
    contexts = [pickle.loads(pickle.dumps(options.context(plan))) for _ in range(3)]
    assert {c.run_id for c in contexts} == {options.run_id}
    assert RunOptions(tmp_path).context(plan).run_id != options.run_id  # the next run is another


def test_sql_refuses_per_detection_at_validation() -> None:
    text = TWO_SINKS.replace("{database: out/db.sqlite}", "{database: out/db.sqlite, per: detection}")
    with pytest.raises(WorkflowError) as caught:
        loads(text, file="wf.yaml")
    (issue,) = [i for i in caught.value.issues if i.is_error]
    assert issue.node == "db" and "per" in issue.message and "'frame'" in issue.message
    assert issue.location is not None and issue.location.line == 6


@pytest.mark.parametrize("params", [StdoutParams, ImagesParams, VideoParams])
@pytest.mark.parametrize("option", ["batch_size", "flush_interval_s"])
def test_sinks_that_batch_nothing_have_no_batch_options(params: Any, option: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        params(**{option: 2})


class Counting:
    """Records each write's size (from whichever thread writes) and keeps the records."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.records: list[dict[str, Any]] = []
        self.changed = threading.Condition()

    def write(self, items: list[dict[str, Any]]) -> None:
        with self.changed:
            self.sizes.append(len(items))
            self.records.extend(items)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> float:
        start = time.monotonic()
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.records) >= count, timeout), self.records
        return time.monotonic() - start


class CountingFile(JsonlSink):
    writes = Counting()

    def write(self, items: list[dict[str, Any]]) -> None:
        self.writes.write(items)


class CountingRemote(RemoteSink):
    writes = Counting()

    def write(self, items: list[dict[str, Any]]) -> None:
        self.writes.write(items)


@pytest.mark.parametrize(("cls", "extra"), [(CountingFile, {"path": "f.jsonl"}), (CountingRemote, {})],
                         ids=["file", "remote"])
def test_batch_size_and_flush_interval_mean_the_same_in_file_and_remote_sinks(tmp_path, cls, extra) -> None:
    """batch_size: the most records one write gets; flush_interval_s: the longest a partial batch waits."""
    cls.writes = Counting()
    node = make_node(cls, tmp_path, batch_size=2, flush_interval_s=0.3, **extra)
    try:
        for frame in range(3):
            feed(node, frame, rendered_detections())  # three detections a frame: 9 records
        cls.writes.wait_for(8)  # four full batches go at once
        waited = cls.writes.wait_for(9)  # the ninth waits for company, at most the interval
        assert waited < 0.3 + 0.5
        assert max(cls.writes.sizes) == 2 and sum(cls.writes.sizes) == 9
        assert [(r["frame"], r["det_index"]) for r in cls.writes.records] == [
            (f, d) for f in range(3) for d in range(3)
        ]
    finally:
        node.close()
