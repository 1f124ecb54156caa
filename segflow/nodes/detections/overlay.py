"""``annotate.overlay``: draw what the user configured -- a zone, a line, outlines, counts, a title.

``annotate.detections`` draws what a model found; this node draws the rest of
what an operator wants to see on a monitor: the zone a ``zone.count`` counts in
(filled translucently, its count at its centre), the line a ``line.count``
counts across (its in/out totals on it), polygon outlines another node gives
(``polygon.from_mask``'s outline of the tray), the counts per class and a title
filled from values of the frame (``"{count} stones"``). The counts arrive on
wired inputs; the geometry is given as params (fixed, ``$inputs.zone`` or
``$node.port``), as ``zone.count`` and ``line.count`` take it. Two zones: chain
two overlays, the second drawing on the first one's image.

Every template's names are checked at validation against what the wired port
gives (a ``zone.count`` value has ``count`` and ``per_class``), located at the
input that should give them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type, takes_node_value
from segflow.engine.node import ParamProblem
from segflow.engine.text import check_template
from segflow.nodes.detections.zones import LineCount, ZoneCount, class_names, count_by_name
from segflow.vision.overlay import Overlay, fill, per_class_lines, value_fields

# What the values of the counting nodes hold, to check the templates drawn from them.
ZONE_VALUE = {"count": 0, "per_class": {}}
LINE_VALUE = {"in": 0, "out": 0, "in_per_class": {}, "out_per_class": {}, "crossed_in": 0, "crossed_out": 0}
KNOWN_VALUES = ((ZoneCount.outputs["value"], ZONE_VALUE), (LineCount.outputs["value"], LINE_VALUE))
TEMPLATES = {"zone_label": "zone", "line_label": "line", "title": "value"}  # template param -> input it reads


def _template(value: str | None, what: str) -> str | None:
    return check_template(value, what) if value else value


class OverlayParams(Params):
    zone: list[tuple[float, float]] | None = Field(
        None, description="The zone to draw, [[x, y], ...] pixels (3 points or more): fixed, `$inputs.zone`, or "
        "`$node.port` (e.g. polygon.from_mask's polygon); filled translucently, `zone_label` at its centre.",
        json_schema_extra=takes_node_value("polygon"),
    )
    zone_label: str | None = Field(
        "{count}", description="Text at the zone's centre, from the wired `zone` value (zone.count's: {count}, "
        "{per_class}). Without a `zone` polygon it is a line of the text block.",
    )
    line: list[tuple[float, float]] | None = Field(
        None, description="The line to draw, [[x, y], [x, y]]: fixed, `$inputs.gate` or `$node.port`.",
        json_schema_extra=takes_node_value("line"),
    )
    line_label: str | None = Field(
        "in {in}  out {out}", description="Text on the line's middle, from the wired `line` value (line.count's: "
        "{in}, {out}, {crossed_in}, {crossed_out}). Without a `line` it is a line of the text block.",
    )
    title: str | None = Field(
        None, description="First line of the text block, from the wired `value` (its keys, or {value}) and "
        "{count}, the number of wired detections, e.g. '{count} stones'.",
    )
    per_class: bool = Field(
        False, description="List the count per class under the title: of the wired detections, else the `value`'s "
        "per_class.",
    )
    corner: Literal["top_left", "top_right", "bottom_left", "bottom_right"] = Field(
        "top_left", description="Where the text block sits."
    )
    colour: str = Field("#A351FB", pattern=r"^#[0-9A-Fa-f]{6}$", description="Colour of zones, lines and labels.")
    opacity: float = Field(0.25, ge=0, le=1, description="Opacity of the zone's fill (0: outline only).")
    thickness: int = Field(2, ge=1, le=50, description="Line thickness of zones, lines and outlines.")
    text_scale: float = Field(0.6, gt=0, le=10, description="Text size.")

    @field_validator("zone")
    @classmethod
    def _three_points(cls, value: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if value is not None and len(value) < 3:
            raise ValueError(f"a zone needs at least 3 points, got {len(value)}")
        return value

    @field_validator("line")
    @classmethod
    def _two_points(cls, value: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if value is not None and len(value) != 2:
            raise ValueError(f"a line needs exactly 2 points, got {len(value)}")
        return value

    @field_validator("zone_label", "line_label", "title")
    @classmethod
    def _parsable(cls, value: str | None) -> str | None:
        return _template(value, "text")


@node_type("annotate.overlay")
class AnnotateOverlay(Node):
    """Draw a zone with its count, a line with its in/out counts, outlines, counts per class and a title."""

    Params = OverlayParams
    params: OverlayParams
    inputs = {
        "image": Port(Kind.IMAGE, "The frame to draw on (it is copied, not changed): a source's or an annotated one."),
        "detections": Port(Kind.DETECTIONS, "Detections whose number is {count} and whose classes per_class counts.",
                           required=False),
        "zone": Port(Kind.VALUE, "A zone.count value: its count is drawn in the zone.", required=False),
        "line": Port(Kind.VALUE, "A line.count value: its in/out counts are drawn on the line.", required=False),
        "outlines": Port(Kind.VALUE, "A polygon [[x, y], ...] or a list of them (polygon.from_mask's polygon or "
                         "polygons), drawn as outlines.", required=False),
        "value": Port(Kind.VALUE, "Any value of the frame, for the title's fields.", required=False),
    }
    outputs = {"image": Port(Kind.IMAGE, "The frame with the overlay drawn.")}

    @classmethod
    def check_wiring(cls, params: Any, origins: Mapping[str, Port]) -> list[ParamProblem]:
        """Each template's names against what its input's port gives, where that port is a counting node's."""
        problems = []
        for param, port in TEMPLATES.items():
            template = getattr(params, param, None)
            origin = origins.get(port)
            known = next((fields for p, fields in KNOWN_VALUES if p is origin), None)
            if param == "title" and origin is None and "detections" in origins:
                known, port = {}, "detections"  # only the detections: {count} is all there is
            if not template or known is None:
                continue
            samples = dict(known)
            if param == "title" and "detections" in origins:
                samples.setdefault("count", 0)
            try:
                check_template(template, f"param '{param}'", samples=samples)
            except ValueError as exc:
                problems.append(ParamProblem(port, str(exc), hint=f"fields of the `{port}` input: "
                                             + ", ".join(f"{{{name}}}" for name in samples)))
        return problems

    @classmethod
    def check_fields(cls, params: Any, fields: frozenset[str] | None, wired: frozenset[str]) -> list[ParamProblem]:
        """A text the user set that no wired input can fill is a wiring mistake: say which input to wire."""
        problems = []
        given = getattr(params, "model_fields_set", set())
        for param, port in (("zone_label", "zone"), ("line_label", "line")):
            if param in given and getattr(params, param) and port not in wired:
                problems.append(ParamProblem(param, f"is drawn from the `{port}` input, which is not wired",
                                             f"wire `{port}` to a {'zone' if port == 'zone' else 'line'}.count's "
                                             "value, e.g. inputs: {" + port + ": counter.value}"))
        if getattr(params, "title", None) and not wired & {"value", "detections"}:
            problems.append(ParamProblem("title", "its fields come from the `value` or `detections` input, and "
                                         "neither is wired", "wire `value` (any node's value) or `detections` "
                                         "(for {count})"))
        if getattr(params, "per_class", False) and not wired & {"value", "detections"}:
            problems.append(ParamProblem("per_class", "counts per class come from the `detections` (or a `value` "
                                         "with per_class), and neither is wired", "wire `detections`"))
        return problems

    def setup(self) -> None:
        self.configure()

    def configure(self) -> None:
        p = self.params
        self.overlay = Overlay(p.colour, p.opacity, p.thickness, p.text_scale)

    def process(self, inputs: Inputs) -> dict[str, Any]:
        frame = inputs["image"]
        pixels = frame.pixels
        if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
            raise NodeError(f"annotate.overlay '{self.node_id}': needs an 8-bit BGR or gray image, got "
                            f"{pixels.dtype} {pixels.shape}", hint="connect a source's or an annotate node's image")
        p = inputs.params or self.params
        scene = np.repeat(pixels[:, :, None], 3, axis=2) if pixels.ndim == 2 else pixels.copy()
        block: list[str] = []
        zone, line = inputs.get("zone"), inputs.get("line")
        zone_text = fill(p.zone_label, value_fields(zone)) if zone is not None and p.zone_label else None
        line_text = fill(p.line_label, value_fields(line)) if line is not None and p.line_label else None
        for polygon in _polygons(inputs.get("outlines")):
            scene = self.overlay.outline(scene, polygon)
        if p.zone is not None:
            scene = self.overlay.zone(scene, p.zone, zone_text)
        elif zone_text:
            block.append(zone_text)
        if p.line is not None:
            scene = self.overlay.line(scene, p.line, line_text)
        elif line_text:
            block.append(line_text)
        block[:0] = self._summary(p, inputs.get("detections"), inputs.get("value"))
        scene = self.overlay.text_block(scene, block, p.corner)
        return {"image": frame.with_pixels(scene)}

    def _summary(self, p: OverlayParams, detections: Any, value: Any) -> list[str]:
        """The title and the counts per class: the top of the text block."""
        fields = {} if value is None else value_fields(value)
        if detections is not None:
            fields.setdefault("count", len(detections))
        lines = [fill(p.title, fields)] if p.title else []
        if p.per_class:
            if detections is not None:
                names = class_names(detections)
                lines += per_class_lines(count_by_name(names, np.ones(len(names), bool)))
            elif isinstance(fields.get("per_class"), Mapping):
                lines += per_class_lines(fields["per_class"])
        return lines


def _polygons(value: Any) -> list[np.ndarray]:
    """A polygon or a list of polygons as a list of (n, 2) arrays; anything else draws nothing."""
    if not isinstance(value, (list, tuple)) or not value:
        return []
    single = _points(value)
    if single is not None:
        return [single]
    return [points for points in map(_points, value) if points is not None]


def _points(value: Any) -> np.ndarray | None:
    try:
        array = np.asarray(value, float)
    except (TypeError, ValueError):  # ragged, or not numbers
        return None
    return array if array.ndim == 2 and array.shape[1] == 2 and len(array) >= 2 else None
