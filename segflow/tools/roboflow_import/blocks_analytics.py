"""Analytics, fusion and transformation blocks: time in zone, consensus, union box, image colour, warp, expression.

Each maps to the segflow node that does the same job (``zone.time``,
``detections.consensus``, ``detections.union``, ``analyze.image_colour``,
``transform.perspective``); where Roboflow's default differs from segflow's
(Roboflow drops detections outside a zone, segflow keeps them) the mapper
writes Roboflow's choice, and where a behaviour has no counterpart it says
so at the field. An ``expression`` maps only when it hands on its data as it
is (serialised): segflow's sinks serialise what they keep, and segflow has no
case/when over frame values (``compute.fields`` computes numbers per detection).
"""

from __future__ import annotations

import re
from typing import Any

from segflow.tools.roboflow_import.blocks_detections import ANCHORS
from segflow.tools.roboflow_import.context import Conversion, Skip
from segflow.tools.roboflow_import.definition import Step
from segflow.tools.roboflow_import.selectors import Ref, step_selector

CONSENSUS_PORTS = ("first", "second", "third", "fourth")
AGGREGATION = {"average": "mean", "max": "max", "min": "min"}
BOXES = {"average": "mean", "max": "largest", "min": "smallest"}
SERIALISING = {"DetectionsToDictionary", "ConvertDictionaryToJSON", "ConvertImageToJPEG", "ConvertImageToBase64"}
"""Operations that only encode data for transport: a segflow sink encodes what it writes."""
TIME_FIELD = "time_in_zone_s"
"""zone.time's default field: what Roboflow's ``time_in_zone`` is in segflow detections."""


def _polygon(conv: Conversion, step: Step, key: str) -> Any:
    """A polygon param: a literal, ``$inputs.NAME`` (kind polygon), or ``$node.port`` of a step that draws one.

    Roboflow's dynamic zone gives every detection's outline (``zones``); a node that takes one
    polygon per frame reads the largest (``zone``: polygon.from_mask pick largest), as Roboflow
    picks the largest.
    """
    value = conv.take(step, key) if step_selector(step.body.get(key)) else None
    if value is None:
        return conv.param(step, key, "polygon")
    sel = step_selector(value)
    if sel and sel[1] == "zones" and "zone" in conv.provided.get(sel[0], {}):
        conv.note(step, key, f"the largest zone of step '{sel[0]}' (Roboflow takes the largest too)")
        value = f"$steps.{sel[0]}.zone"
    ref = conv.ref(step, key, ("value",), value=value)
    return f"${ref.ref}"


def _depth(value: Any) -> int:
    return 1 + _depth(value[0]) if isinstance(value, list) and value else 0


def time_in_zone(conv: Conversion, step: Step) -> None:
    """``time_in_zone`` v1-v3: ``zone.time`` on tracked detections, Roboflow's choices written in.

    Roboflow drops detections outside the zone unless told not to; zone.time keeps them
    unless told to drop them, so ``outside`` is always written.
    """
    detections = conv.ref(step, "detections", ("detections",))
    conv.take(step, "image")  # the frame's size: segflow frames carry it
    conv.take(step, "metadata")  # frame time: segflow frames carry it
    zone = _polygon(conv, step, "zone")
    if _depth(zone) == 3:
        raise Skip(f"{len(zone)} zones: zone.time times one polygon (one zone.time per zone)", "zone")
    params: dict[str, Any] = {"polygon": zone}
    anchor = conv.take(step, "triggering_anchor", "CENTER")
    if anchor in ANCHORS:
        params["anchors"] = [ANCHORS[anchor]]
    else:
        conv.leave(step, "triggering_anchor", f"{anchor!r} is no anchor segflow knows: center written")
    remove = conv.take(step, "remove_out_of_zone_detections", True)
    if not isinstance(remove, bool):
        conv.leave(step, "remove_out_of_zone_detections", "from an input: zone.time's `outside` is fixed "
                   "before the run; drop written (Roboflow's default)")
        remove = True
    params["outside"] = "drop" if remove else "keep"
    reset = conv.take(step, "reset_out_of_zone_detections", True)
    if reset is False:
        params["on_exit"] = "accumulate"
        conv.leave(step, "reset_out_of_zone_detections", "false: on_exit accumulate written, which adds up the "
                   "time inside only; Roboflow counts from the first entry, time outside included")
    elif reset is True:
        params["on_exit"] = "reset"
    else:
        conv.leave(step, "reset_out_of_zone_detections", "from an input: zone.time's `on_exit` is fixed before "
                   "the run; reset written (Roboflow's default)")
        params["on_exit"] = "reset"
    node = conv.node(step, "zone.time", params, {"detections": detections})
    conv.note(step, None, f"each detection's time in the zone is the field {TIME_FIELD} (Roboflow: time_in_zone)")
    conv.provide(step, "timed_detections", Ref(f"{node}.detections", "detections"))
    conv.finish(step)


