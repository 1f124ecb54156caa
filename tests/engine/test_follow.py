"""An optional input that follows another (``Port.follow``): wired from upstream, or a located warning."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from segflow.engine.node import Kind, Port, SourceNode, node_type
from segflow.engine.registry import Registry, default_registry
from segflow.engine.workflow.validate import validate_text

HEAD = "version: 1\nname: t\nnodes:\n"
SINK = "  log: {type: sink.jsonl, params: {path: out.jsonl}, inputs: {detections: measure.detections}}\n"


@node_type("thirdparty.replay")
class ReplayedDetections(SourceNode):
    """A plugin source that replays logged detections: no frame anywhere upstream of them."""

    outputs: ClassVar[dict[str, Port]] = {"detections": Port(Kind.DETECTIONS, "Logged detections.")}

    def frames(self) -> Iterator:
        raise NotImplementedError


def _registry() -> Registry:
    registry = Registry()
    for _, cls in default_registry():
        registry.register(cls)
    registry.register(ReplayedDetections)
    return registry


def test_measure_masks_takes_the_frame_its_detections_came_from() -> None:
    text = HEAD + (
        "  cam: {type: source.test_pattern, params: {frames: 2}}\n"
        "  seg: {type: detect.threshold, inputs: {image: cam.image}}\n"
        "  track: {type: track.bytetrack, inputs: {detections: seg.detections}}\n"
        "  measure: {type: measure.masks, inputs: {detections: track.detections}}\n" + SINK
    )
    result = validate_text(text, "wf.yaml")
    assert result.ok and not [i for i in result.issues if i.code == "input.unresolved"]
    assert result.graph is not None
    assert result.graph.nodes["measure"].inputs["image"] == [("cam", "image")]


def test_no_frame_upstream_is_a_located_warning_and_the_node_runs_without_it() -> None:
    text = HEAD + (
        "  replay: {type: thirdparty.replay}\n"
        "  measure: {type: measure.masks, inputs: {detections: replay.detections}}\n" + SINK
    )
    result = validate_text(text, "wf.yaml", _registry())
    assert result.ok, [i.format() for i in result.issues]
    [issue] = [i for i in result.issues if i.code == "input.unresolved"]
    assert not issue.is_error
    assert issue.node == "measure" and issue.field == "image"
    assert issue.format().startswith("wf.yaml:5:")  # located at the node, in the file
    assert "no image feeds 'detections'" in issue.message
    assert issue.hint.startswith("wire `image: <node>.<port>`")
    assert result.graph is not None and "image" not in result.graph.nodes["measure"].inputs
