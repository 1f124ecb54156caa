"""Detections blocks: filters, crops and tiles, stitching, zones and lines, measurement, flow control.

Each maps to the segflow node that does the same job (``filter.detections``,
``crop.detections``, ``crop.tiles``, ``crop.stitch``, ``polygon.from_mask``,
``line.count``, ``measure.masks``); a ContinueIf becomes the ``only_when`` of
the sinks it lets through, since segflow gates writes, not steps.
"""

from __future__ import annotations

import re
from typing import Any

from segflow.tools.roboflow_import.context import Conversion, Gate, Skip
from segflow.tools.roboflow_import.definition import Step
from segflow.tools.roboflow_import.operands import Untranslatable, statement
from segflow.tools.roboflow_import.selectors import Ref, input_selector, step_selector

ANCHORS = {"CENTER": "center", "CENTER_LEFT": "center_left", "CENTER_RIGHT": "center_right",
           "TOP_CENTER": "top_center", "TOP_LEFT": "top_left", "TOP_RIGHT": "top_right",
           "BOTTOM_LEFT": "bottom_left", "BOTTOM_CENTER": "bottom_center", "BOTTOM_RIGHT": "bottom_right",
           "CENTER_OF_MASS": "center_of_mass"}


def _resolver(conv: Conversion, step: Step, key: str, used: list[Ref]) -> Any:
    params = conv.take(step, key) or {}

    def resolve(name: str) -> Any:
        if name == "_":
            return "_"
        selector = params.get(name)
        if input_selector(selector) is not None and conv.image_ref(input_selector(selector) or "") is None:
            raise Untranslatable(f"'{name}' is a workflow input: segflow conditions read what a frame holds")
        if selector is None:
            raise Untranslatable(f"'{name}' is not given in '{key}'")
        found = conv.frame_detections(step, conv.resolve(selector, f"{key}.{name}"))
        used.append(found)
        return found

    return resolve


def detections_filter(conv: Conversion, step: Step) -> None:
    """``detections_filter`` and a ``DetectionsTransformation`` of filters: ``filter.detections`` ``where``."""
    detections = conv.ref(step, "predictions", ("detections",))
    used: list[Ref] = []
    resolve = _resolver(conv, step, "operations_parameters", used)
    where: list[str] = []
    for index, op in enumerate(conv.take(step, "operations") or []):
        if op.get("type") != "DetectionsFilter":
            raise Skip(f"the operation '{op.get('type')}' (segflow maps DetectionsFilter only)", "operations")
        try:
            where.append(statement(op.get("filter_operation") or {}, resolve))
        except Untranslatable as exc:
            raise Skip(f"operations[{index}]: {exc}", "operations") from exc
    images = [r for r in used if r.kind == "image"]
    if images:  # the frame's size: compute.fields (which sees the image) copies it onto each detection
        sizes = sorted({m for w in where for m in re.findall(r"\bimage_(?:area|width|height)\b", w)})
        fields = {f"frame_{name}": name for name in sizes}
        sizer = conv.node(step, "compute.fields", {"fields": fields},
                          {"detections": detections, "image": images[0]}, suffix="_frame_size")
        detections = Ref(f"{sizer}.detections", "detections")
        where = [re.sub(r"\bimage_(area|width|height)\b", r"frame_image_\1", w) for w in where]
    node = conv.node(step, "filter.detections", {"where": where}, {"detections": detections})
    conv.provide(step, "predictions", Ref(f"{node}.detections", "detections"))
    conv.finish(step)


def crop(conv: Conversion, step: Step) -> None:
    """``dynamic_crop`` / ``Crop``: ``crop.detections``; a mask with opacity 1 blanks the background."""
    image = conv.ref(step, "images" if conv.has(step, "images") else "image", ("image",))
    detections = conv.ref(step, "predictions", ("detections",))
    params: dict[str, Any] = {}
    opacity = conv.take(step, "mask_opacity", 0.0)
    colour = conv.take(step, "background_color", (0, 0, 0))
    if isinstance(opacity, (int, float)) and opacity > 0:
        params["blank_background"] = True
        grey = _grey(colour)
        if grey is None:
            conv.leave(step, "background_color", f"crop.detections fills with a grey level; {colour!r} is not "
                       "one (0 written)")
            grey = 0
        params["fill"] = grey
        if opacity < 1:
            conv.leave(step, "mask_opacity", f"crop.detections blanks fully; {opacity} blends in Roboflow")
    node = conv.node(step, "crop.detections", params, {"image": image, "detections": detections})
    conv.provide(step, "crops", Ref(f"{node}.crops", "crops"))
    conv.finish(step)


