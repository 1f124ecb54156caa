"""The image on the wire, and the identity of the packet it belongs to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PacketInfo:
    """Which frame of which source a packet is: what sinks log beside results.

    ``file`` is the file the frame was read from when a source reads one file
    per frame (``source.image``), so the records of a folder of images name
    their images; empty for cameras and videos.
    """

    source_id: str
    frame_index: int
    timestamp: float
    workflow_name: str = ""
    file: str = ""

    @property
    def workflow(self) -> str:
        """The old name of ``workflow_name`` (it held the name, never the workflow): kept for plugins."""
        return self.workflow_name

    @classmethod
    def of(cls, source_id: str, frame: Frame, workflow_name: str) -> PacketInfo:
        """The packet of a frame a source produced (the source's ``path`` meta becomes ``file``)."""
        return cls(source_id, frame.index, frame.timestamp, workflow_name, str(frame.meta.get("path", "")))


@dataclass(frozen=True)
class Frame:
    """A frame: BGR pixels (as OpenCV gives them) plus where and when it came from.

    Nodes that change the pixels return a new ``Frame`` via :meth:`with_pixels`
    so the provenance travels with the image.
    """

    pixels: Any
    source_id: str
    index: int
    timestamp: float
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.pixels.shape)

    def with_pixels(self, pixels: Any) -> Frame:
        return Frame(pixels, self.source_id, self.index, self.timestamp, dict(self.meta))
