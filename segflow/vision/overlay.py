"""Drawing what a user configures on a frame: zones, lines, outlines and a block of text.

``annotate.overlay`` draws with these; :mod:`segflow.vision.drawing` draws the
detections themselves. The look is supervision's (its ``PolygonZoneAnnotator``
and ``LineZoneAnnotator``: a translucent fill, an outline, a count on a filled
label at the zone's centre or the line's middle), built from supervision's
``draw_*`` utilities so both families of annotations match on one frame.
Text is filled from values with :class:`segflow.vision.drawing.LabelFormatter`,
so a missing value shows as ``?`` instead of failing the frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from segflow.vision.drawing import LabelFormatter

Points = Sequence[Sequence[float]]
FONT = cv2.FONT_HERSHEY_SIMPLEX


def value_fields(value: Any) -> dict[str, Any]:
    """A value as template fields: a dict's keys, or anything else as ``value``."""
    return dict(value) if isinstance(value, Mapping) else {"value": value}


def fill(template: str, fields: Mapping[str, Any]) -> str:
    return LabelFormatter().format(template, **fields)


def per_class_lines(counts: Mapping[str, int]) -> list[str]:
    return [f"{name}: {n}" for name, n in sorted(counts.items())]


class Overlay:
    """Draws on a BGR frame in place; one per node, made from its style params."""

    def __init__(self, colour: str, opacity: float, thickness: int, text_scale: float) -> None:
        import supervision as sv

        self.colour = sv.Color.from_hex(colour)
        self.opacity, self.thickness, self.text_scale = opacity, thickness, text_scale
        self.text_thickness = max(1, round(text_scale * 2))
        self.padding = max(2, round(8 * text_scale))

    def zone(self, scene: np.ndarray, polygon: Points, label: str | None) -> np.ndarray:
        """A filled translucent polygon with its outline and, at its centre, ``label``."""
        import supervision as sv

        points = np.asarray(polygon, float).round().astype(np.int64)
        if self.opacity > 0:
            scene = sv.draw_filled_polygon(scene, points, self.colour, self.opacity)
        scene = sv.draw_polygon(scene, points, self.colour, self.thickness)
        if label:
            centre = points.mean(axis=0)
            scene = self.label(scene, label, (float(centre[0]), float(centre[1])))
        return scene

    def outline(self, scene: np.ndarray, polygon: Points) -> np.ndarray:
        import supervision as sv

        return sv.draw_polygon(scene, np.asarray(polygon, float).round().astype(np.int64), self.colour, self.thickness)

    def line(self, scene: np.ndarray, ends: Points, label: str | None) -> np.ndarray:
        """The line, a dot at each end, and ``label`` on its middle."""
        import supervision as sv

        (x0, y0), (x1, y1) = ((float(x), float(y)) for x, y in ends)
        scene = sv.draw_line(scene, sv.Point(x0, y0), sv.Point(x1, y1), self.colour, self.thickness)
        for x, y in ((x0, y0), (x1, y1)):
            cv2.circle(scene, (round(x), round(y)), self.thickness + 2, self.colour.as_bgr(), -1, cv2.LINE_AA)
        if label:
            scene = self.label(scene, label, ((x0 + x1) / 2, (y0 + y1) / 2))
        return scene

    def label(self, scene: np.ndarray, text: str, centre: tuple[float, float]) -> np.ndarray:
        """White text on a box of the overlay's colour, centred on ``centre`` (supervision's look)."""
        import supervision as sv

        return sv.draw_text(scene, text, sv.Point(*centre), text_color=sv.Color.WHITE, text_scale=self.text_scale,
                            text_thickness=self.text_thickness, text_padding=self.padding, text_font=FONT,
                            background_color=self.colour)

    def text_block(self, scene: np.ndarray, lines: list[str], corner: str) -> np.ndarray:
        """Lines of text on a dark translucent panel in one corner of the frame, readable on any scene."""
        lines = [line for line in lines if line]
        if not lines:
            return scene
        sizes = [cv2.getTextSize(line, FONT, self.text_scale, self.text_thickness) for line in lines]
        line_height = max(h + baseline for (_, h), baseline in sizes) + self.padding
        width = max(w for (w, _), _ in sizes) + 2 * self.padding
        height = line_height * len(lines) + self.padding
        frame_h, frame_w = scene.shape[:2]
        x = self.padding if corner.endswith("left") else max(0, frame_w - width - self.padding)
        y = self.padding if corner.startswith("top") else max(0, frame_h - height - self.padding)
        x1, y1 = min(frame_w, x + width), min(frame_h, y + height)
        panel = scene[y:y1, x:x1]
        scene[y:y1, x:x1] = (panel * 0.4).astype(np.uint8)  # darkened, not hidden
        for i, line in enumerate(lines):
            baseline_y = y + self.padding + line_height * i + sizes[i][0][1]
            cv2.putText(scene, line, (x + self.padding, baseline_y), FONT, self.text_scale, (255, 255, 255),
                        self.text_thickness, cv2.LINE_AA)
        return scene
