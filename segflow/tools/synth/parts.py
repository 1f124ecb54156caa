"""Machined parts on a backlit tray: bars and ovals of known size, a reference coin, an ArUco marker.

Two views of the same kind of tray, rendered anti-aliased through
:mod:`segflow.tools.synth.camera` with the shapes defined in millimetres:

- ``render_parts``: a camera looking straight down at 0.2 mm/px, with a
  23.25 mm coin in the top-right corner as the only scale reference (the
  weight-free reference-object example);
- ``render_tilted``: a camera tilted 35 degrees with barrel distortion, an
  ArUco marker lying on the tray (the tilted-camera example). Its ground truth
  carries the camera's true calibration.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from segflow.tools.synth import write_sample
from segflow.tools.synth.camera import Camera, board_views, default_camera, marker_bits, pose, render, to_picture

COIN_MM = 23.25
MARKER = {"dictionary": "DICT_4X4_50", "id": 3, "side_mm": 24.0, "corner_mm": (86.0, 16.0)}


def _layout(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Four parts on a 2 x 2 grid over the left 80 x 70 mm of the tray, sizes and angles drawn."""
    parts = []
    for i, (cx, cy) in enumerate([(22.0, 18.0), (62.0, 20.0), (22.0, 55.0), (62.0, 55.0)]):
        kind = "bar" if i % 2 == 0 else "oval"
        length = float(rng.uniform(26, 34))
        width = float(rng.uniform(4, 8)) if kind == "bar" else float(rng.uniform(8, 14))
        angle = float(rng.uniform(-40, 40))
        area = length * width if kind == "bar" else math.pi * length * width / 4
        parts.append(
            {
                "kind": kind,
                "center_mm": [cx, cy],
                "length_mm": round(length, 3),
                "width_mm": round(width, 3),
                "angle_deg": round(angle, 2),
                "area_mm2": round(area, 3),
            }
        )
    return parts


def _inside_part(part: dict[str, Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    t = math.radians(part["angle_deg"])
    dx, dy = x - part["center_mm"][0], y - part["center_mm"][1]
    u, v = dx * math.cos(t) - dy * math.sin(t), dx * math.sin(t) + dy * math.cos(t)
    half_l, half_w = part["length_mm"] / 2, part["width_mm"] / 2
    if part["kind"] == "bar":
        return (np.abs(u) <= half_l) & (np.abs(v) <= half_w)
    return (u / half_l) ** 2 + (v / half_w) ** 2 <= 1


def _scene(parts: list[dict[str, Any]], coin: tuple[float, float] | None, marker: bool):
    bits = marker_bits(MARKER["dictionary"], MARKER["id"]) if marker else None

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.zeros(x.shape, bool)
        for part in parts:
            out |= _inside_part(part, x, y)
        if coin is not None:
            out |= np.hypot(x - coin[0], y - coin[1]) <= COIN_MM / 2
        if bits is not None:
            mx, my = MARKER["corner_mm"]
            side = MARKER["side_mm"]
            paper = (x >= mx - 6) & (x <= mx + side + 6) & (y >= my - 6) & (y <= my + side + 6)
            n = bits.shape[0]
            i, j = np.floor((y - my) / side * n).astype(int), np.floor((x - mx) / side * n).astype(int)
            cell = (i >= 0) & (i < n) & (j >= 0) & (j < n)
            black = np.zeros(x.shape, bool)
            black[cell] = bits[i[cell], j[cell]] == 0
            out |= paper & ~black
        return out

    return inside


def _camera_truth(camera: Camera) -> dict[str, Any]:
    return {"camera_matrix": camera.k.tolist(), "distortion": camera.dist.tolist(), "image_size": list(camera.size)}


def render_parts(seed: int = 21) -> tuple[np.ndarray, dict[str, Any]]:
    """Straight-down view at 0.2 mm/px (no distortion) of four parts and the reference coin."""
    rng = np.random.default_rng(seed)
    parts = _layout(rng)
    k = default_camera().k.copy()
    camera = Camera(k, np.zeros(5), (640, 480))
    mm_per_px = 0.2
    coin = (112.0, 22.0)
    plane = pose(0.0, 0.0, 0.0, k[0, 0] * mm_per_px, (64.0, 48.0))
    image = to_picture(render(_scene(parts, coin, marker=False), camera, plane), seed)
    truth = {
        "generator": "segflow.tools.synth.parts.render_parts",
        "seed": seed,
        "mm_per_px": mm_per_px,
        "coin": {"diameter_mm": COIN_MM, "center_mm": list(coin)},
        "parts": parts,
    }
    return image, truth


def render_tilted(seed: int = 22) -> tuple[np.ndarray, dict[str, Any]]:
    """A 35-degree tilted, barrel-distorted view of four parts and an ArUco marker on the tray."""
    rng = np.random.default_rng(seed)
    parts = _layout(rng)
    camera = default_camera()
    plane = pose(35.0, 8.0, 4.0, 140.0, (68.0, 40.0))
    image = to_picture(render(_scene(parts, None, marker=True), camera, plane), seed)
    truth = {
        "generator": "segflow.tools.synth.parts.render_tilted",
        "seed": seed,
        "marker": {"dictionary": MARKER["dictionary"], "id": MARKER["id"], "side_mm": MARKER["side_mm"]},
        "camera": _camera_truth(camera),
        "parts": parts,
    }
    return image, truth


def write_parts(out_png: str | Path, seed: int = 21) -> dict[str, Any]:
    image, truth = render_parts(seed)
    return write_sample(out_png, image, truth)


def write_tilted(out_png: str | Path, seed: int = 22) -> dict[str, Any]:
    """The tilted view, its truth, and ``<name>_camera.yaml``: the lens as `segflow calibrate` solves it.

    The calibration is solved from checkerboard views rendered through the same
    camera, so the example workflow runs on a calibration made the way a user
    makes one, not on the renderer's own numbers.
    """
    from segflow.tools.calibrate import calibrate
    from segflow.vision.calibration import BoardInfo, save_calibration

    out_png = Path(out_png)
    image, truth = render_tilted(seed)
    views = board_views("checkerboard", default_camera())
    board = BoardInfo(type="checkerboard", squares=(9, 6), square_mm=20.0)
    calibration, _ = calibrate(((f"board{n}", v[..., 0]) for n, v in enumerate(views)), board)
    save_calibration(calibration, out_png.with_name(f"{out_png.stem}_camera.yaml"))
    return write_sample(out_png, image, truth)
