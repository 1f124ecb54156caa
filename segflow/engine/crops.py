"""Crops on the wire: regions cut from one frame, each knowing where it came from.

A second-stage model (classify each part, segment inside its box, detect small
things in tiles) runs on crops rather than frames. A crop keeps its place and
scale in the frame and the index of the detection it was cut around, so a
stitch node can map a model's results back to frame coordinates and to the
parent detection. The engine treats a ``Crops`` value as one packet's payload;
model nodes batch the crops of many packets together by crop count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from segflow.engine.frame import Frame

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Classification:
    """What a classifier says about one image or crop: the top class and the runners-up."""

    class_id: int
    class_name: str
    confidence: float
    top: tuple[tuple[str, float], ...] = ()  # (class_name, confidence), best first


@dataclass(frozen=True)
class Crop:
    """One region of a frame, as a second model sees it.

    ``box`` is the region in frame pixels (x0, y0, x1, y1; padding included,
    clipped to the frame). A crop resized to a fixed size keeps the ratio in
    ``scale`` (crop pixels per frame pixel, x and y) and any letterbox border
    in ``pad`` (crop pixels left and top), so :meth:`to_frame` is exact.
    ``result`` is empty until a model node fills it: ``supervision.Detections``
    in crop pixels, or a :class:`Classification`.
    """

    pixels: Any
    box: Box
    scale: tuple[float, float] = (1.0, 1.0)
    pad: tuple[float, float] = (0.0, 0.0)
    parent: int | None = None  # index into Crops.parents; None for a tile
    result: Any = None

    def to_frame(self, xy: Any) -> Any:
        """Crop coordinates (an (N, 2) array or anything numpy-like) -> frame coordinates."""
        import numpy as np

        points = np.asarray(xy, dtype=float)
        out = points.copy()
        out[..., 0] = self.box[0] + (points[..., 0] - self.pad[0]) / self.scale[0]
        out[..., 1] = self.box[1] + (points[..., 1] - self.pad[1]) / self.scale[1]
        return out

    def from_frame(self, xy: Any) -> Any:
        """Frame coordinates -> crop coordinates: the inverse of :meth:`to_frame`."""
        import numpy as np

        points = np.asarray(xy, dtype=float)
        out = points.copy()
        out[..., 0] = (points[..., 0] - self.box[0]) * self.scale[0] + self.pad[0]
        out[..., 1] = (points[..., 1] - self.box[1]) * self.scale[1] + self.pad[1]
        return out

    def with_result(self, result: Any) -> Crop:
        return replace(self, result=result)


@dataclass(frozen=True)
class Crops:
    """All the crops of one packet (port kind ``crops``).

    ``frame`` is the frame they were cut from (its pixels are shared, not
    copied): stitching needs its size and provenance, drawing its pixels.
    ``parents`` holds the detections the crops were cut around (``Crop.parent``
    indexes it), or None when the crops are tiles.
    """

    frame: Frame
    items: tuple[Crop, ...]
    parents: Any = None

    def __len__(self) -> int:
        return len(self.items)

    def with_results(self, results: Sequence[Any]) -> Crops:
        """The same crops, each carrying its model result (one per crop, in order)."""
        if len(results) != len(self.items):
            raise ValueError(f"{len(results)} results for {len(self.items)} crops")
        return replace(self, items=tuple(c.with_result(r) for c, r in zip(self.items, results, strict=True)))
