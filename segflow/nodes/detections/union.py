"""``detections.union``: a frame's detections reduced to one, whose box (and mask) holds them all.

"Crop the region where all the parts lie", "one box around the whole pile":
the union box of every detection (or of each class, with ``per_class``), its
mask the union of their masks, and ``union_count`` saying how many it holds.
The union keeps the fields of its most confident member; its confidence is
the members' lowest by default (a union is as sure as its least sure part).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np
from pydantic import Field

from segflow.engine import Inputs, Kind, Node, Params, Port, node_type
from segflow.nodes.crops.stitch import rows
from segflow.nodes.detections.consensus import AGGREGATE
from segflow.nodes.detections.zones import class_names
from segflow.vision.box_merge import unite


class UnionParams(Params):
    class_name: str | None = Field(
        None, min_length=1, description="Class name of the union (unset: the commonest class of its members).")
    per_class: bool = Field(False, description="One union per class instead of one for the whole frame.")
    confidence_merge: Literal["min", "mean", "max"] = Field(
        "min", description="Confidence of the union from its members'.")


@node_type("detections.union")
class DetectionsUnion(Node):
    """Reduce the detections to one whose box (and mask) is the union of theirs, with `union_count`."""

    Params = UnionParams
    params: UnionParams
    inputs = {"detections": Port(Kind.DETECTIONS, "Detections of one frame.")}
    outputs = {"detections": Port(Kind.DETECTIONS, "One detection (one per class with per_class; none in a frame "
                                  "without detections) with `union_count`.")}

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset({"union_count", "class_name"})

    def process(self, inputs: Inputs) -> dict[str, Any]:
        detections = inputs["detections"]
        p = self.params
        names = np.array(class_names(detections))
        if p.per_class:
            groups = [np.flatnonzero(names == name) for name in sorted(set(names))]
        else:
            groups = [np.arange(len(detections))] if len(detections) else []
        confidence = detections.confidence if detections.confidence is not None else np.ones(len(detections))
        leaders = np.array([group[np.argmax(confidence[group])] for group in groups], dtype=int)
        out = rows(detections, leaders)
        data = dict(out.data)
        data["union_count"] = np.array([len(group) for group in groups], dtype=np.int64)
        data["class_name"] = np.array([p.class_name or _commonest(names[group]) for group in groups], dtype=str)
        xyxy, mask = unite(detections.xyxy, detections.mask, groups)
        return {"detections": dataclasses.replace(
            out, xyxy=xyxy, mask=mask, tracker_id=None, data=data,
            confidence=np.array([AGGREGATE[p.confidence_merge](confidence[g]) for g in groups], dtype=np.float32))}


def _commonest(names: np.ndarray) -> str:
    values, counts = np.unique(names, return_counts=True)
    return str(values[int(np.argmax(counts))])
