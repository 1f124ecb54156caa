"""``detect.threshold``: a weight-free detector for backlit or high-contrast scenes.

Pick a channel, threshold it (fixed, Otsu or adaptive), clean the binary image
with morphology, fill holes, and turn each connected component whose area is
within limits into one detection with its mask. No model, no GPU: the
classical answer when objects stand out from a plain background.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np
from pydantic import Field, model_validator

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type

if TYPE_CHECKING:  # supervision costs ~0.8 s to import: only nodes that run pay it
    import supervision as sv

Channel = Literal["gray", "b", "g", "r", "h", "s", "v", "l", "a"]

# (colour conversion, channel index); None means the BGR image itself.
_CHANNELS: dict[str, tuple[int | None, int]] = {
    "b": (None, 0),
    "g": (None, 1),
    "r": (None, 2),
    "h": (cv2.COLOR_BGR2HSV_FULL, 0),
    "s": (cv2.COLOR_BGR2HSV_FULL, 1),
    "v": (cv2.COLOR_BGR2HSV_FULL, 2),
    "l": (cv2.COLOR_BGR2Lab, 0),
    "a": (cv2.COLOR_BGR2Lab, 1),
}


class ThresholdParams(Params):
    channel: Channel = Field(
        "gray",
        description="Image channel to threshold: gray, b/g/r, h/s/v (HSV, 0-255) or l/a (Lab).",
    )
    blur: int = Field(
        0, ge=0, le=51, description="Gaussian blur kernel size before thresholding (0: none)."
    )
    method: Literal["fixed", "otsu", "adaptive"] = Field(
        "otsu",
        description="fixed: `threshold`; otsu: automatic global level; adaptive: local mean "
        "over `block_size` minus `offset` (uneven lighting).",
    )
    threshold: int = Field(128, ge=0, le=255, description="Level for method fixed.")
    block_size: int = Field(
        51, ge=3, le=1001, description="Neighbourhood size for method adaptive (odd)."
    )
    offset: float = Field(
        0.0, ge=-255, le=255, description="Subtracted from the local mean (method adaptive)."
    )
    invert: bool = Field(
        False, description="Objects are darker than the background (select below the level)."
    )
    open_kernel: int = Field(
        0, ge=0, le=101, description="Morphological opening kernel (removes specks); 0: none."
    )
    close_kernel: int = Field(
        0, ge=0, le=101, description="Morphological closing kernel (bridges gaps); 0: none."
    )
    fill_holes: bool = Field(True, description="Fill holes inside each object.")
    clear_border: bool = Field(False, description="Drop objects touching the image border.")
    min_area: int = Field(0, ge=0, description="Smallest object area in pixels.")
    max_area: int | None = Field(None, ge=1, description="Largest object area in pixels.")
    class_name: str = Field("object", min_length=1, description="Class name of every detection.")

    @model_validator(mode="after")
    def _consistent(self) -> ThresholdParams:
        if self.block_size % 2 == 0:
            raise ValueError(f"block_size must be odd, got {self.block_size}")
        if self.blur and self.blur % 2 == 0:
            raise ValueError(f"blur must be odd (or 0), got {self.blur}")
        if self.max_area is not None and self.max_area < self.min_area:
            raise ValueError(f"max_area ({self.max_area}) is below min_area ({self.min_area})")
        return self


def select_channel(image: np.ndarray, channel: str) -> np.ndarray:
    """One 8-bit channel of a BGR (or already gray) image."""
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        if channel != "gray":
            raise ValueError(f"channel {channel!r} needs a colour image, this one is grayscale")
        return image.reshape(image.shape[:2])
    bgr = image[:, :, :3]
    if channel == "gray":
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    conversion, index = _CHANNELS[channel]
    converted = bgr if conversion is None else cv2.cvtColor(bgr, conversion)
    return np.ascontiguousarray(converted[:, :, index])


def binarize(channel: np.ndarray, p: ThresholdParams) -> np.ndarray:
    """Foreground (uint8 0/1) after blur, threshold and morphology."""
    if p.blur:
        channel = cv2.GaussianBlur(channel, (p.blur, p.blur), 0)
    mode = cv2.THRESH_BINARY_INV if p.invert else cv2.THRESH_BINARY
    if p.method == "adaptive":
        binary = cv2.adaptiveThreshold(
            channel, 1, cv2.ADAPTIVE_THRESH_MEAN_C, mode, p.block_size, p.offset
        )
    else:
        flags = mode | (cv2.THRESH_OTSU if p.method == "otsu" else 0)
        _, binary = cv2.threshold(channel, p.threshold, 1, flags)
    if p.open_kernel:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (p.open_kernel, p.open_kernel))
        binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel)
    if p.close_kernel:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (p.close_kernel, p.close_kernel))
        binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel)
    if p.fill_holes:
        binary = fill_holes(binary)
    return binary


def fill_holes(binary: np.ndarray) -> np.ndarray:
    """Set every background pixel not reachable from the image border."""
    padded = np.pad(binary.astype(np.uint8), 1)
    outside = padded.copy()
    cv2.floodFill(outside, None, (0, 0), 1)
    holes = outside[1:-1, 1:-1] == 0
    return (binary.astype(bool) | holes).astype(np.uint8)


def components_to_detections(binary: np.ndarray, p: ThresholdParams) -> sv.Detections:
    """One detection per 8-connected component within the area limits."""
    import supervision as sv

    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    h, w = binary.shape
    accepted = []
    for label in range(1, count):
        x, y, bw, bh, area = (int(v) for v in stats[label])
        if area < p.min_area or (p.max_area is not None and area > p.max_area):
            continue
        if p.clear_border and (x == 0 or y == 0 or x + bw == w or y + bh == h):
            continue
        accepted.append(label)
    if not accepted:
        return sv.Detections.empty()
    n = len(accepted)
    x, y, bw, bh = stats[accepted, :4].astype(np.float64).T
    xyxy = np.column_stack([x, y, x + bw, y + bh])  # pixel-edge box: pixels x .. x+bw-1
    masks = labels[None, :, :] == np.asarray(accepted)[:, None, None]
    return sv.Detections(
        xyxy=xyxy,
        mask=masks,
        confidence=np.ones(n),
        class_id=np.zeros(n, dtype=int),
        data={"class_name": np.array([p.class_name] * n)},
    )


@node_type("detect.threshold")
class ThresholdDetector(Node):
    """Classical detector: threshold a channel, clean up, one detection per blob."""

    Params = ThresholdParams
    params: ThresholdParams
    inputs = {"image": Port(Kind.IMAGE, "The frame to segment.")}
    outputs = {
        "detections": Port(Kind.DETECTIONS, "One detection with mask per connected component.")
    }

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset({"class_name"})

    def process(self, inputs: Inputs) -> dict[str, Any]:
        pixels = inputs["image"].pixels
        if pixels.dtype != np.uint8:
            raise NodeError(
                f"detect.threshold '{self.node_id}': expects 8-bit images, got {pixels.dtype}",
                hint="convert the source's frames to 8 bits",
            )
        try:
            channel = select_channel(pixels, self.params.channel)
        except ValueError as exc:
            raise NodeError(
                f"detect.threshold '{self.node_id}': {exc}", hint="use channel: gray"
            ) from exc
        binary = binarize(channel, self.params)
        return {"detections": components_to_detections(binary, self.params)}
