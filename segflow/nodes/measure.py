"""``measure.masks``: size and shape of every mask, in pixels and (given a scale) millimetres.

The maths lives in :mod:`segflow.nodes.mask_geometry`; this module turns a workflow's
scale setting (a fixed ``mm_per_px``, a reference object of known size, or an
ArUco marker) into a per-frame millimetres-per-pixel figure and writes
unit-suffixed fields (``length_px``, ``length_mm``, ``area_mm2``) into the
detections' ``data``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type
from segflow.nodes.mask_geometry import MaskMeasurements, measure_mask

LENGTHS = (
    "perimeter",
    "length",
    "width",
    "feret_max",
    "feret_min",
    "equivalent_diameter",
    "circle_diameter",
    "skeleton_length",
    "mean_width",
)
UNITLESS = ("angle_deg", "circularity")


class FixedScale(Params):
    mode: Literal["fixed"] = Field(description="A known, constant scale.")
    mm_per_px: float = Field(gt=0, description="Millimetres per pixel.")


class ReferenceScale(Params):
    mode: Literal["reference"] = Field(description="Scale from an object of known size.")
    class_name: str = Field(description="Class name of the reference object (e.g. coin).")
    size_mm: float = Field(gt=0, description="Its true size in millimetres.")
    dimension: Literal["feret_max", "circle_diameter"] = Field(
        "feret_max",
        description="Which measurement of the reference equals size_mm: its largest caliper "
        "diameter, or the diameter of the circle fitted to its outline.",
    )
    if_missing: Literal["error", "pixels_only"] = Field(
        "error",
        description="A frame without the reference: fail that frame, or give pixel fields only "
        "(millimetre fields become NaN).",
    )


class ArucoScale(Params):
    mode: Literal["aruco"] = Field(description="Scale from an ArUco marker of known side.")
    dictionary: str = Field("DICT_4X4_50", description="OpenCV ArUco dictionary name.")
    marker_mm: float = Field(gt=0, description="Side of the marker's black square in millimetres.")
    marker_id: int | None = Field(None, ge=0, description="Use only this marker id (any if unset).")
    if_missing: Literal["error", "pixels_only"] = Field(
        "error",
        description="A frame without the marker: fail that frame, or give pixel fields only.",
    )

    @field_validator("dictionary")
    @classmethod
    def _known_dictionary(cls, value: str) -> str:
        if not value.startswith("DICT_") or not hasattr(cv2.aruco, value):
            known = sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_"))
            raise ValueError(f"unknown ArUco dictionary {value!r}; one of: {', '.join(known)}")
        return value


Scale = Annotated[FixedScale | ReferenceScale | ArucoScale, Field(discriminator="mode")]


class MeasureParams(Params):
    scale: Scale | None = Field(
        None,
        description="How to convert pixels to millimetres; unset gives pixel fields only.",
    )
    skeleton: bool = Field(
        True,
        description="Also measure skeleton length and mean width (area / skeleton length, "
        "corrected for the ends), for thin objects such as cracks.",
    )
    edges: Literal["image", "mask"] = Field(
        "image",
        description="image: when the image input is connected, place edges and area from its grey "
        "levels along each mask's boundary (sub-pixel); mask: from the mask's pixel edges alone.",
    )


def measurement_fields(m: MaskMeasurements, mm_per_px: float | None) -> dict[str, float]:
    """Flatten one mask's measurements into unit-suffixed fields."""
    fields: dict[str, float] = {"area_px": m.area}
    for name in LENGTHS:
        fields[f"{name}_px"] = getattr(m, name)
    for name in UNITLESS:
        fields[name] = getattr(m, name)
    if mm_per_px is not None:
        scale = mm_per_px if math.isfinite(mm_per_px) else float("nan")
        fields["area_mm2"] = m.area * scale * scale
        for name in LENGTHS:
            fields[f"{name}_mm"] = getattr(m, name) * scale
        fields["mm_per_px"] = scale
    return fields


