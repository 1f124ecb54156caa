"""A sink's `fields:`: the columns it writes, renamed and in order, with the names checked before the run."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sinkkit import feed, make_node, rendered_detections

from segflow.engine.workflow.validate import validate_text
from segflow.nodes.sinks.files import CsvSink, JsonlSink
from segflow.nodes.sinks.sql import SqlSink


def test_jsonl_writes_the_chosen_columns_renamed_in_order(tmp_path: Path) -> None:
    node = make_node(JsonlSink, tmp_path, path="d.jsonl",
                     fields=["frame", {"kind": "class"}, {"length": "length_mm"}, "box.0", "value.mean", "nothing"])
    feed(node, 4, rendered_detections(), value={"mean": 2.5})
    node.close()
    rows = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert [list(r) for r in rows] == [["frame", "kind", "length", "box.0", "value.mean", "nothing"]] * 3
    assert [(r["kind"], r["length"], r["value.mean"], r["nothing"]) for r in rows] == [
        ("stone", 5.0, 2.5, None), ("bean", 4.5, 2.5, None), ("stone", 6.25, 2.5, None)]
    assert rows[1]["box.0"] == 41.0


def test_csv_per_frame_counts_by_class(tmp_path: Path) -> None:
    node = make_node(CsvSink, tmp_path, path="c.csv", per="frame",
                     fields=["frame", {"stones": "counts.stone"}, {"beans": "counts.bean"}, "count"])
    feed(node, 0, rendered_detections())
    node.close()
    assert (tmp_path / "c.csv").read_text().splitlines()[0] == "frame,stones,beans,count"
    [row] = list(csv.DictReader(io.StringIO((tmp_path / "c.csv").read_text())))
    assert (row["stones"], row["beans"], row["count"]) == ("2", "1", "3")


def test_sql_chooses_what_goes_into_the_fields_column(tmp_path: Path) -> None:
    node = make_node(SqlSink, tmp_path, database="f.db", fields=[{"length": "length_mm"}])
    feed(node, 0, rendered_detections())
    node.close()
    with sa.create_engine(f"sqlite:///{tmp_path / 'f.db'}").connect() as conn:
        stored = [json.loads(r[0]) for r in conn.execute(sa.text("select fields from detections order by id"))]
    assert stored == [{"length": 5.0}, {"length": 4.5}, {"length": 6.25}]


WORKFLOW = """version: 1
name: t
nodes:
  cam: {type: source.test_pattern, params: {frames: 2}}
  find: {type: detect.threshold, inputs: {image: cam.image}}
  measure: {type: measure.masks, params: {scale: {mode: fixed, mm_per_px: 0.1}}, inputs: {detections: find.detections}}
  log: {type: %s, params: {%s, fields: %s}, inputs: {detections: measure.detections}}
"""
TARGET = {"sink.jsonl": "path: /dev/null", "sink.csv": "path: /dev/null", "sink.sql": "database: DB"}


@pytest.mark.parametrize("sink", sorted(TARGET))
@pytest.mark.parametrize(
    ("fields", "problem", "hint"),
    [
        ("[frame, class, length_mm]", None, None),
        ("[{len: length_mm}, value.x]", "no field 'value.x'", "wire `value: <node>.value`"),
        ("[lenght_mm]", "no field 'lenght_mm'", "did you mean 'length_mm'?"),
        ("[class, {class: length_mm}]", "column 'class' is named twice", "rename one"),
    ],
)
def test_names_are_checked_at_their_entry(tmp_path, sink, fields, problem, hint) -> None:
    text = WORKFLOW % (sink, TARGET[sink].replace("DB", str(tmp_path / "x.db")), fields)
    found = [i for i in validate_text(text, "wf.yaml").issues if i.is_error]
    if problem is None:
        assert found == []
        return
    [issue] = found
    assert issue.node == "log" and issue.code == "param.field" and problem in issue.message and hint in issue.hint
    line = text.splitlines()[6]
    entry = issue.field.split(".")[1]
    assert issue.location.line == 7 and issue.location.col > line.index("fields:"), entry


def test_a_rename_is_one_pair() -> None:
    with pytest.raises(ValueError, match="one {new_name: field} pair"):
        JsonlSink.Params(path="x", fields=[{"a": "class", "b": "frame"}])
