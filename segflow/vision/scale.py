"""How ``measure.masks`` turns pixels into millimetres: the scale modes and their uncertainty.

Each mode yields a :class:`ScaleEstimate` per frame: millimetres per pixel, the
relative standard uncertainty of that figure, and for a camera that does not
look straight down a plane homography (image pixels -> millimetres on the
measured plane) in place of one figure for the whole frame. The uncertainty
models are in docs/analysis-nodes.md ("Uncertainty").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Annotated, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator, model_validator

from segflow.engine import Params
from segflow.vision.mask_geometry import pixel_size

# Standard uncertainty of a sub-pixel refined ArUco corner, px: on anti-aliased renders of a 24 mm
# marker at 0-45 degrees of tilt the corners were off by 0.13 px RMS per axis (0.29 px at worst).
CORNER_U_PX = 0.15


@dataclass(frozen=True)
class ScaleEstimate:
    """One frame's scale: ``plane`` set means mm come from the homography, not ``mm_per_px``."""

    mm_per_px: float
    rel_u: float
    plane: np.ndarray | None = None


MISSING = ScaleEstimate(float("nan"), float("nan"))


class FixedScale(Params):
    mode: Literal["fixed"] = Field(description="A known, constant scale.")
    mm_per_px: float = Field(gt=0, description="Millimetres per pixel.")
    mm_per_px_u: float = Field(
        0.0, ge=0, description="Standard uncertainty of mm_per_px (from its calibration report); 0: exact."
    )


class ReferenceScale(Params):
    mode: Literal["reference"] = Field(description="Scale from an object of known size.")
    class_name: str = Field(description="Class name of the reference object (e.g. coin).")
    size_mm: float = Field(gt=0, description="Its true size in millimetres.")
    size_mm_u: float = Field(0.0, ge=0, description="Standard uncertainty of size_mm (its tolerance / sqrt 3).")
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
    plane: bool = Field(
        False,
        description="Take the plane's perspective from the marker's four corners (a tilted camera; "
        "the marker lies on the measured plane) instead of one scale from its mean side.",
    )
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


class PlaneScale(Params):
    mode: Literal["plane"] = Field(description="A tilted camera: points of known position on the measured plane.")
    points_px: list[tuple[float, float]] = Field(
        min_length=4, description="Four or more [x, y] image points (after undistortion, if any)."
    )
    points_mm: list[tuple[float, float]] = Field(
        min_length=4, description="The same points' [x, y] positions on the plane, in millimetres."
    )
    points_px_u: float = Field(0.5, ge=0, description="Standard uncertainty of each image point, px.")

    @model_validator(mode="after")
    def _paired(self) -> PlaneScale:
        if len(self.points_px) != len(self.points_mm):
            raise ValueError(
                f"points_px has {len(self.points_px)} points but points_mm has {len(self.points_mm)}: "
                "give each image point its plane position"
            )
        if plane_homography(self.points_px, self.points_mm) is None:
            raise ValueError("the points do not fix a plane: give four (or more) of which no three lie on one line")
        return self


Scale = Annotated[FixedScale | ReferenceScale | ArucoScale | PlaneScale, Field(discriminator="mode")]


def _collinear(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
    u, v = b - a, c - a
    return abs(u[0] * v[1] - u[1] * v[0]) < 1e-6 * max(1.0, float(u @ u + v @ v))


def plane_homography(points_px: object, points_mm: object) -> np.ndarray | None:
    """Least-squares homography image px -> plane mm, or None when the points are degenerate.

    A homography needs four points of which no three lie on one line; more points
    are fitted by least squares as long as some four of them are such a set.
    """
    src, dst = np.asarray(points_px, np.float64), np.asarray(points_mm, np.float64)
    if len(src) < 4:
        return None
    if not any(
        not any(_collinear(*src[list(triple)]) for triple in combinations(quad, 3))
        for quad in combinations(range(len(src)), 4)
    ):
        return None
    h, _ = cv2.findHomography(src, dst, 0)
    return None if h is None else h


def plane_rel_u(scale: PlaneScale, h: np.ndarray) -> float:
    """Relative scale uncertainty from the points' pick uncertainty and the fit's residuals."""
    src, dst = np.asarray(scale.points_px, np.float64), np.asarray(scale.points_mm, np.float64)
    mapped = cv2.perspectiveTransform(dst.reshape(-1, 1, 2), np.linalg.inv(h)).reshape(-1, 2)
    residual_sq = float(((mapped - src) ** 2).sum(axis=1).mean()) / 2 if len(src) > 4 else 0.0
    spread = float(np.sqrt(((src - src.mean(axis=0)) ** 2).sum(axis=1).mean()))
    return math.sqrt(2.0 * (scale.points_px_u**2 + residual_sq) / len(src)) / spread


def aruco_estimate(image: np.ndarray, scale: ArucoScale) -> ScaleEstimate | None:
    """The scale (or plane) from the detected marker(s), or None when there is none."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, scale.dictionary))
    parameters = cv2.aruco.DetectorParameters()
    parameters.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    corners, ids, _ = cv2.aruco.ArucoDetector(dictionary, parameters).detectMarkers(gray)
    if ids is None:
        return None
    quads = [
        q.reshape(4, 2).astype(np.float64)
        for q, marker_id in zip(corners, ids.ravel(), strict=True)
        if scale.marker_id is None or int(marker_id) == scale.marker_id
    ]
    if not quads:
        return None
    if scale.plane:
        m = scale.marker_mm
        h = cv2.getPerspectiveTransform(quads[0].astype(np.float32), np.float32([[0, 0], [m, 0], [m, m], [0, m]]))
        side = float(np.hypot(*(np.roll(quads[0], -1, axis=0) - quads[0]).T).mean())
        # Four corners fix the homography exactly: its scale is as uncertain as a side between two corners.
        return ScaleEstimate(pixel_size(h, *quads[0].mean(axis=0)), math.sqrt(2) * CORNER_U_PX / side, h)
    sides = np.concatenate([np.hypot(*(np.roll(q, -1, axis=0) - q).T) for q in quads])
    side = float(np.median(sides))
    # Corners lie on the marker's outer edge; each side is the difference of two corners, and the
    # spread of the sides (perspective, a bent marker) counts as well.
    var = (math.sqrt(2) * CORNER_U_PX) ** 2 / len(sides) + float(np.var(sides)) / len(sides)
    return ScaleEstimate(scale.marker_mm / side, math.sqrt(var) / side)


def reference_estimate(sizes_px: list[float], edge_u_px: float, scale: ReferenceScale) -> ScaleEstimate | None:
    """The scale from the reference objects' measured sizes (median), or None without one."""
    if not sizes_px:
        return None
    size = float(np.median(sizes_px))
    n = len(sizes_px)
    spread = float(np.var(sizes_px)) / n if n > 1 else 0.0
    measured = ((math.sqrt(2) * edge_u_px) ** 2 / n + spread) / size**2
    rel_u = math.sqrt(measured + (scale.size_mm_u / scale.size_mm) ** 2)
    return ScaleEstimate(scale.size_mm / size, rel_u)
