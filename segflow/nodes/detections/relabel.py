"""``relabel.detections``: name detections by rule, so a reference object needs no trained model.

A weight-free detector (``detect.threshold``) gives every blob one class. An
inspector can still tell the coin from the stones: it is the round one, or the
one in the corner, or the copper-coloured one. Each rule here says that in
segflow's one condition language (docs/conditions.md), evaluated on one
detection at a time, optionally inside a polygon; the first rule that holds
sets the detection's class name (and class id, if the rule gives one).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from pydantic import Field

from segflow.delivery.condition import Condition
from segflow.engine import Inputs, Kind, Node, Params, Port, node_type
from segflow.engine.workflow.condition_check import ConditionText
from segflow.nodes.detections.filter import Polygon, anchor_points, contour, inside


class Rule(Params):
    class_name: str = Field(min_length=1, description="The class name a detection gets when this rule holds.")
    when: ConditionText = Field(
        "",
        description='Condition on one detection, e.g. "circularity > 0.9 and area_mm2 > 300", '
        '"colour_name in [orange, brown]", "cx < 200" (docs/conditions.md; empty: always).',
    )
    polygon: Polygon | None = Field(
        None, description="Also require the box centre inside this polygon ([x, y] pixel points)."
    )
    class_id: int | None = Field(None, ge=0, description="Also set this class id (unset: keep the detection's).")



class RelabelParams(Params):
    rules: list[Rule] = Field(min_length=1, description="Tried in order; the first that holds names the detection.")
    otherwise: str | None = Field(
        None, min_length=1, description="Class name of detections no rule names (unset: keep their name)."
    )


@node_type("relabel.detections")
class RelabelDetections(Node):
    """Set class names by rule: size, shape, colour, position or any field condition."""

    Params = RelabelParams
    params: RelabelParams
    inputs = {"detections": Port(Kind.DETECTIONS, "Detections to name (after measure/colour for those fields).")}
    outputs = {"detections": Port(Kind.DETECTIONS, "The same detections with class names (and ids) set.")}

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset({"class_name"})

    def setup(self) -> None:
        self._conditions = [Condition(rule.when, f"rules[{i}].when") for i, rule in enumerate(self.params.rules)]
        self._polygons = [
            None if r.polygon is None else contour(r.polygon) for r in self.params.rules
        ]

    def process(self, inputs: Inputs) -> dict[str, Any]:
        detections = inputs["detections"]
        n = len(detections)
        if n == 0:
            return {"detections": detections}
        centres = anchor_points(detections, "box_center")
        old = detections.data.get("class_name")
        if old is not None:
            names = [str(v) for v in old]
        else:
            names = ["" if detections.class_id is None else str(int(c)) for c in detections.class_id]
        class_id = np.zeros(n, int) if detections.class_id is None else detections.class_id.copy()
        named = np.zeros(n, dtype=bool)  # the first rule that holds wins
        for rule, condition, polygon in zip(self.params.rules, self._conditions, self._polygons, strict=True):
            holds = condition.per_detection(detections, inputs.packet) & ~named
            if polygon is not None:
                holds &= inside(polygon, centres)
            for i in np.flatnonzero(holds):
                names[i] = rule.class_name
                if rule.class_id is not None:
                    class_id[i] = rule.class_id
            named |= holds
        if self.params.otherwise is not None:
            for i in np.flatnonzero(~named):
                names[i] = self.params.otherwise
        data = {**detections.data, "class_name": np.array(names)}
        return {"detections": dataclasses.replace(detections, class_id=class_id, data=data)}
