"""The renderer every outline fit compares with the picture: pixel shares inside outlines, exact to a few thousandths.

The reference is the truth generator's own exact coverage (segflow/tools/synth/optics.py,
an area-accumulation renderer written independently of segflow/vision/coverage.py). The
outlines are those the fits render: long smooth ones (a sector outline, a fitted curve),
few-sided polygons, and a loop inside a loop (a ring, whose inner loop is a hole).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from segflow.tools.synth.optics import coverage
from segflow.vision.coverage import _nearest, _Sides, exact_cover

SHAPE = (48, 56)


def ellipse(cx: float, cy: float, a: float, b: float, turn_deg: float, points: int) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, points, endpoint=False)
    c, s = math.cos(math.radians(turn_deg)), math.sin(math.radians(turn_deg))
    x, y = a * np.cos(t), b * np.sin(t)
    return np.column_stack([cx + x * c - y * s, cy + x * s + y * c])


def stone(points: int, seed: int) -> np.ndarray:
    """An irregular closed outline about 30 px across, as a sector fit returns for a stone."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * math.pi, points, endpoint=False)
    r = 12 + 2.5 * np.sin(3 * t + rng.uniform(0, 6)) + 1.5 * np.cos(5 * t + rng.uniform(0, 6))
    return np.column_stack([27.3 + r * np.cos(t), 23.8 + 0.8 * r * np.sin(t)])


@pytest.mark.parametrize("outline", [stone(40, 1), stone(160, 2), ellipse(27.4, 23.9, 14.0, 6.5, 33, 720),
                                     np.array([[10.2, 8.7], [44.9, 14.1], [21.3, 39.6]])])
def test_each_pixel_takes_its_share_of_the_outline(outline):
    cover = exact_cover((outline,), SHAPE)
    reference = coverage(outline, SHAPE)
    error = np.abs(cover - reference)
    assert float(cover.sum()) == pytest.approx(float(reference.sum()), abs=0.01 * math.sqrt(reference.sum()))
    assert float(np.percentile(error[reference > 0], 99)) < 0.02
    assert float(error.max()) < 0.2  # the straight-edge share, off at a sharp tip only


def test_a_loop_inside_a_loop_is_a_hole():
    outer, inner = stone(120, 3), ellipse(27.0, 24.0, 5.0, 3.5, 10, 60)[::-1]
    cover = exact_cover((outer, inner), SHAPE)
    reference = coverage(outer, SHAPE) - coverage(inner, SHAPE)
    assert float(cover.sum()) == pytest.approx(float(reference.sum()), abs=0.02 * math.sqrt(reference.sum()))
    assert float(np.abs(cover - reference).max()) < 0.05
    assert float(cover[24, 27]) == 0.0  # the hole's centre


@pytest.mark.parametrize("outline", [stone(80, 4), np.array([[10.2, 8.7], [44.9, 14.1], [21.3, 39.6]])])
def test_points_anywhere_get_their_distance_from_the_nearest_side(outline):
    """Near and far from the outline (a fit only asks near it, where sides are looked up by their boxes)."""
    rng = np.random.default_rng(7)
    px, py = rng.uniform(-20, 80, 400), rng.uniform(-20, 70, 400)
    level, nearest, _ = _nearest(_Sides((outline,)), px, py)
    cover = coverage(outline, SHAPE)
    a, b = outline, np.roll(outline, -1, axis=0)
    for x, y, got, side in zip(px, py, level, nearest, strict=True):
        d = b - a
        t = np.clip(((x - a[:, 0]) * d[:, 0] + (y - a[:, 1]) * d[:, 1]) / (d**2).sum(1), 0, 1)
        dist = np.hypot(x - a[:, 0] - t * d[:, 0], y - a[:, 1] - t * d[:, 1])
        share = cover[int(round(y)), int(round(x))] if 0 <= x < SHAPE[1] - 1 and 0 <= y < SHAPE[0] - 1 else 0.0
        assert abs(got) == pytest.approx(dist.min(), abs=1e-9)
        assert dist[side] == pytest.approx(dist.min(), abs=1e-9)
        if share > 0.99:  # the point's pixel is wholly inside
            assert got < 0
        elif share == 0.0:
            assert got > 0