def consensus(conv: Conversion, step: Step) -> None:
    """``detections_consensus`` / ``DetectionsConsensus``: ``detections.consensus`` (2 to 4 detectors)."""
    key = "predictions_batches" if conv.has(step, "predictions_batches") else "predictions"
    selectors = conv.take(step, key) or []
    if not 2 <= len(selectors) <= len(CONSENSUS_PORTS):
        raise Skip(f"{len(selectors)} detector(s): detections.consensus takes 2 to {len(CONSENSUS_PORTS)}", key)
    wired = {port: conv.ref(step, key, ("detections",), value=selector)
             for port, selector in zip(CONSENSUS_PORTS, selectors, strict=False)}
    params: dict[str, Any] = {}
    votes = conv.param(step, "required_votes", "integer")
    if isinstance(votes, int) and votes > len(selectors):
        raise Skip(f"required_votes {votes} with {len(selectors)} detectors: no object could ever be kept",
                   "required_votes")
    params["required_votes"] = votes
    for rf_key, name, kind in (("iou_threshold", "iou", "number"), ("class_aware", "class_aware", "bool"),
                               ("confidence", "confidence", "number")):
        if conv.has(step, rf_key):
            params[name] = conv.param(step, rf_key, kind)
    class_aware = params.get("class_aware", True) is not False
    classes = conv.param(step, "classes_to_consider", None)
    if classes:
        params["classes"] = classes
    wanted = conv.param(step, "required_objects", None)
    if isinstance(wanted, dict) and not class_aware:  # Roboflow counts every class together then
        wanted = sum(wanted.values())
    if wanted:
        params["required_objects"] = wanted
    _aggregations(conv, step, params)
    node = conv.node(step, "detections.consensus", params, dict(wired))
    conv.note(step, None, "detections.consensus matches masks by mask IoU where both detectors give "
              "masks (Roboflow: boxes), and keeps a merged mask")
    conv.provide(step, "predictions", Ref(f"{node}.detections", "detections"))
    conv.provide(step, "object_present", Ref(f"{node}.present", "value"))
    conv.provide(step, "presence_confidence", Ref(f"{node}.value", "value", ("confidence_per_class",)
                                                  if class_aware else ("confidence",)))
    conv.finish(step)


def _aggregations(conv: Conversion, step: Step, params: dict[str, Any]) -> None:
    """Roboflow's three aggregation modes, where given, as consensus params (one of them names two)."""
    for key in ("presence_confidence_aggregation", "detections_merge_confidence_aggregation",
                "detections_merge_coordinates_aggregation"):
        value = conv.take(step, key)
        if value is None:
            continue
        if value not in AGGREGATION:
            conv.leave(step, key, f"{value!r} is not average, max or min: segflow's default written")
        elif key == "presence_confidence_aggregation":
            params["presence_confidence"] = AGGREGATION[value]
        elif key == "detections_merge_coordinates_aggregation":
            params["box_merge"] = BOXES[value]
        else:
            params["confidence_merge"] = AGGREGATION[value]
            params["class_vote"] = "most_confident" if value == "max" else "majority"
            if value == "min":
                conv.leave(step, key, "min: the confidence is the votes' lowest, but the class is the majority's "
                           "(segflow has no class of the least confident vote)")


def union(conv: Conversion, step: Step) -> None:
    """``detections_merge``: ``detections.union`` (one box around all, the lowest confidence, as Roboflow)."""
    detections = conv.ref(step, "predictions", ("detections",))
    name = conv.take(step, "class_name", "merged_detection")
    node = conv.node(step, "detections.union", {"class_name": name}, {"detections": detections})
    conv.provide(step, "predictions", Ref(f"{node}.detections", "detections"))
    conv.finish(step)


def dominant_colour(conv: Conversion, step: Step) -> None:
    """``dominant_color``: ``analyze.image_colour``; Roboflow's RGB tuple is its ``dominant_hex``.

    Roboflow shrinks the image until its smaller side is ``target_size`` and clusters in
    RGB; segflow samples a grid of at most ``max_pixels`` and clusters in Lab.
    """
    image = conv.ref(step, "images" if conv.has(step, "images") else "image", ("image",))
    params: dict[str, Any] = {"k": conv.param(step, "color_clusters", "integer", 4)}
    side = conv.take(step, "target_size", 100)
    if isinstance(side, int) and side > 0:
        params["max_pixels"] = max(1000, round(side * side * 4 / 3))
        conv.note(step, "target_size", f"max_pixels {params['max_pixels']}: about as many pixels as Roboflow's "
                  f"shrunk image (smaller side {side}) of a 4:3 frame")
    else:
        conv.leave(step, "target_size", "from an input: analyze.image_colour's max_pixels is fixed before the run")
    if conv.has(step, "max_iterations"):
        conv.take(step, "max_iterations")
        conv.leave(step, "max_iterations", "analyze.image_colour's k-means (in Lab, seeded) runs until it "
                   "converges or 50 rounds")
    node = conv.node(step, "analyze.image_colour", params, {"image": image})
    conv.note(step, None, "rgb_color is the value's dominant_hex ('#rrggbb'); dominant_colours lists each "
              "colour's rgb and share")
    conv.provide(step, "rgb_color", Ref(f"{node}.value", "value", ("dominant_hex",)))
    conv.finish(step)


