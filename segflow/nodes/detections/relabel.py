"""``relabel.detections``: name detections by rule, so a reference object needs no trained model.

A weight-free detector (``detect.threshold``) gives every blob one class. An
inspector can still tell the coin from the stones: it is the round one, or the
one in the corner, or the copper-coloured one. Each rule here says that in the
``only_when`` language of the sinks (:mod:`segflow.delivery.condition`),
evaluated on one detection at a time, optionally inside a polygon; the first
rule that holds sets the detection's class name (and class id, if the rule
gives one).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np
from pydantic import Field, field_validator

from segflow.delivery.condition import Condition, checked_condition
from segflow.delivery.records import detection_envs, frame_env
from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type
from segflow.nodes.detections.filter import anchor_points


class Rule(Params):
    class_name: str = Field(min_length=1, description="The class name a detection gets when this rule holds.")
    when: str = Field(
        "",
        description='Condition on one detection, e.g. "circularity > 0.9 and area_mm2 > 300", '
        '"colour_name in [orange, brown]", "center_x < 200" (the only_when language; empty: always).',
    )
    polygon: list[tuple[float, float]] | None = Field(
        None, description="Also require the box centre inside this polygon ([x, y] pixel points)."
    )
    class_id: int | None = Field(None, ge=0, description="Also set this class id (unset: keep the detection's).")

    @field_validator("when")
    @classmethod
    def _parses(cls, text: str) -> str:
        return checked_condition("when", text)

    @field_validator("polygon")
    @classmethod
    def _has_area(cls, value: list[tuple[float, float]] | None) -> Any:
        if value is not None and len(value) < 3:
            raise ValueError(f"polygon needs at least 3 points, got {len(value)}")
        return value


class RelabelParams(Params):
    rules: list[Rule] = Field(min_length=1, description="Tried in order; the first that holds names the detection.")
    otherwise: str | None = Field(
        None, min_length=1, description="Class name of detections no rule names (unset: keep their name)."
    )


def position_fields(detections: Any) -> dict[str, np.ndarray]:
    """Box centre and size, the names a position rule can use."""
    xyxy = detections.xyxy
    return {
        "center_x": (xyxy[:, 0] + xyxy[:, 2]) / 2,
        "center_y": (xyxy[:, 1] + xyxy[:, 3]) / 2,
        "box_width": xyxy[:, 2] - xyxy[:, 0],
        "box_height": xyxy[:, 3] - xyxy[:, 1],
    }


@node_type("relabel.detections")
class RelabelDetections(Node):
    """Set class names by rule: size, shape, colour, position or any field condition."""

    Params = RelabelParams
    params: RelabelParams
    inputs = {"detections": Port(Kind.DETECTIONS, "Detections to name (after measure/colour for those fields).")}
    outputs = {"detections": Port(Kind.DETECTIONS, "The same detections with class names (and ids) set.")}

    def setup(self) -> None:
        self._conditions = [Condition(rule.when) for rule in self.params.rules]
        self._polygons = [
            None if r.polygon is None else np.array(r.polygon, np.float32).reshape(-1, 1, 2) for r in self.params.rules
        ]

    def process(self, inputs: Inputs) -> dict[str, Any]:
        detections = inputs["detections"]
        n = len(detections)
        if n == 0:
            return {"detections": detections}
        frame = frame_env(inputs.packet, detections, None)
        position = position_fields(detections)
        envs = [
            {**env, **{k: float(v[i]) for k, v in position.items()}} for i, env in enumerate(detection_envs(detections))
        ]
        self._check_names(envs[0])
        centres = anchor_points(detections, "box_center")
        old = detections.data.get("class_name")
        names = [str(v) for v in old] if old is not None else [str(e["class"]) for e in envs]
        class_id = np.zeros(n, int) if detections.class_id is None else detections.class_id.copy()
        for i, env in enumerate(envs):
            rule = self._first_rule(frame, env, centres[i])
            if rule is None:
                names[i] = self.params.otherwise or names[i]
                continue
            names[i] = rule.class_name
            if rule.class_id is not None:
                class_id[i] = rule.class_id
        data = {**detections.data, "class_name": np.array(names)}
        return {"detections": dataclasses.replace(detections, class_id=class_id, data=data)}

    def _first_rule(self, frame: dict[str, Any], env: dict[str, Any], centre: np.ndarray) -> Rule | None:
        for rule, condition, polygon in zip(self.params.rules, self._conditions, self._polygons, strict=True):
            inside = polygon is None or cv2.pointPolygonTest(polygon, (float(centre[0]), float(centre[1])), False) >= 0
            if inside and condition(frame, [env]):
                return rule
        return None

    def _check_names(self, env: dict[str, Any]) -> None:
        """A rule on a field no detection has is a wiring mistake, not a rule that never holds."""
        for rule, condition in zip(self.params.rules, self._conditions, strict=True):
            missing = sorted(name for name in condition.detection_names if name.split(".")[0] not in env)
            if missing:
                raise NodeError(
                    f"relabel.detections '{self.node_id}': rule for {rule.class_name!r} uses "
                    f"{', '.join(map(repr, missing))}, which these detections do not have; "
                    f"available: {', '.join(sorted(k for k in env if not k.startswith('_')))}",
                    hint="put the node that adds it (measure.masks, analyze.colour) before relabel.detections",
                )
