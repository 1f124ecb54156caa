"""``annotate.detections``: draw masks, boxes, labels and traces on the frame.

The drawing itself is :mod:`segflow.vision.drawing`, which the image and video
sinks use too; this node adds the params that choose the style and the checks
that name a wrong input.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type
from segflow.engine.text import check_template
from segflow.vision.drawing import Painter, Style


class AnnotateParams(Params):
    masks: bool = Field(True, description="Fill masks (where the detections have them).")
    mask_opacity: float = Field(0.45, ge=0, le=1, description="Opacity of mask fills.")
    boxes: bool = Field(True, description="Draw boxes.")
    thickness: int = Field(2, ge=1, le=50, description="Line thickness of boxes and traces.")
    label: str | None = Field(
        "{class_name} {confidence:.2f}",
        description="Label format over each detection's fields, e.g. "
        "'{class_name} {length_mm:.1f} mm'; '{length_mm:.2f+-}' adds the uncertainty (12.35+/-0.04); "
        "missing fields show as '?'. Empty: no labels.",
    )
    text_scale: float = Field(0.5, gt=0, le=10, description="Label text size.")
    traces: bool = Field(True, description="Draw each track's recent path (needs tracker ids).")
    trace_length: int = Field(30, ge=2, le=10_000, description="Frames of path to draw.")
    colour_by: Literal["class", "track", "index"] = Field(
        "class", description="What picks each detection's colour."
    )

    @field_validator("label")
    @classmethod
    def _parsable(cls, value: str | None) -> str | None:
        # Any detection field may be named; the spec is checked (a width of 999999999 is a gigabyte).
        return check_template(value, "label format", suffix="+-") if value else value


@node_type("annotate.detections")
class Annotate(Node):
    """Draw masks, boxes, labels ('{class_name} {length_mm:.1f} mm') and traces on the frame."""

    Params = AnnotateParams
    params: AnnotateParams
    inputs = {
        "image": Port(Kind.IMAGE, "The frame to draw on (it is copied, not changed)."),
        "detections": Port(Kind.DETECTIONS, "What to draw."),
    }
    outputs = {"image": Port(Kind.IMAGE, "The annotated frame.")}

    def setup(self) -> None:
        self.painter = Painter(Style(**self.params.model_dump()))

    def reset(self) -> None:
        """Traces follow track ids: when the tracker starts afresh, old paths must not join new ids."""
        self.painter.forget_traces()

    def process(self, inputs: Inputs) -> dict[str, Any]:
        frame = inputs["image"]
        detections = inputs["detections"]
        pixels = frame.pixels
        if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
            raise NodeError(
                f"annotate.detections '{self.node_id}': needs an 8-bit BGR or gray image, got "
                f"{pixels.dtype} {pixels.shape}",
                hint="connect the source's image output",
            )
        if self.params.colour_by == "track" and detections.tracker_id is None and len(detections):
            raise NodeError(
                f"annotate.detections '{self.node_id}': colour_by track needs tracker ids",
                hint="put track.bytetrack before it, or use colour_by: class",
            )
        return {"image": frame.with_pixels(self.painter.draw(pixels, detections, inputs.packet.source_id))}
