"""Names that become paths stay one path component; templates and derived paths are checked before the run."""

from pathlib import Path

import numpy as np
import pytest
from sinkkit import feed, make_node

from segflow.engine.node import RunContext
from segflow.engine.workflow.validate import validate_text
from segflow.nodes.sinks.dataset import DatasetSink, folder_for
from segflow.nodes.sinks.files import JsonlSink
from segflow.nodes.sinks.images import ImagesSink
from segflow.nodes.sinks.video import VideoSink
from segflow.nodes.sinks.webhook import WebhookSink

ESCAPING = "../../../ESCAPED"
HEAD = "version: 1\nname: t\nnodes:\n"
CAM = "  cam: {type: source.test_pattern, params: {frames: 3}}\n"


def inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def test_a_workflow_name_cannot_move_spool_or_rejected_files(tmp_path):
    context = RunContext(workflow_name=ESCAPING, base_dir=tmp_path)
    spool = WebhookSink.spool_folder(WebhookSink.Params(url="http://127.0.0.1:9/x"), context, "hook")
    assert inside(spool, tmp_path / ".segflow/spool"), spool
    assert spool.parent.parent == tmp_path / ".segflow/spool"
    rejected = JsonlSink("log", JsonlSink.Params(path="out.jsonl"), context).rejected_path()
    assert inside(rejected, tmp_path / ".segflow/rejected"), rejected
    assert rejected.parent.parent == tmp_path / ".segflow/rejected"


def test_a_workflow_name_cannot_move_workflow_templated_files(tmp_path):
    context = RunContext(workflow_name=ESCAPING, base_dir=tmp_path)
    video = VideoSink.path_for(VideoSink.Params(path="out/{workflow}/{source}.mp4"), context, "v", "../cam")
    assert video.parent.parent == tmp_path / "out", video
    dataset = folder_for(DatasetSink.Params(folder="datasets/{workflow}"), context)
    assert dataset.parent == tmp_path / "datasets", dataset
    sink = make_node(ImagesSink, tmp_path, workflow=ESCAPING, folder="out/images", name="{workflow}/{frame}")
    feed(sink, 1, image=np.zeros((8, 8, 3), np.uint8), source="cam")
    written = [p for p in tmp_path.rglob("*.jpg")]
    assert written and all(p.parent.parent == tmp_path / "out/images" for p in written), written


@pytest.mark.parametrize(
    ("node", "field"),
    [
        ('{type: annotate.detections, params: {label: "{length_mm:-999999999}"}, inputs: {image: cam.image}}',
         "label"),
        ('{type: annotate.detections, params: {label: "{class_name:{width}}"}, inputs: {image: cam.image}}', "label"),
        ('{type: sink.images, params: {name: "{frame:0999999999d}"}, inputs: {image: cam.image}}', "name"),
        ('{type: sink.video, params: {path: "out/{source:>99999999}.mp4"}, inputs: {image: cam.image}}', "path"),
        ('{type: sink.mqtt, params: {topic: "a/{source:.99999999}"}, '
         'inputs: {image: cam.image}}', "topic"),
    ],
)  # fmt: skip
def test_format_specs_in_templates_are_checked_before_the_run(node, field):
    result = validate_text(HEAD + CAM + f"  x: {node}\n", "wf.yaml")
    hits = [i for i in result.issues if i.is_error and i.field == field]
    assert [(i.node, i.location.line) for i in hits] == [("x", 5)], [i.format() for i in result.issues]
    assert "at most 200" in hits[0].message or "nested" in hits[0].message


def test_a_node_id_too_long_for_its_spool_path_is_a_validation_error():
    long_id = "h" * 300
    text = HEAD + CAM + f"  {long_id}: {{type: sink.webhook, params: {{url: 'http://127.0.0.1:9/x'}}, " \
                        "inputs: {image: cam.image}}\n"
    result = validate_text(text, "wf.yaml")
    assert [(i.code, i.location.line) for i in result.issues if i.is_error] == [("node.id", 5)]
    error = next(i for i in result.issues if i.is_error)
    assert "300 characters" in error.message and len(error.format()) < 400
