"""The nodes a served run puts in place of a workflow's sources, sinks and trackers.

A request's image has no camera and its results go back to the caller, not to
the workflow's files, so a served run changes three kinds of node and no other:

- each source becomes a :class:`~segflow.engine.execution.feed.FeedSource`
  (the first one is fed the requests' images; the others end at once);
- each sink becomes a :class:`Capture`: a record sink's own gate and record
  builder (:mod:`segflow.delivery.records`) make exactly the rows it would
  write, and they go to the :class:`Board` under the frame's index; an image
  the sink receives (the annotated frame) is kept there too;
- a node that follows objects over time (``stateful``) and maps detections
  to detections (a tracker) passes them through: independent images from
  different callers have no shared history (:class:`NoHistory`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

import numpy as np

from segflow.delivery.base import RecordSink
from segflow.delivery.gate import GatedSink
from segflow.delivery.records import RecordBuilder
from segflow.engine.execution.feed import FeedSource
from segflow.engine.execution.plan import Plan
from segflow.engine.frame import Frame
from segflow.engine.node import Inputs, Node, Port, RunContext, SinkNode
from segflow.engine.ports import Kind


@dataclass
class Result:
    """What one image produced: per sink its records, per sink its image, per node its errors."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    images: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class Board:
    """Results by frame index, written by the run's threads and taken once by the caller."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[int, Result] = {}

    def _at(self, index: int) -> Result:
        return self._results.setdefault(index, Result())

    def records(self, index: int, sink: str, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            self._at(index).records[sink] = rows

    def image(self, index: int, sink: str, pixels: Any) -> None:
        with self._lock:
            self._at(index).images[sink] = pixels

    def error(self, index: int, message: str) -> None:
        with self._lock:
            self._at(index).errors.append(message)

    def take(self, index: int) -> Result:
        with self._lock:
            return self._results.pop(index, Result())


class Capture(SinkNode):
    """A sink's stand-in: what the sink would write for a frame, put on the board instead."""

    def __init__(self, node_id: str, params: Any, context: RunContext, *, real: type[Node], board: Board) -> None:
        super().__init__(node_id, params, context)
        self.type_name = real.type_name  # type: ignore[misc]  # errors name the sink the user wrote
        self.board = board
        self._records: RecordSink | None = None
        if issubclass(real, RecordSink):
            self._records = real(node_id, params, context)
        self._builder: RecordBuilder | None = None

    def setup(self) -> None:
        if self._records is not None:
            # The gate only: the sink's own setup would open its file, database or connection.
            GatedSink.setup(self._records)
            self._builder = RecordBuilder(self.context.workflow_name, self.context.run_id, self._records.params.mask)

    def process(self, inputs: Inputs) -> dict[str, Any]:
        index = inputs.packet.frame_index
        if self._records is not None and self._builder is not None:
            findings = self._records.admitted(inputs)
            rows = [] if findings is None else self._builder.frame(findings).rows(self._records.params.per)
            self.board.records(index, self.node_id, rows)
        image = inputs.get("image")
        if isinstance(image, Frame):
            self.board.image(index, self.node_id, image.pixels)
        return {}


class NoHistory(Node):
    """A tracker's stand-in for independent images: each detection is its own track, numbered from 1.

    Nodes after a tracker may need ids (an annotation coloured by track); numbering
    the image's detections keeps them working without pretending to a history.
    """

    inputs: ClassVar[dict[str, Port]] = {"detections": Port(Kind.DETECTIONS, "Detections of one image.")}
    outputs: ClassVar[dict[str, Port]] = {"detections": Port(Kind.DETECTIONS, "The same detections.")}

    def process(self, inputs: Inputs) -> dict[str, Any]:
        detections = inputs.get("detections")
        if detections is not None:
            detections.tracker_id = np.arange(1, len(detections) + 1)
        return {"detections": detections}


def passes_through(cls: type[Node]) -> bool:
    return cls.stateful and set(cls.inputs) == {"detections"} and set(cls.outputs) == {"detections"}


@dataclass(frozen=True)
class StandIn:
    """A node spec for :func:`~segflow.engine.execution.lifecycle.running_nodes` that makes a stand-in."""

    make: Callable[[str, Any, RunContext], Node]
    params: Any
    type_name: str

    @property
    def cls(self) -> Any:  # running_nodes calls spec.cls(node_id, params, context)
        return self

    def __call__(self, node_id: str, params: Any, context: RunContext) -> Node:
        return self.make(node_id, params, context)


def served_specs(plan: Plan, board: Board) -> Mapping[str, Any]:
    """The plan's node specs with sources, sinks and trackers replaced by their stand-ins."""
    specs: dict[str, Any] = {}
    for node_id, spec in plan.nodes.items():
        cls = spec.cls
        if cls.is_source:
            specs[node_id] = StandIn(FeedSource, spec.params, cls.type_name)
        elif cls.is_sink:
            specs[node_id] = StandIn(partial(Capture, real=cls, board=board), spec.params, cls.type_name)
        elif passes_through(cls):
            specs[node_id] = StandIn(NoHistory, spec.params, cls.type_name)
        else:
            specs[node_id] = spec
    return specs
