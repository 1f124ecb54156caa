"""``polygon.from_mask``: the outline of a detection's mask as a polygon value, for a dynamic zone.

A zone drawn once by hand is wrong as soon as the camera moves or the belt
is loaded differently. Here a detector (or a threshold) finds the region
itself each frame -- the tray, the belt, the bin -- and this node turns its
mask into the polygon another node takes as a param
(``zone.count: {params: {polygon: $tray.polygon}}``). The outline is
simplified to within ``tolerance`` pixels, so a zone of a few dozen points
stands for a mask of thousands of border pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from segflow.engine import Inputs, Kind, Node, Params, Port, node_type
from segflow.nodes.detections.zones import class_names
from segflow.vision.yolo_dataset import mask_polygon

if TYPE_CHECKING:
    import supervision as sv


class PolygonParams(Params):
    pick: Literal["largest", "most_confident", "first"] = Field(
        "largest", description="Which detection's outline is `polygon`: the largest mask (or box), the most "
        "confident, or the first.",
    )
    tolerance: float = Field(
        2.0, ge=0, le=1000, description="Simplify the outline to within this many pixels (0: every border pixel)."
    )
    class_name: str | None = Field(
        None, min_length=1, description="Only detections of this class (class_name field, else class id) count.",
    )


@node_type("polygon.from_mask")
class PolygonFromMask(Node):
    """The outline of a detection's mask (its box without one) as [[x, y], ...]: a zone drawn each frame."""

    Params = PolygonParams
    params: PolygonParams
    inputs = {"detections": Port(Kind.DETECTIONS, "Detections of one frame; their masks are outlined.")}
    outputs = {
        "polygon": Port(Kind.VALUE, "The picked detection's outline, [[x, y], ...] in pixels; absent in a frame "
                        "with no detection, so a node taking it skips that frame."),
        "polygons": Port(Kind.VALUE, "Every detection's outline, in detection order."),
    }

    def process(self, inputs: Inputs) -> dict[str, Any]:
        detections = inputs["detections"]
        if self.params.class_name is not None and len(detections):
            detections = detections[np.array([n == self.params.class_name for n in class_names(detections)])]
        outlines = [self._outline(detections, i) for i in range(len(detections))]
        kept = [i for i, outline in enumerate(outlines) if len(outline) >= 3]
        out: dict[str, Any] = {"polygons": [outlines[i] for i in kept]}
        if kept:
            out["polygon"] = outlines[self._pick(detections, kept)]
        return out

    def _outline(self, detections: sv.Detections, i: int) -> list[list[float]]:
        if detections.mask is not None:
            points = mask_polygon(detections.mask[i], self.params.tolerance)
        else:
            x0, y0, x1, y1 = (float(v) for v in detections.xyxy[i])
            points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        return [[round(float(x), 2), round(float(y), 2)] for x, y in points]

    def _pick(self, detections: sv.Detections, kept: list[int]) -> int:
        if self.params.pick == "first":
            return kept[0]
        if self.params.pick == "most_confident" and detections.confidence is not None:
            return max(kept, key=lambda i: float(detections.confidence[i]))
        if detections.mask is not None:
            return max(kept, key=lambda i: int(detections.mask[i].sum()))
        return max(kept, key=lambda i: float(detections.box_area[i]))