def _grey(colour: Any) -> int | None:
    if isinstance(colour, str) and colour.startswith("#") and len(colour) == 7:
        rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    elif isinstance(colour, str) and colour.lower() in ("black", "white"):
        rgb = [0] * 3 if colour.lower() == "black" else [255] * 3
    elif isinstance(colour, (list, tuple)) and len(colour) == 3:
        rgb = [int(c) for c in colour]
    else:
        return None
    return rgb[0] if len(set(rgb)) == 1 else None


def slicer(conv: Conversion, step: Step) -> None:
    """``image_slicer`` (SAHI): ``crop.tiles``; segflow's tiles are square, one overlap for both axes."""
    image = conv.ref(step, "image", ("image",))
    width = conv.take(step, "slice_width", 640)
    height = conv.take(step, "slice_height", 640)
    overlap_w = conv.take(step, "overlap_ratio_width", 0.2)
    overlap_h = conv.take(step, "overlap_ratio_height", 0.2)
    if not all(isinstance(v, (int, float)) for v in (width, height, overlap_w, overlap_h)):
        raise Skip("slice sizes from inputs: crop.tiles takes fixed numbers", "slice_width")
    if width != height:
        conv.leave(step, "slice_height", f"crop.tiles cuts square tiles: {max(width, height)} px")
    if overlap_w != overlap_h:
        conv.leave(step, "overlap_ratio_height", f"crop.tiles has one overlap: {max(overlap_w, overlap_h)}")
    node = conv.node(step, "crop.tiles", {"size": max(width, height), "overlap": max(overlap_w, overlap_h)},
                     {"image": image})
    conv.provide(step, "slices", Ref(f"{node}.crops", "crops"))
    conv.finish(step)


STRATEGIES = {"nms": "nms", "nmm": "union", "none": "none"}


def stitch(conv: Conversion, step: Step) -> None:
    """``detections_stitch``: ``crop.stitch`` mode new (nms, nmm -> union, none), IoU as Roboflow's."""
    crops = conv.ref(step, "predictions", ("crops",))
    conv.take(step, "reference_image")  # segflow's crops know their frame
    strategy = conv.param(step, "overlap_filtering_strategy", None, "nms")
    if strategy not in STRATEGIES:
        conv.leave(step, "overlap_filtering_strategy", f"{strategy!r}: nms written")
        strategy = "nms"
    threshold = conv.param(step, "iou_threshold", "number", 0.3)
    node = conv.node(step, "crop.stitch", {"mode": "new", "merge": STRATEGIES[strategy], "match": "iou",
                                           "threshold": threshold}, {"crops": crops})
    conv.provide(step, "predictions", Ref(f"{node}.detections", "detections"))
    conv.finish(step)


def classes_replacement(conv: Conversion, step: Step) -> None:
    """``detections_classes_replacement``: the classifier's class onto each parent (``crop.stitch`` attach)."""
    conv.ref(step, "object_detection_predictions", ("detections",))  # the crops know their parents
    crops = conv.ref(step, "classification_predictions", ("crops",))
    params: dict[str, Any] = {"mode": "attach", "drop_unmatched": True}
    if conv.has(step, "fallback_class_name"):
        conv.take(step, "fallback_class_name")
        params["drop_unmatched"] = False
        conv.leave(step, "fallback_class_name", "crop.stitch keeps an unclassified parent's own class")
    node = conv.node(step, "crop.stitch", params, {"crops": crops})
    conv.provide(step, "predictions", Ref(f"{node}.detections", "detections"))
    conv.finish(step)


def dynamic_zone(conv: Conversion, step: Step) -> None:
    """``dynamic_zone``: ``polygon.from_mask`` (the outline simplified; Roboflow fits N vertices)."""
    detections = conv.ref(step, "predictions", ("detections",))
    vertices = conv.take(step, "required_number_of_vertices")
    conv.leave(step, "required_number_of_vertices", f"polygon.from_mask simplifies the outline to a tolerance "
               f"in pixels, not to {vertices} vertices")
    node = conv.node(step, "polygon.from_mask", {"pick": "largest", "tolerance": 2.0}, {"detections": detections})
    conv.provide(step, "zones", Ref(f"{node}.polygons", "value"))
    conv.provide(step, "zone", Ref(f"{node}.polygon", "value"))
    conv.finish(step, {"scale_ratio": 1, "apply_least_squares": False})


