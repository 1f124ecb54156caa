"""``measure.masks``: size and shape of every mask, in pixels and (given a scale) millimetres.

The maths lives in :mod:`segflow.vision.mask_geometry` (pixels, or a tilted
camera's plane); the scale modes in
:mod:`segflow.vision.scale`. This module picks the frame's scale and
writes unit-suffixed fields (``length_px``, ``length_mm``, ``area_mm2``) and
each millimetre figure's standard uncertainty (``length_mm_u``) into the
detections' ``data``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type
from segflow.vision.edge_workers import EdgeWorkers, available_cores
from segflow.vision.lens_blur import median_with_u
from segflow.vision.mask_geometry import MaskMeasurements, measure, pixel_size
from segflow.vision.outline import Outline, edge_job, locate
from segflow.vision.scale import (
    MISSING,
    FixedScale,
    PlaneScale,
    ReferenceScale,
    Scale,
    ScaleEstimate,
    aruco_estimate,
    plane_homography,
    plane_rel_u,
    reference_estimate,
)

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
MIN_SHARED = 3  # thin objects whose blurs make a frame's blur when it has no larger object to show it


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
    lens_blur_px: float | None = Field(
        None,
        gt=0,
        le=10,
        description="With edges: image, the lens's blur (Gaussian sigma, px) measured once on a calibration "
        "picture at the working distance (`segflow lens-blur`). Objects too thin or small to show their own blur "
        "use it instead of the blur the frame's larger objects show; a frame of thin objects alone (cracks) has "
        "none better. A stroke of 2-3 px is only as certain as the blur: 1 % in sigma is 4-9 % in its width.",
    )
    lens_blur_px_u: float = Field(
        0.0,
        ge=0,
        le=5,
        description="The standard uncertainty of lens_blur_px, px, as the calibration states it; "
        "it becomes part of every such object's uncertainty.",
    )
    shapes: bool = Field(
        True,
        description="With edges: image, also fit each object up to 40 px across as a whole shape (a triangle, "
        "a quadrilateral, an ellipse, a smooth closed curve) and keep it where it explains the picture better "
        "than the outline's sectors: corners and ends the lens blurred are placed again. Costs about 1 s "
        "per such object on a 2-core machine (0.1-1.7 s on the conveyor sample's stones, bench/measure_cost.py); "
        "false: sectors only (about 0.2 s); edges: mask takes about 2 ms.",
    )

    workers: int | Literal["auto"] = Field(
        1,
        description="With edges: image, fit this many objects' edges at once in worker processes (auto: one per "
        "core this process may use). On 2 cores a frame of 34 objects took 1.8x less time with 2 "
        "(bench/measure_cost.py); the workers take the cores a model or another node would use.",
    )

    @field_validator("workers")
    @classmethod
    def _some_workers(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 256:
            raise ValueError("workers is the number of processes fitting edges: 1 to 256, or auto")
        return value

    @model_validator(mode="after")
    def _blur_with_its_uncertainty(self) -> MeasureParams:
        if self.lens_blur_px is None and self.lens_blur_px_u > 0:
            raise ValueError("lens_blur_px_u is the uncertainty of lens_blur_px: set lens_blur_px too "
                             "(`segflow lens-blur card.png` prints both)")
        return self


def pixel_fields(m: MaskMeasurements) -> dict[str, float]:
    """One mask's measurements in pixels, plus the unitless ones."""
    fields: dict[str, float] = {"area_px": m.area}
    for name in LENGTHS:
        fields[f"{name}_px"] = getattr(m, name)
    for name in UNITLESS:
        fields[name] = getattr(m, name)
    return fields


def mm_fields(m: MaskMeasurements, mm_per_px: float, rel_u: float) -> dict[str, float]:
    """Millimetre fields and their standard uncertainties (docs/analysis-nodes.md, "Uncertainty").

    Each figure's own edge uncertainty (``m.u``, px: two edges for a length, the whole
    outline for an area or perimeter) is combined with the scale's relative
    uncertainty, which scales the whole figure.
    """
    s = mm_per_px if math.isfinite(mm_per_px) else float("nan")
    fields = {"area_mm2": m.area * s * s}
    fields["area_mm2_u"] = s * s * math.hypot(2 * m.area * rel_u, m.u.get("area", m.perimeter * m.edge_u))
    for name in LENGTHS:
        px = getattr(m, name)
        fields[f"{name}_mm"] = px * s
        fields[f"{name}_mm_u"] = s * math.hypot(px * rel_u, m.u.get(name, math.sqrt(2) * m.edge_u))
    fields["mm_per_px"] = s
    fields["mm_per_px_u"] = s * rel_u
    return fields


