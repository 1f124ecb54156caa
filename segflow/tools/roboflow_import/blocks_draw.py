"""Visualization blocks: each draws one thing on the image it is given, so each becomes one node.

Roboflow chains visualizations (a box drawer's image into a trace drawer);
``annotate.detections`` with only the matching part switched on, or
``annotate.overlay`` for zones, lines and outlines, keeps that chain node for
node, so the drawing order stays the definition's.
"""

from __future__ import annotations

from typing import Any

from segflow.tools.roboflow_import.context import Conversion, Skip
from segflow.tools.roboflow_import.definition import Step
from segflow.tools.roboflow_import.selectors import Ref

NOTHING = {"masks": False, "boxes": False, "label": None, "traces": False}
STYLE = {"copy_image": True, "color_palette": "DEFAULT", "palette_size": 10, "custom_colors": [],
         "color_axis": "CLASS"}
"""Fields whose defaults draw what the segflow node draws by default."""
LABELS = {"Class": "{class_name}", "Confidence": "{confidence:.2f}", "Class and Confidence":
          "{class_name} {confidence:.2f}", "Tracker Id": "{tracker_id}", "Index": "{det_index}",
          "Time In Zone": "In zone: {time_in_zone_s:.2f}s"}


def _draw(conv: Conversion, step: Step, part: dict[str, Any], extra: dict[str, tuple[str, str]]) -> None:
    """One ``annotate.detections`` drawing only ``part``; other style fields are reported, not guessed."""
    image = conv.ref(step, "image", ("image",))
    detections = conv.ref(step, "predictions", ("detections",))
    params = {**NOTHING, **part}
    for key, (name, kind) in extra.items():
        if conv.has(step, key):
            params[name] = conv.param(step, key, kind)
    node = conv.node(step, "annotate.detections", params, {"image": image, "detections": detections})
    conv.provide(step, "image", Ref(f"{node}.image", "image"))
    conv.finish(step, STYLE)


def boxes(conv: Conversion, step: Step) -> None:
    """``bounding_box_visualization``: boxes only."""
    _draw(conv, step, {"boxes": True}, {"thickness": ("thickness", "integer")})


def masks(conv: Conversion, step: Step) -> None:
    """``mask_visualization``: masks only, at Roboflow's opacity."""
    _draw(conv, step, {"masks": True}, {"opacity": ("mask_opacity", "number")})


def traces(conv: Conversion, step: Step) -> None:
    """``trace_visualization``: the tracks' recent path (needs a tracker upstream, as in Roboflow)."""
    _draw(conv, step, {"traces": True}, {"trace_length": ("trace_length", "integer"),
                                          "thickness": ("thickness", "integer")})


def labels(conv: Conversion, step: Step) -> None:
    """``label_visualization``: a label per detection from Roboflow's choice of text."""
    text = conv.take(step, "text", "Class")
    if text not in LABELS:
        raise Skip(f"the label text {text!r}: segflow labels are templates of detection fields "
                   f"({', '.join(LABELS)} map)", "text")
    _draw(conv, step, {"label": LABELS[text]}, {"text_scale": ("text_scale", "number")})


def polygons(conv: Conversion, step: Step) -> None:
    """``polygon_visualization``: each mask's outline (``polygon.from_mask`` then ``annotate.overlay``)."""
    image = conv.ref(step, "image", ("image",))
    detections = conv.ref(step, "predictions", ("detections",))
    outline = conv.node(step, "polygon.from_mask", {"tolerance": 1.0}, {"detections": detections},
                        suffix="_outlines")
    params: dict[str, Any] = {"zone_label": None, "line_label": None}
    if conv.has(step, "thickness"):
        params["thickness"] = conv.param(step, "thickness", "integer")
    node = conv.node(step, "annotate.overlay", params, {"image": image, "outlines": f"{outline}.polygons"})
    conv.provide(step, "image", Ref(f"{node}.image", "image"))
    conv.finish(step, STYLE)


def line_zone(conv: Conversion, step: Step) -> None:
    """``line_counter_visualization``: the line with its in/out counts (``annotate.overlay``)."""
    image = conv.ref(step, "image", ("image",))
    line = conv.param(step, "zone", "line")
    counts = conv.ref(step, "count_in", ("value",))
    if conv.has(step, "count_out") and conv.ref(step, "count_out", ("value",)).ref != counts.ref:
        raise Skip("count_in and count_out come from two line counters; annotate.overlay draws one", "count_out")
    params: dict[str, Any] = {"line": line, "zone_label": None}
    for key, name, kind in (("opacity", "opacity", "number"), ("thickness", "thickness", "integer"),
                            ("text_scale", "text_scale", "number")):
        if conv.has(step, key):
            params[name] = conv.param(step, key, kind)
    node = conv.node(step, "annotate.overlay", params, {"image": image, "line": counts})
    conv.provide(step, "image", Ref(f"{node}.image", "image"))
    conv.finish(step, {**STYLE, "color": "#5bb573", "text_thickness": 1, "text_spacing": 1})


def polygon_zone(conv: Conversion, step: Step) -> None:
    """``polygon_zone_visualization``: the zone, filled translucently (``annotate.overlay``)."""
    image = conv.ref(step, "image", ("image",))
    zone = conv.param(step, "zone", "polygon")
    params: dict[str, Any] = {"zone": zone, "zone_label": None, "line_label": None}
    if conv.has(step, "opacity"):
        params["opacity"] = conv.param(step, "opacity", "number")
    node = conv.node(step, "annotate.overlay", params, {"image": image})
    conv.provide(step, "image", Ref(f"{node}.image", "image"))
    conv.finish(step, {**STYLE, "color": "#5bb573"})
