"""``filter.detections``: keep the detections that pass every condition given.

Conditions are by class name, confidence, numeric fields (``"area_mm2 > 4"``)
and a polygon. Field conditions are parsed with a small grammar — a field
name, an operator, a number or quoted text — never ``eval``, so a workflow
file cannot run code.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type

_OPERATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_CONDITION = re.compile(
    r"""^\s*(?P<field>[A-Za-z_][A-Za-z0-9_]*)\s*
    (?P<op><=|>=|==|!=|<|>)\s*
    (?:(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|'(?P<sq>[^']*)'|"(?P<dq>[^"]*)")\s*$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Condition:
    """``field op value``: one parsed condition."""

    field: str
    op: str
    value: float | str

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = _CONDITION.match(text)
        if not match:
            raise ValueError(
                f"cannot read condition {text!r}: write `field op value`, e.g. "
                '"area_mm2 > 4" or "colour_label == \'ripe\'" (op: < <= > >= == !=)'
            )
        if match["number"] is not None:
            value: float | str = float(match["number"])
        else:
            value = match["sq"] if match["sq"] is not None else match["dq"]
            if match["op"] not in ("==", "!="):
                raise ValueError(f"condition {text!r}: text can only be compared with == or !=")
        return cls(match["field"], match["op"], value)

    def evaluate(self, values: np.ndarray) -> np.ndarray:
        """Which detections pass; NaN never passes a numeric comparison but `!=`."""
        compare = _OPERATORS[self.op]
        if isinstance(self.value, str):
            return np.array([compare(str(v), self.value) for v in values], dtype=bool)
        numeric = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return np.asarray(compare(numeric, self.value), dtype=bool)


class FilterParams(Params):
    classes: list[str] | None = Field(
        None, description="Keep only these class names (unset: any class)."
    )
    min_confidence: float | None = Field(
        None, ge=0, le=1, description="Keep detections at or above this confidence."
    )
    where: list[str] = Field(
        default_factory=list,
        description='Conditions on fields, all of which must hold, e.g. "area_mm2 > 4", '
        "\"colour_label == 'ripe'\". Operators: < <= > >= == !=.",
    )
    polygon: list[tuple[float, float]] | None = Field(
        None, description="Keep detections inside this polygon: a list of [x, y] pixel points."
    )
    anchor: Literal["box_center", "mask_centroid"] = Field(
        "box_center",
        description="Which point must be inside the polygon (mask_centroid needs masks; "
        "detections without masks use the box centre).",
    )

    @field_validator("where", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("where")
    @classmethod
    def _parse_conditions(cls, value: list[str]) -> list[str]:
        for text in value:
            Condition.parse(text)
        return value

    @field_validator("polygon")
    @classmethod
    def _polygon_has_area(cls, value: list[tuple[float, float]] | None) -> Any:
        if value is not None and len(value) < 3:
            raise ValueError(f"polygon needs at least 3 points, got {len(value)}")
        return value


def anchor_points(detections: Any, anchor: str) -> np.ndarray:
    """(N, 2) points: box centres, or mask centroids where masks exist."""
    xyxy = detections.xyxy
    points = np.column_stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2])
    if anchor == "mask_centroid" and detections.mask is not None:
        for i, mask in enumerate(detections.mask):
            ys, xs = np.nonzero(mask)
            if len(xs):
                points[i] = (xs.mean(), ys.mean())
    return points


@node_type("filter.detections")
class FilterDetections(Node):
    """Keep detections by class, confidence, field conditions (area_mm2 > 4) and polygon."""

    Params = FilterParams
    params: FilterParams
    inputs = {"detections": Port(Kind.DETECTIONS, "Detections to filter.")}
    outputs = {"detections": Port(Kind.DETECTIONS, "The detections that pass every condition.")}

    def setup(self) -> None:
        self._conditions = [Condition.parse(text) for text in self.params.where]
        polygon = self.params.polygon
        self._polygon = None if polygon is None else np.array(polygon, np.float32).reshape(-1, 1, 2)

    def process(self, inputs: Inputs) -> dict[str, Any]:
        detections = inputs["detections"]
        n = len(detections)
        if n == 0:
            return {"detections": detections}
        p = self.params
        keep = np.ones(n, dtype=bool)
        if p.classes is not None:
            names = detections.data.get("class_name")
            if names is None:
                raise NodeError(
                    f"filter.detections '{self.node_id}': `classes` needs class names, "
                    "but these detections have no class_name field",
                    hint="filter by a numeric field instead, e.g. where: ['class_id == 0']",
                )
            keep &= np.isin(np.asarray(names).astype(str), p.classes)
        if p.min_confidence is not None:
            confidence = detections.confidence if detections.confidence is not None else np.ones(n)
            keep &= confidence >= p.min_confidence
        for condition in self._conditions:
            keep &= condition.evaluate(self._field(detections, condition.field))
        if self._polygon is not None:
            points = anchor_points(detections, p.anchor)
            keep &= np.array(
                [
                    cv2.pointPolygonTest(self._polygon, (float(x), float(y)), False) >= 0
                    for x, y in points
                ],
                dtype=bool,
            )
        return {"detections": detections[keep]}

    def _field(self, detections: Any, name: str) -> np.ndarray:
        if name in detections.data:
            return np.asarray(detections.data[name])
        builtin = {
            "confidence": detections.confidence,
            "class_id": detections.class_id,
            "tracker_id": detections.tracker_id,
        }.get(name)
        if builtin is not None:
            return np.asarray(builtin)
        available = sorted([*detections.data, "confidence", "class_id", "tracker_id"])
        raise NodeError(
            f"filter.detections '{self.node_id}': no field {name!r} in the detections; "
            f"available: {', '.join(available)}",
            hint="put the node that adds it (measure.masks, analyze.colour) before this filter",
        )
