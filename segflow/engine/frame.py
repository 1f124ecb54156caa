"""The image on the wire, and the identity of the packet it belongs to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PacketInfo:
    """Which frame of which source a packet is: what sinks log beside results."""

    source_id: str
    frame_index: int
    timestamp: float
    workflow_name: str = ""

    @property
    def workflow(self) -> str:
        """The old name of ``workflow_name`` (it held the name, never the workflow): kept for plugins."""
        return self.workflow_name


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
