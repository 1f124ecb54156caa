"""``filter.detections``: keep the detections that pass every condition given.

By class (name or id), confidence, a polygon, and ``where`` conditions in the one
condition language of segflow (docs/conditions.md): ``area_mm2 > 4``,
``class == stone and box_width > 20``, ``colour_name in [brown, black]``.
Names in ``where`` are checked against the upstream nodes' fields before the run.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import cv2
import numpy as np
from pydantic import AfterValidator, Field, field_validator

from segflow.delivery.condition import Condition
from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type
from segflow.engine.workflow.condition_check import ConditionText


def _has_area(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) < 3:
        raise ValueError(f"polygon needs at least 3 points, got {len(points)}")
    return points


# The polygon param of every node that keeps or names detections by where they are (filter, relabel, zones).
Polygon = Annotated[list[tuple[float, float]], AfterValidator(_has_area)]


def contour(points: list[tuple[float, float]]) -> np.ndarray:
    """A polygon param as OpenCV's point tests take it."""
    return np.array(points, np.float32).reshape(-1, 1, 2)


def inside(polygon: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Which of the (N, 2) ``points`` lie inside ``polygon`` (a :func:`contour`) or on its edge."""
    return np.array([cv2.pointPolygonTest(polygon, (float(x), float(y)), False) >= 0 for x, y in points],
                    dtype=bool)


def names_or_ids(values: Any) -> Any:
    """Refuse what is neither a class name nor a class id before pydantic could turn it into one (1.5, true)."""
    for i, value in enumerate(values if isinstance(values, list) else []):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError(f"classes[{i}] is {value!r} ({type(value).__name__}): give a class name (text, "
                             "e.g. stone) or a class id (a whole number, e.g. 3)")
        if isinstance(value, int) and value < 0:
            raise ValueError(f"classes[{i}] is {value}: class ids start at 0")
    return values


def class_keep(detections: Any, classes: list[str | int], node: str) -> np.ndarray:
    """Which detections are of ``classes``: a text entry matches ``class_name``, a whole number ``class_id``."""
    names = [c for c in classes if isinstance(c, str)]
    ids = [c for c in classes if isinstance(c, int)]
    keep = np.zeros(len(detections), dtype=bool)
    if names:
        found = detections.data.get("class_name")
        if found is None:
            raise NodeError(f"{node}: `classes` names {names[0]!r}, but these detections have no class_name field",
                            hint="give class ids instead (classes: [0, 2]) or filter by a numeric field, "
                            "e.g. where: ['class_id == 0']")
        keep |= np.isin(np.asarray(found).astype(str), names)
    if ids:
        if detections.class_id is None:
            raise NodeError(f"{node}: `classes` gives class id {ids[0]}, but these detections have no class ids",
                            hint="give class names instead (classes: [stone])")
        keep |= np.isin(np.asarray(detections.class_id), ids)
    return keep


class FilterParams(Params):
    classes: list[str | int] | None = Field(
        None, description="Keep only these classes: names (stone) match class_name, whole numbers (3) class_id; "
        "both may be mixed (unset: any class)."
    )
    min_confidence: float | None = Field(
        None, ge=0, le=1, description="Keep detections at or above this confidence."
    )
    where: list[ConditionText] = Field(
        default_factory=list,
        description='Conditions, all of which must hold, e.g. "area_mm2 > 4", "class == stone and '
        'confidence > 0.5", "colour_label in [ripe, overripe]" (docs/conditions.md).',
    )
    polygon: Polygon | None = Field(
        None, description="Keep detections inside this polygon: a list of [x, y] pixel points."
    )
    anchor: Literal["box_center", "mask_centroid"] = Field(
        "box_center",
        description="Which point must be inside the polygon (mask_centroid needs masks; "
        "detections without masks use the box centre).",
    )

    _classes = field_validator("classes", mode="before")(names_or_ids)

    @field_validator("where", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


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
    """Keep detections by class, confidence, conditions (area_mm2 > 4, class == stone) and polygon."""

    Params = FilterParams
    params: FilterParams
    inputs = {"detections": Port(Kind.DETECTIONS, "Detections to filter.")}
    outputs = {"detections": Port(Kind.DETECTIONS, "The detections that pass every condition.")}

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset()

    def setup(self) -> None:
        self._conditions = [Condition(text, f"where[{i}]") for i, text in enumerate(self.params.where)]
        polygon = self.params.polygon
        self._polygon = None if polygon is None else contour(polygon)

    def process(self, inputs: Inputs) -> dict[str, Any]:
        detections = inputs["detections"]
        n = len(detections)
        if n == 0:
            return {"detections": detections}
        p = self.params
        keep = np.ones(n, dtype=bool)
        if p.classes is not None:
            keep &= class_keep(detections, p.classes, f"filter.detections '{self.node_id}'")
        if p.min_confidence is not None:
            confidence = detections.confidence if detections.confidence is not None else np.ones(n)
            keep &= confidence >= p.min_confidence
        for condition in self._conditions:
            keep &= condition.per_detection(detections, inputs.packet)
        if self._polygon is not None:
            keep &= inside(self._polygon, anchor_points(detections, p.anchor))
        return {"detections": detections[keep]}