def aruco_mm_per_px(image: np.ndarray, scale: ArucoScale) -> float | None:
    """Millimetres per pixel from the mean side of the detected marker, or None."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, scale.dictionary))
    parameters = cv2.aruco.DetectorParameters()
    parameters.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    corners, ids, _ = cv2.aruco.ArucoDetector(dictionary, parameters).detectMarkers(gray)
    if ids is None:
        return None
    sides = []
    for quad, marker_id in zip(corners, ids.ravel(), strict=True):
        if scale.marker_id is not None and int(marker_id) != scale.marker_id:
            continue
        q = quad.reshape(4, 2).astype(np.float64)
        sides.append(np.hypot(*(np.roll(q, -1, axis=0) - q).T).mean())
    if not sides:
        return None
    # Corners lie on the marker's outer edge; the pixel grid's half-pixel offset is
    # below the refinement's accuracy, so no correction is applied.
    return scale.marker_mm / float(np.median(sides))


@node_type("measure.masks")
class MeasureMasks(Node):
    """Measure every mask: area, lengths, Feret diameters, skeleton; in px and mm."""

    Params = MeasureParams
    params: MeasureParams
    inputs = {
        "detections": Port(Kind.DETECTIONS, "Detections with masks."),
        "image": Port(
            Kind.IMAGE,
            "The frame: sub-pixel edges from its grey levels (edges: image); needed for scale mode aruco.",
            required=False,
        ),
    }
    outputs = {"detections": Port(Kind.DETECTIONS, "The same detections with measurement fields.")}

    def process(self, inputs: Inputs) -> dict[str, Any]:
        detections = inputs["detections"]
        n = len(detections)
        if n and detections.mask is None:
            raise NodeError(
                f"measure.masks '{self.node_id}': the detections have boxes but no masks",
                hint="put a segmenter before it (segment.grabcut, segment.sam2) "
                "or use a segmentation model in detect.yolo",
            )
        gray = self._gray(inputs) if n else None
        measured = [measure_mask(detections.mask[i], self.params.skeleton, gray) for i in range(n)]
        mm_per_px = self._mm_per_px(inputs, detections, measured)
        rows = [measurement_fields(m, mm_per_px) for m in measured]
        keys = list(measurement_fields(MaskMeasurements.empty(), mm_per_px))
        data = dict(detections.data)  # a new dict: other branches may share the input
        for key in keys:
            data[key] = np.array([row[key] for row in rows], dtype=np.float64)
        return {"detections": dataclasses.replace(detections, data=data)}

    def _gray(self, inputs: Inputs) -> np.ndarray | None:
        frame = inputs.get("image")
        if frame is None or self.params.edges == "mask":
            return None
        pixels = frame.pixels
        return pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)

    def _mm_per_px(
        self, inputs: Inputs, detections: Any, measured: list[MaskMeasurements]
    ) -> float | None:
        scale = self.params.scale
        if scale is None:
            return None
        if isinstance(scale, FixedScale):
            return scale.mm_per_px
        if isinstance(scale, ReferenceScale):
            names = detections.data.get("class_name")
            sizes = [
                getattr(m, scale.dimension)
                for m, name in zip(measured, names if names is not None else [], strict=False)
                if name == scale.class_name and getattr(m, scale.dimension) > 0
            ]
            found = scale.size_mm / float(np.median(sizes)) if sizes else None
            what = f"no '{scale.class_name}' reference object in this frame"
        else:
            frame = inputs.get("image")
            if frame is None:
                raise NodeError(
                    f"measure.masks '{self.node_id}': scale mode aruco needs the image input",
                    hint="connect `image: <source>.image` in the node's inputs",
                )
            found = aruco_mm_per_px(frame.pixels, scale)
            what = f"no {scale.dictionary} ArUco marker in this frame"
        if found is not None:
            return found
        if scale.if_missing == "pixels_only":
            return float("nan")
        raise NodeError(
            f"measure.masks '{self.node_id}': {what}, so pixels cannot be converted to mm",
            hint="set scale.if_missing: pixels_only to keep pixel fields for such frames",
        )
