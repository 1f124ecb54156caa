"""Which Roboflow block becomes what: one table entry per block, and the reason for each that does not.

A block's type is ``roboflow_core/NAME@vN`` or an older alias (``ObjectDetectionModel``);
both are looked up by NAME. A block with no entry in ``BLOCKS`` is left out with
the reason ``ELSEWHERE`` gives (segflow does that job another way), or a general one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from segflow.tools.roboflow_import import blocks_analytics as analytics
from segflow.tools.roboflow_import import blocks_detections as det
from segflow.tools.roboflow_import import blocks_draw as draw
from segflow.tools.roboflow_import import blocks_models as models
from segflow.tools.roboflow_import import blocks_sinks as sinks
from segflow.tools.roboflow_import.context import Conversion
from segflow.tools.roboflow_import.definition import Step

Mapper = Callable[[Conversion, Step], None]

BLOCKS: dict[str, Mapper] = {
    "roboflow_object_detection_model": models.detector,
    "roboflow_instance_segmentation_model": models.detector,
    "roboflow_classification_model": models.classifier,
    "segment_anything": models.sam,
    "byte_tracker": models.tracker,
    "trackers_bytetrack": models.tracker,
    "detections_filter": det.detections_filter,
    "detections_transformation": det.detections_filter,
    "dynamic_crop": det.crop,
    "image_slicer": det.slicer,
    "detections_stitch": det.stitch,
    "detections_classes_replacement": det.classes_replacement,
    "dynamic_zone": det.dynamic_zone,
    "line_counter": det.line_counter,
    "mask_area_measurement": det.mask_area,
    "continue_if": det.continue_if,
    "time_in_zone": analytics.time_in_zone,
    "detections_consensus": analytics.consensus,
    "detections_merge": analytics.union,
    "dominant_color": analytics.dominant_colour,
    "perspective_correction": analytics.perspective,
    "expression": analytics.expression,
    "property_definition": det.image_encoding,
    "bounding_box_visualization": draw.boxes,
    "mask_visualization": draw.masks,
    "trace_visualization": draw.traces,
    "label_visualization": draw.labels,
    "polygon_visualization": draw.polygons,
    "line_counter_visualization": draw.line_zone,
    "polygon_zone_visualization": draw.polygon_zone,
    "data_aggregator": sinks.aggregator,
    "csv_formatter": sinks.csv_formatter,
    "local_file_sink": sinks.local_file,
    "email_notification": sinks.email,
    "webhook_sink": sinks.webhook,
}

ELSEWHERE: dict[str, str] = {
    "bounding_rect": "each mask's minimum-area rectangle: measure.masks gives its length, width and angle_deg "
                     "(not its corner points)",
    "dimension_collapse": "segflow keeps a frame's results together; there is no batch dimension to collapse",
    "roboflow_dataset_upload": "uploads to the Roboflow platform (sink.dataset collects frames locally)",
    "roboflow_multi_label_classification_model": "classify.yolo gives single-label top-k classes",
    "roboflow_keypoint_detection_model": "segflow has no keypoint models",
    "per_class_confidence_filter": "filter.detections takes one condition per class instead "
                                   "(`class == a and confidence > 0.5 or ...`)",
}

ALIASES = {
    "ObjectDetectionModel": "roboflow_object_detection_model",
    "RoboflowObjectDetectionModel": "roboflow_object_detection_model",
    "InstanceSegmentationModel": "roboflow_instance_segmentation_model",
    "RoboflowInstanceSegmentationModel": "roboflow_instance_segmentation_model",
    "ClassificationModel": "roboflow_classification_model",
    "RoboflowClassificationModel": "roboflow_classification_model",
    "MultiLabelClassificationModel": "roboflow_multi_label_classification_model",
    "KeypointsDetectionModel": "roboflow_keypoint_detection_model",
    "Crop": "dynamic_crop", "DynamicCrop": "dynamic_crop",
    "ContinueIf": "continue_if",
    "DetectionsConsensus": "detections_consensus",
    "DetectionsTransformation": "detections_transformation",
    "DetectionsFilter": "detections_filter",
    "DetectionsClassesReplacement": "detections_classes_replacement",
    "DetectionsStitch": "detections_stitch",
    "DynamicZone": "dynamic_zone",
    "PerspectiveCorrection": "perspective_correction",
    "Expression": "expression",
    "PropertyDefinition": "property_definition",
    "DimensionCollapse": "dimension_collapse",
}
VERSIONED = re.compile(r"^(?:[a-z_]+/)?([A-Za-z0-9_]+?)(?:@v\d+)?$")


def block_name(type_: str) -> str:
    """``roboflow_core/line_counter@v2`` -> ``line_counter``; an alias -> the block it names."""
    if type_ in ALIASES:
        return ALIASES[type_]
    match = VERSIONED.match(type_)
    return match.group(1) if match else type_


def lookup(type_: str) -> tuple[Mapper | None, str]:
    """The mapper for a block type, or None and why it is left out."""
    name = block_name(type_)
    if name in BLOCKS:
        return BLOCKS[name], ""
    if name in ELSEWHERE:
        return None, ELSEWHERE[name]
    if "vlm" in name or name in ("open_ai", "anthropic_claude", "google_gemini", "florence_2", "clip"):
        return None, "a hosted or foundation model: segflow runs local YOLO, SAM 2 and classifier models"
    return None, "segflow has no node for this block"
