"""Shared fixtures for node tests: run a node on one packet, render ground truth."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
import supervision as sv

from segflow.engine.frame import Frame, PacketInfo
from segflow.engine.node import Inputs, RunContext


def _run(node_cls: Any, params: dict[str, Any] | None = None, tmp_path: Any = None) -> Any:
    """Build and set up a node the way the engine does."""
    context = RunContext(workflow_name="test", base_dir=tmp_path) if tmp_path else RunContext("test")
    node = node_cls("n1", node_cls.Params(**(params or {})), context)
    node.setup()
    return node


def _packet(node: Any, source: str = "cam", index: int = 0, **inputs: Any) -> dict[str, Any]:
    """Run one packet through ``node``; ndarray images are wrapped in a Frame."""
    values = {
        key: Frame(value, source, index, index / 30) if isinstance(value, np.ndarray) else value
        for key, value in inputs.items()
    }
    return node.process(Inputs(values, PacketInfo(source, index, index / 30, "test")))


@pytest.fixture
def make_node(tmp_path: Any) -> Any:
    return lambda cls, params=None: _run(cls, params, tmp_path)


@pytest.fixture
def run_packet() -> Any:
    return _packet


def raster_polygon(points: Any, shape: tuple[int, int], supersample: int = 8) -> np.ndarray:
    """Rasterise a continuous polygon by area coverage (pixel in if >= half covered).

    Pixel (x, y) covers [x-0.5, x+0.5] x [y-0.5, y+0.5]: the ground truth for
    measurements is the polygon itself, independent of any drawing convention.
    """
    h, w = shape
    s = supersample
    big = np.zeros((h * s, w * s), np.uint8)
    pts = ((np.asarray(points, float) + 0.5) * s - 0.5) * 16
    cv2.fillPoly(big, [pts.round().astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return big.reshape(h, s, w, s).mean(axis=(1, 3)) >= 0.5


def bar(cx: float, cy: float, length: float, width: float, angle_deg: float) -> np.ndarray:
    """Corners of a rectangle whose long side is at ``angle_deg`` (counter-clockwise on screen)."""
    t = math.radians(angle_deg)
    u = np.array([math.cos(t), -math.sin(t)]) * length / 2
    v = np.array([math.sin(t), math.cos(t)]) * width / 2
    c = np.array([cx, cy])
    return np.array([c + u + v, c - u + v, c - u - v, c + u - v])


def ellipse(cx: float, cy: float, a: float, b: float, angle_deg: float = 0.0) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, 4000, endpoint=False)
    th = math.radians(angle_deg)
    x, y = a * np.cos(t), b * np.sin(t)
    return np.column_stack(
        [cx + x * math.cos(th) + y * math.sin(th), cy - x * math.sin(th) + y * math.cos(th)]
    )


def detections_from_masks(
    masks: list[np.ndarray], names: list[str] | None = None, confidence: float = 0.9
) -> sv.Detections:
    stack = np.stack(masks).astype(bool)
    n = len(masks)
    names = names or ["object"] * n
    return sv.Detections(
        xyxy=sv.mask_to_xyxy(stack).astype(float),
        mask=stack,
        confidence=np.full(n, confidence),
        class_id=np.zeros(n, dtype=int),
        data={"class_name": np.array(names)},
    )


@pytest.fixture
def shapes() -> SimpleNamespace:
    return SimpleNamespace(
        raster=raster_polygon, bar=bar, ellipse=ellipse, detections=detections_from_masks
    )


@pytest.fixture(scope="session")
def shipped_onnx(tmp_path_factory):
    """assets/models/coffee-stones-seg.pt exported to ONNX by `segflow export` (fixed 1x3x320x320 input)."""
    from conftest_models import shipped_onnx as export

    return export(tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="session")
def shipped_onnx_dynamic(tmp_path_factory):
    """The same export with a dynamic batch and image size (`--dynamic`)."""
    from conftest_models import shipped_onnx as export

    return export(tmp_path_factory.mktemp("onnx-dynamic"), "--dynamic")
