"""Port kinds: what may travel along an edge.

Kinds are names, not Python types, so that the engine can type-check a graph
without importing supervision or numpy-heavy code.
"""

from __future__ import annotations

from enum import Enum


class Kind(str, Enum):
    """The kind of value a port carries.

    ``image`` is an :class:`segflow.engine.frame.Frame`; ``detections`` a
    ``supervision.Detections``; ``crops`` a :class:`segflow.engine.crops.Crops`
    (regions of one frame for a second model); ``value`` any JSON-able value.
    """

    IMAGE = "image"
    DETECTIONS = "detections"
    CROPS = "crops"
    VALUE = "value"

    def __str__(self) -> str:
        return self.value
