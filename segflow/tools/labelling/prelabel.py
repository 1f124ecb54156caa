"""Pre-labels: what the workflow's own detector or segmenter finds on a frame, as editable labels.

The frame goes through the workflow in an :class:`EditorSession` (models stay
loaded, sinks stay off), and the detections of the last detect/segment node
are taken, before trackers and filters that drop or wait on objects. Boxes
without masks get a GrabCut mask, so every pre-label is an outline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from segflow.engine.execution.session import EditorSession
from segflow.engine.workflow.graph import CompiledGraph
from segflow.vision.grabcut import grabcut_box, largest_part

FAMILIES = ("detect", "segment")


@dataclass
class PreLabel:
    mask: np.ndarray  # (H, W) bool
    class_name: str
    confidence: float | None
    node: str  # the node that found it


def labelling_node(graph: CompiledGraph) -> str | None:
    """The last detect/segment node with a detections output, in run order."""
    found = [n for n in graph.order
             if graph.nodes[n].cls.family() in FAMILIES and "detections" in graph.nodes[n].cls.outputs]
    return found[-1] if found else None


def detector_nodes(graph: CompiledGraph) -> list[str]:
    """Nodes whose ``model`` param a newly trained model can replace (detect.* with a model)."""
    return [n for n in graph.order
            if graph.nodes[n].cls.family() == "detect" and "model" in type(graph.nodes[n].params).model_fields]


def class_names(detections: Any) -> list[str]:
    data = getattr(detections, "data", None) or {}
    if "class_name" in data:
        return [str(n) for n in data["class_name"]]
    ids = detections.class_id if detections.class_id is not None else np.zeros(len(detections), int)
    return [f"class {int(i)}" for i in ids]


def to_prelabels(detections: Any, pixels: np.ndarray, node: str) -> list[PreLabel]:
    h, w = pixels.shape[:2]
    names = class_names(detections)
    out = []
    for i in range(len(detections)):
        if detections.mask is not None and detections.mask[i].shape == (h, w):
            mask = np.asarray(detections.mask[i], bool)
        else:
            mask = largest_part(grabcut_box(pixels, detections.xyxy[i], 5, 2, 0.25))
        if not mask.any():
            continue
        confidence = float(detections.confidence[i]) if detections.confidence is not None else None
        out.append(PreLabel(mask, names[i], confidence, node))
    return out


def prelabel(session: EditorSession, graph: CompiledGraph, pixels: np.ndarray, source_id: str | None = None,
             index: int = 0) -> tuple[list[PreLabel], str]:
    """Run the workflow on ``pixels``; the labelling node's detections and that node's id.

    Raises ``RuntimeError`` naming the node when it failed.
    """
    node = labelling_node(graph)
    if node is None:
        raise RuntimeError("the workflow has no detect.* or segment.* node to pre-label with")
    result = session.run_image(graph, pixels, source_id, index)
    if node in result.errors:
        raise RuntimeError(f"node '{node}' failed: {result.errors[node]}")
    detections = result.outputs.get(node, {}).get("detections")
    if detections is None:
        raise RuntimeError(f"node '{node}' gave no detections (did a node before it fail? {result.errors})")
    return to_prelabels(detections, pixels, node), node


def model_names(session: EditorSession, graph: CompiledGraph) -> list[str]:
    """Class names of the loaded detector models (after a run), for the class picker."""
    names: list[str] = []
    for node_id in detector_nodes(graph):
        live = session.live_nodes.get(node_id)
        model = getattr(live, "model", None)
        found = getattr(model, "names", None)
        if isinstance(found, dict):
            names += [str(v) for _, v in sorted(found.items())]
        elif isinstance(found, list | tuple):
            names += [str(v) for v in found]
    return list(dict.fromkeys(names))
