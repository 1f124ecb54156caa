"""``analyze.image_colour``: the colour of the whole frame, or of a region of it, as a frame value.

"Is the belt empty (its own grey) or loaded?", "has the light changed?", "which
colour is the liquid in the sight glass?": questions about a scene, not about
detected objects. The value holds the same fields ``analyze.colour`` writes per
object (mean/median RGB-HSV-Lab, dominant colours by k-means in Lab, the
nearest named colour, Delta-E labels against references), so one vocabulary
reads both. A large frame is sampled on a regular grid of at most
``max_pixels`` pixels: the statistics of a grid are those of the frame to well
under one Delta-E, at a fraction of the time.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from pydantic import Field, field_validator

from segflow.engine import Inputs, Kind, Node, NodeError, Port, node_type, takes_node_value
from segflow.nodes.analyze.colour import ColourDescriber, ColourOptions


class ImageColourParams(ColourOptions):
    region: list[tuple[float, float]] | None = Field(
        None,
        description="Only the pixels inside this polygon ([x, y] points; `$node.port` for one drawn per frame, "
        "e.g. polygon.from_mask's polygon). Unset: the whole frame.",
        json_schema_extra=takes_node_value("polygon"),
    )
    max_pixels: int = Field(
        20_000, ge=1_000, le=100_000_000,
        description="Most pixels described: a larger frame or region is sampled on a regular grid (a 640 x 480 "
        "frame: every 4th pixel of every 4th row).",
    )

    @field_validator("region")
    @classmethod
    def _three_points(cls, value: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if value is not None and len(value) < 3:
            raise ValueError(f"region needs at least 3 points, got {len(value)}")
        return value


def region_pixels(image: np.ndarray, region: list[tuple[float, float]] | None, max_pixels: int) -> np.ndarray:
    """(P, 3) sRGB pixels of the BGR ``image`` inside ``region`` (pixel centres), on a grid of <= max_pixels."""
    h, w = image.shape[:2]
    inside = None
    if region is not None:
        inside = np.zeros((h, w), dtype=np.uint8)
        cv2.fillPoly(inside, [np.round(np.asarray(region, np.float64) * 16).astype(np.int32)], 1, shift=4)
    step = max(1, math.ceil(math.sqrt((h * w if inside is None else int(inside.sum())) / max_pixels)))
    grid = image[::step, ::step, :3]
    pixels = grid.reshape(-1, 3) if inside is None else grid[inside[::step, ::step].astype(bool)]
    return pixels[:, ::-1].astype(np.float64)  # BGR -> RGB


@node_type("analyze.image_colour")
class AnalyzeImageColour(Node):
    """Colour of the whole frame (or a region): mean/median RGB-HSV-Lab, dominant colours, name, Delta-E."""

    Params = ImageColourParams
    params: ImageColourParams
    inputs = {"image": Port(Kind.IMAGE, "The frame.")}
    outputs = {"value": Port(Kind.VALUE, "The colour fields of analyze.colour for the frame or region "
                             "(colour_name, dominant_hex, lab_l_mean, ...), plus `colour_pixels` described.")}

    def setup(self) -> None:
        self._describer = ColourDescriber(self.params)

    def process(self, inputs: Inputs) -> dict[str, Any]:
        image = inputs["image"].pixels
        if image.ndim != 3 or image.shape[2] < 3:
            raise NodeError(
                f"analyze.image_colour '{self.node_id}': needs a colour (BGR) image, got shape {image.shape}",
                hint="feed the node the colour frame from the source",
            )
        p = inputs.params or self.params
        return {"value": self._describer.describe(region_pixels(image, p.region, p.max_pixels))}
