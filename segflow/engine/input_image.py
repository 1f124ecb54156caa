"""The source an ``image`` input becomes: one frame, the pixels the caller gave.

A workflow that wires ``image: $inputs.photo`` has no source node of its own;
validation adds one of this type under the input's name (``photo``), so the
graph, the plan and every executor see an ordinary source. It lives in the
engine, not among the node types: it is part of the workflow format, never
written by hand, and so it is not registered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import Field

from segflow.engine.frame import Frame
from segflow.engine.node import Params, Port, SourceNode
from segflow.engine.ports import Kind


class InputImageParams(Params):
    pixels: Any = Field(None, exclude=True, description="The image given for this run (BGR); None: not given yet.")


class InputImage(SourceNode):
    """An ``image`` input of the workflow, as a source of exactly one frame."""

    type_name: ClassVar[str] = "input.image"
    Params = InputImageParams
    params: InputImageParams
    outputs: ClassVar[dict[str, Port]] = {"image": Port(Kind.IMAGE, "The image given for this run.")}

    def frames(self) -> Iterator[Frame]:
        if self.params.pixels is not None:
            yield self.make_frame(self.params.pixels, 0, 0.0)

    def total_frames(self) -> int | None:
        return 0 if self.params.pixels is None else 1
