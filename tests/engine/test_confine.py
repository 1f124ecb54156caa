"""Paths a run writes stay inside ``RunContext.write_root`` (the editor's workspace): refused before the run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from segflow.engine.node import RunContext
from segflow.engine.registry import default_registry
from segflow.engine.workflow.confine import written_fields
from segflow.engine.workflow.validate import validate_text


def workflow(sink: str, params: str) -> str:
    return (f"version: 1\nname: t\nnodes:\n  cam: {{type: source.test_pattern}}\n"
            f"  out:\n    type: {sink}\n    params: {params}\n    inputs: {{image: cam.image}}\n")


@pytest.fixture
def ws(tmp_path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "link")  # a link leaving the workspace
    return root


@pytest.mark.parametrize(
    ("sink", "params", "field"),
    [
        ("sink.jsonl", "{path: ../escape.jsonl}", "path"),
        ("sink.jsonl", "{path: /tmp/escape.jsonl}", "path"),
        ("sink.csv", "{path: link/rows.csv}", "path"),
        ("sink.jsonl", "{path: ~/escape.jsonl}", "path"),
        ("sink.video", "{path: '../{source}.mp4'}", "path"),
        ("sink.images", "{folder: ../shots}", "folder"),
        ("sink.sql", "{database: /tmp/escape.db}", "database"),
        ("sink.sql", "{database: 'sqlite:////tmp/escape.db'}", "database"),
        ("sink.dataset", "{folder: '../datasets/{workflow}'}", "folder"),
        ("debug.record", "{path: ../../x.jsonl}", "path"),
        ("sink.jsonl", "{path: out/x.jsonl, spool_dir: /tmp/spool}", None),  # jsonl has no spool: unknown param
        ("sink.webhook", "{url: 'http://127.0.0.1:9/x', spool_dir: ../spool}", "spool_dir"),
    ],
)
def test_a_path_written_outside_the_workspace_is_an_error_on_its_field(ws, sink, params, field):
    result = validate_text(workflow(sink, params), "wf.yaml", default_registry(),
                           context=RunContext(base_dir=ws, write_root=ws))
    assert not result.ok
    if field is None:
        return
    issue = next(i for i in result.issues if i.node == "out" and i.field == field)
    text = issue.format()
    assert text.startswith("wf.yaml:7:") and f"param '{field}': writes " in text
    assert f"outside the workspace {ws.resolve()}" in text and "hint:" in text


@pytest.mark.parametrize(
    ("sink", "params"),
    [
        ("sink.jsonl", "{path: out/rows.jsonl}"),
        ("sink.jsonl", "{path: out/../rows.jsonl}"),
        ("sink.video", "{path: 'out/{source}.mp4'}"),
        ("sink.sql", "{database: 'sqlite:///out/a.db'}"),
        ("sink.sql", "{database: 'postgresql://u@db.example/segflow'}"),  # a network database: no local path
        ("sink.dataset", "{folder: 'datasets/{workflow}'}"),
        ("sink.images", "{}"),
    ],
)
def test_a_path_inside_the_workspace_is_fine(ws, sink, params):
    result = validate_text(workflow(sink, params), "wf.yaml", default_registry(),
                           context=RunContext(base_dir=ws, write_root=ws))
    assert not [i for i in result.issues if "outside the workspace" in i.message], [i.format() for i in result.issues]


def test_a_headless_run_writes_where_it_is_told(ws):
    result = validate_text(workflow("sink.jsonl", "{path: ../headless.jsonl}"), "wf.yaml", default_registry(),
                           context=RunContext(base_dir=ws))
    assert result.ok, [i.format() for i in result.issues]


def test_every_sink_that_writes_a_file_marks_its_path():
    marked = {name: written_fields(cls.Params) for name, cls in default_registry()}
    for name in ("sink.jsonl", "sink.csv", "sink.video", "sink.images", "sink.sql", "sink.dataset", "debug.record"):
        assert marked[name], f"{name} writes files but marks no param with writes_path()"
    assert "spool_dir" in marked["sink.webhook"] and "spool_dir" in marked["sink.mqtt"]
