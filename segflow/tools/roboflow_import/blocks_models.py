"""Model blocks: detectors and segmenters (``detect.yolo``), classifiers, SAM 2, trackers.

A Roboflow model step runs on an image or on a list of crops (``dynamic_crop``,
``image_slicer``); segflow's model nodes take either on their ``image`` or
``crops`` port, and a crop's results come back to the frame through
``crop.stitch``. Model ids become local files given with ``--model``.
"""

from __future__ import annotations

from segflow.tools.roboflow_import.context import Conversion, Skip
from segflow.tools.roboflow_import.definition import Step
from segflow.tools.roboflow_import.selectors import Ref

PLATFORM = {"disable_active_learning": False, "active_learning_target_dataset": None}
"""Roboflow platform options that mean nothing on a box of your own, at the values that ask for nothing."""


def _image_or_crops(conv: Conversion, step: Step) -> tuple[str, Ref]:
    key = "images" if conv.has(step, "images") else "image"
    found = conv.ref(step, key, ("image", "crops"))
    return ("crops" if found.kind == "crops" else "image"), found


def detector(conv: Conversion, step: Step) -> None:
    """Object detection and instance segmentation: ``detect.yolo`` (the model file says which)."""
    port, source = _image_or_crops(conv, step)
    params: dict[str, object] = {"model": conv.model(step)}
    for key, name, kind in (("confidence", "confidence", "number"), ("iou_threshold", "iou", "number"),
                            ("max_detections", "max_det", "integer")):
        if conv.has(step, key):
            value = conv.param(step, key, kind)
            if value is not None:
                params[name] = value
    if conv.has(step, "class_filter"):
        classes = conv.param(step, "class_filter", None)
        if classes:
            params["classes"] = classes
    mode = conv.take(step, "confidence_mode", "custom" if conv.has(step, "custom_confidence") else None)
    if mode == "custom" and conv.has(step, "custom_confidence"):
        params["confidence"] = conv.param(step, "custom_confidence", "number")
    elif mode is not None and mode != "custom":
        conv.leave(step, "confidence_mode", f"{mode}: Roboflow's per-model confidence; detect.yolo uses "
                   "`confidence` (0.25 unless given)")
    if conv.take(step, "class_agnostic_nms", False):
        conv.leave(step, "class_agnostic_nms", "detect.yolo runs NMS per class (ultralytics' default)")
    node = conv.node(step, "detect.yolo", params, {port: source})
    if port == "crops":
        conv.provide(step, "predictions", Ref(f"{node}.crops", "crops", field="results"))
    else:
        conv.provide(step, "predictions", Ref(f"{node}.detections", "detections"))
    conv.finish(step, PLATFORM)


def classifier(conv: Conversion, step: Step) -> None:
    """Single-label classification: ``classify.yolo`` on the frame or on crops."""
    port, source = _image_or_crops(conv, step)
    params: dict[str, object] = {"model": conv.model(step)}
    if conv.has(step, "confidence"):
        conv.take(step, "confidence")
        conv.leave(step, "confidence", "classify.yolo gives its top classes with their confidences "
                   "(top_k); filter them downstream")
    node = conv.node(step, "classify.yolo", params, {port: source})
    conv.provide(step, "predictions", Ref(f"{node}.crops", "crops", field="classified") if port == "crops"
                 else Ref(f"{node}.classification", "value"))
    conv.finish(step, PLATFORM)


SAM_CONFIGS = {"hiera_tiny": "t", "hiera_small": "s", "hiera_b_plus": "b+", "hiera_large": "l"}


def sam(conv: Conversion, step: Step) -> None:
    """``segment_anything``: SAM 2 masks for the boxes of a detector (``segment.sam2``)."""
    image = conv.ref(step, "images" if conv.has(step, "images") else "image", ("image",))
    if not conv.has(step, "boxes"):
        raise Skip("SAM 2 without boxes segments everything; segment.sam2 takes the boxes of a detector", "boxes")
    boxes = conv.ref(step, "boxes", ("detections",))
    version = conv.take(step, "version", "hiera_large")
    params: dict[str, object] = {"checkpoint": _sam_file(conv, step, version)}
    if version in SAM_CONFIGS and version != "hiera_tiny":
        params["config"] = f"configs/sam2.1/sam2.1_hiera_{SAM_CONFIGS[version]}.yaml"
    if conv.has(step, "threshold"):
        params["mask_threshold"] = conv.param(step, "threshold", "number")
    if conv.has(step, "multimask_output"):
        params["multimask"] = conv.param(step, "multimask_output", "bool")
    node = conv.node(step, "segment.sam2", params, {"image": image, "detections": boxes})
    conv.provide(step, "predictions", Ref(f"{node}.detections", "detections"))
    conv.finish(step)


def _sam_file(conv: Conversion, step: Step, version: str) -> str:
    wanted = f"sam2/{version}"
    if wanted in conv.models:
        return conv.models[wanted]
    conv.errors.append(conv.definition.at(step, "version", f"SAM 2 '{version}' has no local checkpoint",
                                          f"give --model {wanted}=PATH (e.g. `segflow models fetch sam2.1-tiny`)"))
    return "MODEL"


def tracker(conv: Conversion, step: Step) -> None:
    """``byte_tracker`` (v1-v3) and ``trackers_bytetrack``: ``track.bytetrack``, one state per source."""
    detections = conv.ref(step, "detections", ("detections",))
    conv.take(step, "image")  # v3 reads the frame for its size only; segflow's frames carry it
    conv.take(step, "metadata")  # frame rate and time: segflow's frames carry their own
    params: dict[str, object] = {}
    for key, name, kind in (("track_activation_threshold", "track_activation_threshold", "number"),
                            ("lost_track_buffer", "lost_track_buffer", "integer"),
                            ("minimum_consecutive_frames", "minimum_consecutive_frames", "integer")):
        if conv.has(step, key):
            params[name] = conv.param(step, key, kind)
    if conv.has(step, "minimum_matching_threshold"):
        value = conv.take(step, "minimum_matching_threshold")
        if isinstance(value, (int, float)):
            params["minimum_iou"] = round(1.0 - float(value), 6)  # supervision: matching = 1 - IoU
        else:
            conv.leave(step, "minimum_matching_threshold", "an input here: segflow's minimum_iou is 1 - it")
    conv.take(step, "instances_cache_size")
    node = conv.node(step, "track.bytetrack", params, {"detections": detections})
    conv.provide(step, "tracked_detections", Ref(f"{node}.detections", "detections"))
    conv.finish(step)
