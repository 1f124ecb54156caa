"""``merge.detections``: one detection set from several detectors on the same frame.

Two detectors (a model for stones, a threshold for the reference coin) or one
detector per region give separate detection sets; measurement, colour and the
sinks want one. Fields that only some inputs have are filled (NaN for numbers,
empty text otherwise) rather than dropped, and ``detector`` records which input
each detection came from. Objects two detectors both found can be reduced to
the more confident one by box overlap.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type

if TYPE_CHECKING:
    import supervision as sv

# The inputs of every node that takes two to four detectors' detections of one frame (merge, consensus).
DETECTOR_INPUTS = {
    "first": Port(Kind.DETECTIONS, "Detections of the first detector."),
    "second": Port(Kind.DETECTIONS, "Detections of the second detector."),
    "third": Port(Kind.DETECTIONS, "A third detector (optional).", required=False),
    "fourth": Port(Kind.DETECTIONS, "A fourth detector (optional).", required=False),
}
PORTS = tuple(DETECTOR_INPUTS)


class MergeParams(Params):
    overlap: Literal["keep", "best"] = Field(
        "keep",
        description="keep: every detection of every input; best: of detections whose boxes overlap "
        "by at least `iou`, keep only the most confident.",
    )
    iou: float = Field(0.5, gt=0, le=1, description="Box IoU at which two detections are one object (overlap: best).")


def _filler(values: np.ndarray, n: int) -> np.ndarray:
    """``n`` placeholders of the kind of ``values``: NaN for numbers, empty text, else None."""
    if values.dtype.kind in "fiub":
        return np.full(n, np.nan)
    if values.dtype.kind in "US":
        return np.full(n, "", dtype=values.dtype)
    return np.array([None] * n, dtype=object)


def unify_fields(parts: list[sv.Detections]) -> list[sv.Detections]:
    """The parts with the same data keys: each missing field filled with placeholders."""
    samples: dict[str, np.ndarray] = {}
    for part in parts:
        for key, values in part.data.items():
            samples.setdefault(key, np.asarray(values))
    out = []
    for part in parts:
        data = {
            key: np.asarray(part.data[key]) if key in part.data else _filler(sample, len(part))
            for key, sample in samples.items()
        }
        out.append(dataclasses.replace(part, data=data))
    return out


def keep_most_confident(detections: sv.Detections, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression on boxes, across classes."""
    import supervision as sv

    order = np.argsort(-(detections.confidence if detections.confidence is not None else np.ones(len(detections))))
    overlaps = sv.box_iou_batch(detections.xyxy, detections.xyxy)
    kept: list[int] = []
    for i in order:
        if all(overlaps[i, j] < iou for j in kept):
            kept.append(int(i))
    return np.array(sorted(kept), dtype=int)


@node_type("merge.detections")
class MergeDetections(Node):
    """Merge the detections of two to four detectors on the same frame into one set."""

    Params = MergeParams
    params: MergeParams
    inputs = dict(DETECTOR_INPUTS)
    outputs = {"detections": Port(Kind.DETECTIONS, "All detections, with a `detector` field naming their input.")}

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset({"detector"})

    def process(self, inputs: Inputs) -> dict[str, Any]:
        import supervision as sv

        named = [(port, inputs[port]) for port in PORTS if inputs.get(port) is not None]
        parts = [d for _, d in named if len(d)]
        if not parts:
            return {"detections": named[0][1]}
        self._check_masks(named)
        tagged = [
            dataclasses.replace(d, data={**d.data, "detector": np.array([port] * len(d))})
            for port, d in named
            if len(d)
        ]
        merged = sv.Detections.merge(unify_fields(tagged))
        if self.params.overlap == "best" and len(merged) > 1:
            merged = merged[keep_most_confident(merged, self.params.iou)]
        return {"detections": merged}

    def _check_masks(self, named: list[tuple[str, Any]]) -> None:
        with_masks = [port for port, d in named if len(d) and d.mask is not None]
        without = [port for port, d in named if len(d) and d.mask is None]
        if with_masks and without:
            raise NodeError(
                f"merge.detections '{self.node_id}': {', '.join(with_masks)} give masks but "
                f"{', '.join(without)} give boxes only, so the merged set cannot keep its masks",
                hint="put a segmenter (segment.grabcut, segment.sam2) after the box-only detector",
            )