def line_counter(conv: Conversion, step: Step) -> None:
    """``line_counter`` (v1, v2): ``line.count`` on tracked detections; counts in/out as a value."""
    detections = conv.ref(step, "detections", ("detections",))
    conv.take(step, "image")
    conv.take(step, "metadata")
    params: dict[str, Any] = {}
    line = conv.param(step, "line_segment", "line")
    if line is None:
        raise Skip("no line_segment", "line_segment")
    params["line"] = line
    anchor = conv.take(step, "triggering_anchor", "CENTER")
    if anchor in ANCHORS:
        params["anchors"] = [ANCHORS[anchor]]
    else:
        conv.leave(step, "triggering_anchor", f"{anchor!r} is no anchor segflow knows: center written")
    node = conv.node(step, "line.count", params, {"detections": detections})
    conv.provide(step, "count_in", Ref(f"{node}.value", "value", ("in",)))
    conv.provide(step, "count_out", Ref(f"{node}.value", "value", ("out",)))
    conv.provide(step, "detections_in_out", Ref(f"{node}.detections", "detections"))
    conv.finish(step)


def mask_area(conv: Conversion, step: Step) -> None:
    """``mask_area_measurement``: ``measure.masks`` (area_px; area_mm2 with a scale of 1/pixels_per_unit)."""
    detections = conv.ref(step, "predictions", ("detections",))
    per_unit = conv.param(step, "pixels_per_unit", "number", 1.0)
    params: dict[str, Any] = {"edges": "mask", "skeleton": False}
    if isinstance(per_unit, (int, float)) and per_unit > 0 and per_unit != 1.0:
        params["scale"] = {"mm_per_px": 1.0 / per_unit}
        conv.note(step, "pixels_per_unit", "measure.masks gives the area in mm2 (area_mm2): the unit is a mm")
    node = conv.node(step, "measure.masks", params, {"detections": detections})
    conv.provide(step, "predictions", Ref(f"{node}.detections", "detections"))
    conv.finish(step)


def image_encoding(conv: Conversion, step: Step) -> None:
    """``property_definition`` that only encodes an image (JPEG, base64): the image itself.

    segflow's sinks encode frames themselves (``attach: image``, ``multipart``), so the image
    goes on to them as it is; any other property definition has no node (table.ELSEWHERE).
    """
    ops = conv.take(step, "operations") or []
    if not ops or any(op.get("type") not in ("ConvertImageToJPEG", "ConvertImageToBase64") for op in ops):
        raise Skip("Roboflow's value extraction; segflow sinks name record fields instead "
                   "(fields:, {field} templates); only an image's encoding maps", "operations")
    conv.provide(step, "output", conv.ref(step, "data", ("image",)))
    conv.finish(step)


def continue_if(conv: Conversion, step: Step) -> None:
    """``ContinueIf``: its condition becomes ``only_when`` of the sinks among (or after) its next steps."""
    used: list[Ref] = []
    resolve = _resolver(conv, step, "evaluation_parameters", used)
    try:
        condition = statement(conv.take(step, "condition_statement") or {}, resolve)
    except Untranslatable as exc:
        raise Skip(f"{exc}; the steps after it run on every frame", "condition_statement") from exc
    detections = next((r for r in used if r.kind == "detections"), None)
    value = next((r for r in used if r.kind == "value"), None)
    if len({r.ref for r in used if r.kind in ("detections", "value")}) > 2:
        raise Skip("the condition reads several nodes' data; a sink's only_when reads the ones wired to it",
                   "condition_statement")
    steps: tuple[str, ...] = (step.name,)
    inherited = conv.gate(step)
    if inherited is not None:
        condition = f"({inherited.condition}) and ({condition})"
        detections = detections or inherited.detections
        value = value or inherited.value
        steps = (*inherited.steps, step.name)
    for target in conv.take(step, "next_steps") or []:
        sel = step_selector(target)
        if sel:
            conv.gates[sel[0]] = Gate(condition, detections, value, steps)
    conv.finish(step)