def _area(polygon: list[list[float]]) -> float:
    """The shoelace area of a polygon."""
    pairs = zip(polygon, polygon[1:] + polygon[:1], strict=True)
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in pairs)) / 2


def _quad(points: Any) -> Any:
    """A literal polygon or list of them as 4 corners in segflow's order (top-left, top-right, ...).

    Roboflow takes the largest 4-vertex polygon of a list and orders its corners itself.
    """
    if _depth(points) == 3:
        quads = [p for p in points if len(p) == 4]
        if not quads:
            return points
        points = max(quads, key=_area)
    if _depth(points) != 2 or len(points) != 4:
        return points
    sums, diffs = [x + y for x, y in points], [x - y for x, y in points]
    return [points[sums.index(min(sums))], points[diffs.index(max(diffs))],
            points[sums.index(max(sums))], points[diffs.index(min(diffs))]]


def perspective(conv: Conversion, step: Step) -> None:
    """``perspective_correction``: ``transform.perspective`` (the image, detections and a plane of 4 points)."""
    inputs: dict[str, Ref | str] = {"image": conv.ref(step, "images" if conv.has(step, "images") else "image",
                                                      ("image",))}
    if conv.take(step, "predictions") is not None:
        inputs["detections"] = conv.ref(step, "predictions", ("detections",))
    points = _polygon(conv, step, "perspective_polygons")
    params: dict[str, Any] = {"points": _quad(points) if isinstance(points, list) else points,
                              "width": conv.param(step, "transformed_rect_width", "integer", 1000),
                              "height": conv.param(step, "transformed_rect_height", "integer", 1000)}
    anchor = conv.take(step, "extend_perspective_polygon_by_detections_anchor", "")
    if anchor:
        conv.leave(step, "extend_perspective_polygon_by_detections_anchor", f"{anchor}: transform.perspective "
                   "keeps the plane its 4 points give; detections wholly outside it are dropped, not taken in")
    warp = conv.take(step, "warp_image", False)
    node = conv.node(step, "transform.perspective", params, inputs)
    if "detections" in inputs:
        conv.provide(step, "corrected_coordinates", Ref(f"{node}.detections", "detections"))
    if warp is not False:  # Roboflow gives no image unless asked
        conv.provide(step, "warped_image", Ref(f"{node}.image", "image"))
    if re.search(rf'"\$steps\.{re.escape(step.name)}\.(\*|extended_transformed_rect_\w+)"', conv.definition.text):
        conv.leave(step, None, "the outputs extended_transformed_rect_width/height: the view is always "
                   "width x height (the plane is never extended)")
    conv.finish(step)


def expression(conv: Conversion, step: Step) -> None:
    """``expression`` that hands on one of its data as it is (serialised): that data itself."""
    data = conv.take(step, "data") or {}
    operations = conv.take(step, "data_operations") or {}
    switch = conv.take(step, "switch") or {}
    if switch.get("cases"):
        raise Skip(f"a switch over {len(switch['cases'])} case(s): segflow has no case/when over frame values "
                   "(compute.fields computes numbers per detection; sinks' only_when gates on a condition)", "switch")
    default = switch.get("default") or {}
    name = default.get("parameter_name")
    if default.get("type") != "DynamicCaseResult" or name not in data:
        raise Skip("a constant result: segflow sinks write what a frame holds, and a constant is no step's "
                   "result", "switch")
    done = [op.get("type") for op in [*operations.get(name, []), *(default.get("operations") or [])]]
    if any(op not in SERIALISING for op in done):
        raise Skip(f"the operations {', '.join(map(str, done))}: only encoding ({', '.join(sorted(SERIALISING))}) "
                   "maps; segflow's sinks encode what they keep", "switch")
    found = conv.ref(step, "data", ("detections", "value", "image"), value=data[name])
    for other in set(data) - {name}:
        conv.leave(step, "data", f"'{other}' is read by no result")
    if done:
        conv.note(step, "switch", f"{', '.join(map(str, done))}: the data of '{name}' goes on as it is; the sink "
                  "that keeps it writes it as JSON")
    conv.provide(step, "output", found)
    conv.finish(step)
