"""``transform.perspective``: an image and its detections warped onto a plane, seen from straight above.

A camera looking at a belt, a table or a road at an angle sees a rectangle as a
trapezoid: sizes and distances change across the frame. Four points of the
plane (the corners of the belt section, of a sheet, of a parking bay) and the
size of the rectangle they are in reality give a homography; the node warps
the frame into a ``width`` x ``height`` top-down view and maps the detections
into it -- masks warped (sub-pixel: linear interpolation, then half coverage),
boxes around the warped masks (or around the warped box corners for box-only
detections), and polygons (a zone) point by point. Detections that fall
wholly outside the view are dropped. Measure after the warp: at a known scale
of the view (``width`` px for the rectangle's real width) a fixed mm_per_px holds
everywhere on the plane. The homography is :func:`segflow.vision.scale.plane_homography`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np
from pydantic import Field, model_validator

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type, takes_node_value
from segflow.vision.scale import plane_homography


def quad_corners(points: Any) -> np.ndarray | None:
    """Four corners from ``points``: the points as given when there are four, else the polygon's 4 corners.

    A polygon of more points (a mask's outline) is simplified to the quadrilateral around
    it, ordered top-left, top-right, bottom-right, bottom-left; None when it has no four corners.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 4:
        return pts
    if len(pts) < 4:
        return None
    hull = cv2.convexHull(pts.astype(np.float32))
    perimeter = cv2.arcLength(hull, True)
    for fraction in (0.01, 0.02, 0.04, 0.08, 0.15):
        quad = cv2.approxPolyDP(hull, fraction * perimeter, True).reshape(-1, 2).astype(np.float64)
        if len(quad) == 4:
            s, d = quad.sum(axis=1), quad[:, 0] - quad[:, 1]
            return quad[[int(np.argmin(s)), int(np.argmax(d)), int(np.argmax(s)), int(np.argmin(d))]]
    return None


def is_convex(quad: np.ndarray) -> bool:
    """Whether the corners, in the order given, make a convex quadrilateral (no crossed edges)."""
    edges = np.roll(quad, -1, axis=0) - quad
    turns = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    return bool(np.all(turns > 0) or np.all(turns < 0))


class PerspectiveParams(Params):
    points: list[tuple[float, float]] = Field(
        description="Four [x, y] image points of the plane, in the order top-left, top-right, bottom-right, "
        "bottom-left of the view; or `$node.port` for a quadrilateral found per frame (a polygon of more points "
        "is reduced to its four corners).",
        json_schema_extra=takes_node_value("polygon"),
    )
    width: int = Field(ge=2, le=20_000, description="Width of the top-down view in pixels.")
    height: int = Field(ge=2, le=20_000, description="Height of the top-down view in pixels.")

    @model_validator(mode="after")
    def _a_plane(self) -> PerspectiveParams:
        quad = quad_corners(self.points)
        if quad is None:
            raise ValueError(f"points: need four corners, got {len(self.points)} points without four corners")
        if not is_convex(quad):
            raise ValueError("points: the four corners cross over or three lie on one line; give them in the order "
                             "top-left, top-right, bottom-right, bottom-left")
        return self

    def homography(self) -> np.ndarray:
        """Image pixels -> view pixels: the corners land on the centres of the view's corner pixels."""
        w, h = self.width - 1, self.height - 1
        found = plane_homography(quad_corners(self.points), [[0, 0], [w, 0], [w, h], [0, h]])
        assert found is not None  # a convex quadrilateral always fixes one
        return found


def warp_points(points: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(N, 2) points mapped by ``h``; points on or behind the horizon become NaN."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    mapped = np.column_stack([pts, np.ones(len(pts))]) @ h.T
    with np.errstate(divide="ignore", invalid="ignore"):
        out = mapped[:, :2] / mapped[:, 2:]
    out[mapped[:, 2] <= 1e-12] = np.nan
    return out


def warp_detections(detections: Any, h: np.ndarray, size: tuple[int, int]) -> Any:
    """The detections in the view of ``size`` (width, height): masks warped, boxes refitted, outsiders dropped."""
    width, height = size
    n = len(detections)
    xyxy = np.zeros((n, 4), dtype=np.float32)
    keep = np.zeros(n, dtype=bool)
    masks = None if detections.mask is None else np.zeros((n, height, width), dtype=bool)
    for i in range(n):
        if masks is not None:
            cover = cv2.warpPerspective(detections.mask[i].astype(np.uint8) * 255, h, size, flags=cv2.INTER_LINEAR)
            masks[i] = cover >= 128
            ys, xs = np.nonzero(masks[i])
            if len(xs):
                xyxy[i], keep[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), True
            continue
        x0, y0, x1, y1 = detections.xyxy[i]
        corners = warp_points(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), h)
        if np.isnan(corners).any():
            continue
        box = np.array([*corners.min(axis=0).clip(0, None), *corners.max(axis=0)])
        box[2], box[3] = min(box[2], width), min(box[3], height)
        if box[2] > box[0] and box[3] > box[1]:
            xyxy[i], keep[i] = box, True
    warped = dataclasses.replace(detections, xyxy=xyxy, mask=masks)
    return warped[keep] if not keep.all() else warped


def _is_point(value: Any) -> bool:
    return (isinstance(value, list | tuple | np.ndarray) and len(value) == 2
            and all(isinstance(v, int | float | np.number) for v in value))


def warp_polygons(value: Any, h: np.ndarray) -> Any:
    """A polygon [[x, y], ...] or a list of them, mapped point by point (same nesting)."""
    if not isinstance(value, list | tuple | np.ndarray) or len(value) == 0:
        raise ValueError(f"expected a polygon [[x, y], ...] or a list of them, got {type(value).__name__}")
    if all(_is_point(point) for point in value):
        return [[round(float(x), 2), round(float(y), 2)] for x, y in warp_points(np.asarray(value, np.float64), h)]
    return [warp_polygons(polygon, h) for polygon in value]


@node_type("transform.perspective")
class PerspectiveTransform(Node):
    """Warp the frame and its detections (masks, boxes, polygons) onto a plane: a top-down view of 4 points."""

    Params = PerspectiveParams
    params: PerspectiveParams
    inputs = {
        "image": Port(Kind.IMAGE, "The camera's frame."),
        "detections": Port(Kind.DETECTIONS, "Detections of the frame, to map into the view.", required=False),
        "polygons": Port(Kind.VALUE, "A polygon [[x, y], ...] or a list of them (a zone), to map into the view.",
                         required=False),
    }
    outputs = {
        "image": Port(Kind.IMAGE, "The top-down view, width x height.", traits=frozenset({"frame"})),
        "detections": Port(Kind.DETECTIONS, "The detections in the view (those wholly outside it dropped)."),
        "polygons": Port(Kind.VALUE, "The polygons in the view, nested as they came."),
    }

    def process(self, inputs: Inputs) -> dict[str, Any]:
        p = inputs.params or self.params
        frame = inputs["image"]
        h = p.homography()
        size = (p.width, p.height)
        out: dict[str, Any] = {"image": frame.with_pixels(cv2.warpPerspective(frame.pixels, h, size,
                                                                               flags=cv2.INTER_LINEAR))}
        detections = inputs.get("detections")
        if detections is not None:
            if detections.mask is not None and len(detections) and detections.mask.shape[1:] != frame.shape[:2]:
                raise NodeError(
                    f"transform.perspective '{self.node_id}': masks are {detections.mask.shape[1:]} but the image "
                    f"is {frame.shape[:2]}", hint="connect the image the detections were made on")
            out["detections"] = warp_detections(detections, h, size)
        if inputs.get("polygons") is not None:
            try:
                out["polygons"] = warp_polygons(inputs["polygons"], h)
            except ValueError as exc:
                raise NodeError(f"transform.perspective '{self.node_id}': polygons: {exc}",
                                hint="wire a polygon value, e.g. polygon.from_mask's polygon or polygons") from exc
        return out