def frame_blur(outlines: list[Outline | None]) -> tuple[float, float] | None:
    """The blur a frame's objects show by themselves, and its standard uncertainty; None if too few show it.

    Those with an interior, and thin ones (each one's blur trades with its width; the median
    of several does not). The uncertainty is the median's standard error, at least 2 %.
    """
    wide = [o.fit.sigma for o in outlines if o is not None and o.fit.plateau]
    thin = [o.fit.sigma for o in outlines if o is not None and o.fit.stroke is not None]
    blurs = wide + thin if wide or len(thin) >= MIN_SHARED else []
    if not blurs:
        return None
    blur, blur_u, _ = median_with_u(blurs, 0.02)
    return blur, blur_u


def _needs_frame_blur(outline: Outline, frame_blur: float) -> bool:
    fit = outline.fit
    return fit.method == "image" and (not fit.plateau or abs(fit.sigma - frame_blur) > 0.2 * frame_blur)


@node_type("measure.masks")
class MeasureMasks(Node):
    """Measure every mask: area, lengths, Feret diameters, skeleton; in px and mm, with uncertainty."""

    Params = MeasureParams
    params: MeasureParams
    inputs = {
        "detections": Port(Kind.DETECTIONS, "Detections with masks."),
        "image": Port(
            Kind.IMAGE,
            "The frame: sub-pixel edges from its grey levels (edges: image); needed for scale mode aruco. "
            "Left unwired, it is the frame the detections came from.",
            required=False,
            follow="detections",
        ),
    }
    outputs = {"detections": Port(Kind.DETECTIONS, "The same detections with measurement fields.")}

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        """Pixel fields always; millimetre fields (and their uncertainties) when a scale is set."""
        empty = MaskMeasurements.empty()
        return frozenset(pixel_fields(empty)) | frozenset(mm_fields(empty, 1.0, 0.0) if params.scale else ())

    def setup(self) -> None:
        workers = self.params.workers
        self._workers = EdgeWorkers(available_cores() if workers == "auto" else workers)
        scale = self.params.scale
        self._plane = None
        if isinstance(scale, PlaneScale):
            h = plane_homography(scale.points_px, scale.points_mm)
            self._plane = ScaleEstimate(float("nan"), plane_rel_u(scale, h), h)

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
        skeleton = self.params.skeleton
        outlines = self._locate(detections.mask, gray)
        measured = [measure(o, skeleton) if o is not None else MaskMeasurements.empty() for o in outlines]
        rows = [pixel_fields(m) for m in measured]
        keys = list(pixel_fields(MaskMeasurements.empty()))
        estimate = self._estimate(inputs, detections, measured)
        if estimate is not None:
            for i, row in enumerate(rows):
                if estimate.plane is not None:
                    outline = outlines[i]
                    on_plane = measure(outline, skeleton, estimate.plane) if outline else MaskMeasurements.empty()
                    row.update(mm_fields(on_plane, 1.0, estimate.rel_u))  # already in mm
                    ys, xs = np.nonzero(detections.mask[i])
                    pixel = pixel_size(estimate.plane, float(xs.mean()), float(ys.mean())) if len(xs) else math.nan
                    row.update(mm_per_px=pixel, mm_per_px_u=pixel * estimate.rel_u)  # a pixel here, on the plane
                else:
                    row.update(mm_fields(measured[i], estimate.mm_per_px, estimate.rel_u))
            keys += list(mm_fields(MaskMeasurements.empty(), 1.0, 0.0))
        data = dict(detections.data)  # a new dict: other branches may share the input
        for key in keys:
            data[key] = np.array([row[key] for row in rows], dtype=np.float64)
        data["edge_method"] = np.array([o.fit.method if o else "mask" for o in outlines], dtype=object)
        data["edge_fallback"] = np.array([o.fit.fallback if o else "empty mask" for o in outlines], dtype=object)
        data["edge_blur_px"] = np.array([o.fit.sigma if o else math.nan for o in outlines], dtype=np.float64)
        data["edge_shape"] = np.array([o.fit.shape if o else "" for o in outlines], dtype=object)
        masks = detections.mask
        if n and any(o is not None and o.fit.method == "image" for o in outlines):
            masks = np.stack([o.mask(masks.shape[1:]) if o is not None and o.fit.method == "image" else masks[i]
                              for i, o in enumerate(outlines)])
        return {"detections": dataclasses.replace(detections, mask=masks, data=data)}

    def _locate(self, masks: Any, gray: np.ndarray | None) -> list[Outline | None]:
        """Every object's outline; small and thin ones use the blur the frame's larger objects show."""
        if masks is None or not len(masks):
            return []
        if gray is None:
            reason = "edges: mask" if self.params.edges == "mask" else "no image input"
            return [locate(m, reason=reason) for m in masks]
        counts = masks.sum(axis=0)
        shapes = self.params.shapes
        outlines = self._workers.run([edge_job(m, gray, others=(counts - m) > 0, shapes=shapes) for m in masks])
        lens = self.params.lens_blur_px
        blur = (lens, self.params.lens_blur_px_u) if lens is not None else frame_blur(outlines)
        if blur is not None:
            # One lens, one blur: an object whose own blur is unsure, or far from the frame's
            # (a thin bar trading width for blur, a small blob collapsing into a wide haze), is
            # fitted again with the lens's calibrated blur, else the frame's.
            hint, hint_u = blur
            again = [i for i, o in enumerate(outlines) if o is not None and _needs_frame_blur(o, hint)]
            refits = self._workers.run([edge_job(masks[i], gray, hint, (counts - masks[i]) > 0, hint_u=hint_u,
                                                 shapes=shapes) for i in again])
            for i, refit in zip(again, refits, strict=True):
                outlines[i] = refit
        return outlines

    def close(self) -> None:
        workers = getattr(self, "_workers", None)  # None after a failed setup
        if workers is not None:
            workers.close()

    def _gray(self, inputs: Inputs) -> np.ndarray | None:
        """The frame's pixels for edges (grey or BGR: each object's edges use its clearest channel)."""
        frame = inputs.get("image")
        if frame is None or self.params.edges == "mask":
            return None
        return frame.pixels

    def _estimate(self, inputs: Inputs, detections: Any, measured: list[MaskMeasurements]) -> ScaleEstimate | None:
        scale = self.params.scale
        if scale is None:
            return None
        if isinstance(scale, FixedScale):
            return ScaleEstimate(scale.mm_per_px, scale.mm_per_px_u / scale.mm_per_px)
        if isinstance(scale, PlaneScale):
            return self._plane
        if isinstance(scale, ReferenceScale):
            names = detections.data.get("class_name")
            refs = [
                m
                for m, name in zip(measured, names if names is not None else [], strict=False)
                if name == scale.class_name and getattr(m, scale.dimension) > 0
            ]
            edge_u = max((m.edge_u for m in refs), default=0.0)
            found = reference_estimate([getattr(m, scale.dimension) for m in refs], edge_u, scale)
            what = f"no '{scale.class_name}' reference object in this frame"
        else:
            found = aruco_estimate(self._image(inputs), scale)
            what = f"no {scale.dictionary} ArUco marker in this frame"
        if found is not None:
            return found
        if scale.if_missing == "pixels_only":
            return MISSING
        raise NodeError(
            f"measure.masks '{self.node_id}': {what}, so pixels cannot be converted to mm",
            hint="set scale.if_missing: pixels_only to keep pixel fields for such frames",
        )

    def _image(self, inputs: Inputs) -> np.ndarray:
        frame = inputs.get("image")
        if frame is None:
            raise NodeError(
                f"measure.masks '{self.node_id}': scale mode aruco needs the image input",
                hint="connect `image: <source>.image` in the node's inputs",
            )
        return frame.pixels


