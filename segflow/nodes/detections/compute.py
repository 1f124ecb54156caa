"""``compute.fields``: new per-detection fields from expressions in the one condition language.

``area_ratio: "box_area / image_area"`` adds a column ``area_ratio`` to the
detections, so filters, sinks' ``only_when`` and ``fields:`` downstream can
name it (validation knows it from :meth:`ComputeFields.added_fields`). The
language is the one every condition is written in (docs/conditions.md), with
its arithmetic, ``abs``, ``round``, ``min``/``max`` of several values, box
geometry, the image's size and frame values such as ``count(class == stone)``
(the same for every detection of the frame). Nothing is evaluated as Python.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import Field, field_validator

from segflow.delivery.condition import Condition
from segflow.engine import Inputs, Kind, Node, Params, Port, node_type
from segflow.engine.workflow.condition_check import FieldValue
from segflow.engine.workflow.conditions import DETECTION_NAMES, FRAME_NAMES, FUNCTIONS

RESERVED = {*DETECTION_NAMES, *FRAME_NAMES, *FUNCTIONS, "value", "class_name", "and", "or", "not", "in", "true",
            "false"}


class ComputeParams(Params):
    fields: dict[str, FieldValue] = Field(
        ..., min_length=1,
        description='New fields, name: expression, e.g. {area_ratio: "box_area / image_area", '
        'long_side: "max(box_width, box_height)"}. Expressions name the fields that reach this node '
        "(not each other's: chain two nodes for that).",
    )

    @field_validator("fields")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name.isidentifier() or not name.isascii():
                raise ValueError(f"field name {name!r}: letters, digits and _, not starting with a digit")
            if name in RESERVED:
                raise ValueError(f"field name {name!r} is a built-in name of the condition language; choose another")
            if not value[name].strip():
                raise ValueError(f"field {name!r} has an empty expression")
        return value


@node_type("compute.fields")
class ComputeFields(Node):
    """Add per-detection fields computed from expressions (arithmetic, abs/round/min/max, box and image size)."""

    Params = ComputeParams
    params: ComputeParams
    inputs = {
        "detections": Port(Kind.DETECTIONS, "The detections to add fields to."),
        "image": Port(Kind.IMAGE, "The frame, for image_width, image_height and image_area.", required=False),
        "value": Port(Kind.VALUE, "A value of the frame, named as value or value.key.", required=False),
    }
    outputs = {"detections": Port(Kind.DETECTIONS, "The same detections with the new fields in .data.")}

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset(params.fields)

    def setup(self) -> None:
        self.configure()

    def configure(self) -> None:
        self.expressions = [(name, Condition(text, f"fields.{name}")) for name, text in self.params.fields.items()]

    def process(self, inputs: Inputs) -> dict[str, Any]:
        detections = inputs["detections"]
        image, value = inputs.get("image"), inputs.get("value")
        data = dict(detections.data)
        for name, expression in self.expressions:
            data[name] = expression.column(detections, inputs.packet, value, image)
        return {"detections": dataclasses.replace(detections, data=data)}
