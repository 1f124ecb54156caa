"""``sink.images``: frames and/or detection crops to a folder, e.g. the next round of training data.

Frames are saved whole (optionally annotated); crops are cut around each
detection's box with its mask as the PNG's alpha channel, so the object can
be pasted onto new backgrounds. Every file is written to a temporary name and
renamed, so a crash never leaves a half image under the final name. Use
``only_when`` to keep only what matters (``class == stone``, ``count > 3``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from segflow.delivery.common import FileParams, sink_error, writable_problems
from segflow.delivery.gate import GatedSink
from segflow.engine import Inputs, Kind, NodeError, Port, node_type
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.paths import write_atomic
from segflow.engine.text import check_template, path_part
from segflow.engine.workflow.confine import writes_path
from segflow.vision.drawing import Painter, Style

NAME_FIELDS = {"source": "s", "frame": 1, "run": "r", "workflow": "w", "node": "n"}  # one value of each type


class ImagesParams(FileParams):
    folder: str = Field("out/images", description="Folder to write into (created when missing).",
                        json_schema_extra=writes_path())
    save: Literal["frames", "crops", "both"] = Field(
        "frames",
        description="Whole frames, crops of each detection (PNG with mask alpha), or both.",
    )
    name: str = Field(
        "{source}/{run}_{frame:06d}",
        description="File name without extension; `{source}`, `{frame}`, `{run}` (the run's id), "
        "`{workflow}`, `{node}` are filled in. Crops add `_<index>_<class>`.",
    )
    format: Literal["jpg", "png"] = Field("jpg", description="Format of whole frames (crops are always PNG).")
    jpeg_quality: int = Field(92, ge=1, le=100, description="JPEG quality of whole frames.")
    annotate: bool = Field(False, description="Draw masks, boxes and labels on whole frames "
                           "(as annotate.detections draws them by default).")
    padding_px: int = Field(4, ge=0, le=1000, description="Margin around each crop's box.")
    min_crop_px: int = Field(4, ge=1, description="Skip crops whose box is smaller than this on a side.")

    @field_validator("name")
    @classmethod
    def _name_fields(cls, name: str) -> str:
        return check_template(name, "name", NAME_FIELDS)


def crop_with_alpha(pixels: np.ndarray, box: np.ndarray, mask: np.ndarray | None, pad: int) -> np.ndarray:
    """BGRA crop around ``box``; alpha is the mask (opaque where there is no mask)."""
    h, w = pixels.shape[:2]
    x1, y1, x2, y2 = box
    x1, y1 = max(0, int(np.floor(x1)) - pad), max(0, int(np.floor(y1)) - pad)
    # the pixel holding x2 is inside: right for float boxes and for inclusive mask boxes
    x2, y2 = min(w, int(np.floor(x2)) + 1 + pad), min(h, int(np.floor(y2)) + 1 + pad)
    bgr = pixels[y1:y2, x1:x2]
    if bgr.ndim == 2:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    if mask is not None and mask.shape == (h, w):
        alpha = mask[y1:y2, x1:x2].astype(np.uint8) * 255
    else:
        alpha = np.full(bgr.shape[:2], 255, np.uint8)
    return np.dstack([bgr, alpha])


def encode(image: np.ndarray, ext: str, quality: int = 92) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, data = cv2.imencode(ext, image, params)
    if not ok:
        raise OSError(f"OpenCV could not encode a {image.shape} image as {ext}")
    return data.tobytes()


@node_type("sink.images")
class ImagesSink(GatedSink):
    """Save frames and/or mask-cut crops (PNG alpha) to a folder, when a condition holds."""

    Params = ImagesParams
    params: ImagesParams
    inputs = {
        "image": Port(Kind.IMAGE, "The frames to save or crop from."),
        "detections": Port(Kind.DETECTIONS, "Findings to crop or draw.", required=False),
    }

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        return writable_problems(context.resolve(params.folder), "folder", params.min_free_mb, folder=True)

    def setup(self) -> None:
        super().setup()
        self.folder = self.context.resolve(self.params.folder)
        self.painter = Painter(Style()) if self.params.annotate else None
        self.written = 0

    def process(self, inputs: Inputs) -> dict[str, Any]:
        findings = self.admitted(inputs)
        if findings is None:
            return {}
        frame, detections, packet = inputs["image"], findings.detections, findings.packet
        p = self.params
        base = self.folder / p.name.format(
            source=path_part(packet.source_id),
            frame=packet.frame_index,
            run=self.context.run_id,
            workflow=path_part(self.context.workflow_name, "workflow"),
            node=self.node_id,
        )
        try:
            if p.save in ("frames", "both"):
                pixels = self.painter.draw(frame.pixels, detections, packet.source_id) if self.painter else frame.pixels
                ext = "." + p.format
                write_atomic(base.with_name(base.name + ext), encode(pixels, ext, p.jpeg_quality))
                self.written += 1
            if p.save in ("crops", "both") and detections is not None and len(detections):
                self._crops(base, frame.pixels, detections, findings.classes)
        except NodeError:
            raise
        except Exception as exc:
            raise sink_error(self, f"cannot save images of frame {packet.frame_index} in {self.folder}", exc) from exc
        return {}

    def _crops(self, base: Path, pixels: np.ndarray, detections: Any, names: list[str]) -> None:
        p = self.params
        for i, box in enumerate(detections.xyxy):
            if min(box[2] - box[0], box[3] - box[1]) < p.min_crop_px:
                continue
            mask = detections.mask[i] if detections.mask is not None else None
            crop = crop_with_alpha(pixels, box, mask, p.padding_px)
            label = "".join(c if c.isalnum() or c in "-_" else "_" for c in names[i]) or "object"
            write_atomic(base.with_name(f"{base.name}_{i:03d}_{label}.png"), encode(crop, ".png"))
            self.written += 1
