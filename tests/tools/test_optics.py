"""The truth generator: exact coverage, exact figures, and a camera whose blur and noise are what it says."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from segflow.tools.synth import figures
from segflow.tools.synth.optics import Optics, coverage, exact_mask, grown_mask, layout, render, threshold_mask

SIZE = (120, 140)


def supersampled(outline: np.ndarray, shape: tuple[int, int], s: int = 32) -> np.ndarray:
    big = np.zeros((shape[0] * s, shape[1] * s), np.uint8)
    cv2.fillPoly(big, [np.round(((outline + 0.5) * s - 0.5) * 16).astype(np.int32)], 1, shift=4)
    return big.reshape(shape[0], s, shape[1], s).mean(axis=(1, 3))


@pytest.mark.parametrize("kind", ["blob", "rectangle", "triangle", "bar", "crack"])
def test_coverage_is_the_exact_area_of_each_pixel(kind):
    rng = np.random.default_rng(3)
    shape = figures.maker(kind, (20, 45), (2, 5))(rng).moved(60.37, 58.81)
    cover = coverage(shape.outline, SIZE)
    assert cover.sum() == pytest.approx(figures.polygon_area(shape.outline), rel=1e-9)
    assert np.abs(cover - supersampled(shape.outline, SIZE)).max() < 0.05  # 32 x 32 samples: 1/32-ish
    assert ((cover > 0) & (cover < 1)).any()  # outlines are not rounded to whole pixels


def test_figures_of_a_rectangle_are_its_own():
    rng = np.random.default_rng(0)
    bar = figures.bar(rng, 4.0, 30.0)
    t = figures.truth(bar)
    assert t["area"] == pytest.approx(120)
    assert t["perimeter"] == pytest.approx(68)
    assert t["feret_max"] == pytest.approx(math.hypot(30, 4))
    assert (t["length"], t["width"]) == pytest.approx((30, 4))
    assert t["equivalent_diameter"] == pytest.approx(math.sqrt(480 / math.pi))
    assert (t["skeleton_length"], t["mean_width"]) == pytest.approx((30, 4))
    assert math.isnan(figures.truth(figures.blob(rng, 10))["skeleton_length"])


def test_a_crack_keeps_its_width_along_a_curved_centre_line():
    rng = np.random.default_rng(5)
    for width in (2.0, 3.5, 5.0):
        crack = figures.crack(rng, width, 60.0)
        t = figures.truth(crack)
        assert t["skeleton_length"] == pytest.approx(60.0, rel=1e-6)
        assert t["mean_width"] == pytest.approx(width, rel=1e-3)
        assert t["length"] < 60.0  # it bends


def test_grown_masks_reach_the_stated_distance():
    rng = np.random.default_rng(1)
    shape = figures.rectangle(rng, 30).moved(70, 60)
    exact = exact_mask(shape, SIZE)
    assert exact.sum() == pytest.approx(figures.polygon_area(shape.outline), rel=0.05)
    t = figures.truth(shape)
    for by in (1.0, 2.0, 3.0):
        grown = grown_mask(shape, SIZE, by)
        assert grown.sum() == pytest.approx(t["area"] + t["perimeter"] * by + math.pi * by * by, rel=0.04)
        assert (grown >= exact).all()
    model = grown_mask(shape, SIZE, 2.0, shift=(0.7, -0.4), stride=4)
    assert model.sum() == pytest.approx(grown_mask(shape, SIZE, 2.0).sum(), rel=0.15)


def test_the_camera_blurs_shades_and_adds_the_noise_it_states():
    rng = np.random.default_rng(2)
    flat = Optics(blur_sigma=0.0, full_well=4000, read_noise=1.5, vignetting=0.0, ramp=0.0)
    scene = render(rng, [], (200, 200), flat, background=128.0)
    expected = math.sqrt(128 * 255 / 4000 + 1.5**2 + 1 / 12)  # shot, read and rounding noise
    assert scene.gray.std() == pytest.approx(expected, rel=0.05)
    shaded = render(rng, [], (200, 200), Optics(vignetting=0.3, ramp=0.0, read_noise=0.0), background=128.0)
    centre, corner = shaded.gray[90:110, 90:110].mean(), shaded.gray[:10, :10].mean()
    assert corner / centre == pytest.approx(shaded.light[:10, :10].mean() / shaded.light[90:110, 90:110].mean(),
                                            abs=0.01)
    assert shaded.light[0, 0] == pytest.approx(0.7)


def test_lens_blur_spreads_an_edge_by_sigma():
    rng = np.random.default_rng(4)
    square = figures.Shape("rectangle", np.array([[40.3, 30.0], [100.3, 30.0], [100.3, 90.0], [40.3, 90.0]]))
    for sigma in (0.7, 1.5):
        optics = Optics(blur_sigma=sigma, full_well=1e9, read_noise=0.0, vignetting=0.0, ramp=0.0)
        profile = render(rng, [square], SIZE, optics, background=60.0, contrast=(100, 100), dark=0.0)
        row = profile.gray[60, 30:55].astype(float)
        step = (row - row[0]) / (row[-1] - row[0])
        # 16 % to 84 % of a blurred step spans two sigma of the Gaussian (plus the pixel's own width)
        x16, x84 = np.interp([0.16, 0.84], step, np.arange(len(step)))
        assert x84 - x16 == pytest.approx(2 * math.sqrt(sigma**2 + 1 / 12), abs=0.25)
        assert np.interp(0.5, step, np.arange(len(step))) + 30 == pytest.approx(40.3, abs=0.1)


def test_layout_and_threshold_masks():
    rng = np.random.default_rng(6)
    shapes = layout(rng, figures.maker("blob", (8, 14)), 6, 30, 3)
    scene = render(rng, shapes, (60, 90), Optics(blur_sigma=1.0))
    for i, shape in enumerate(shapes):
        mask = threshold_mask(scene, i)
        exact = exact_mask(shape, (60, 90))
        assert (mask & exact).sum() / (mask | exact).sum() > 0.7


def test_a_rectangle_without_one_orientation_is_not_truth():
    """An acute triangle's min-area rectangle may lie along any side; a near-round blob's turns freely."""
    acute = figures.Shape("triangle", np.array([[0.0, 0.0], [10.0, 0.0], [4.0, 9.0]]))
    assert math.isnan(figures.truth(acute)["length"]) and math.isnan(figures.truth(acute)["width"])
    obtuse = figures.Shape("triangle", np.array([[0.0, 0.0], [20.0, 0.0], [3.0, 4.0]]))
    assert figures.truth(obtuse)["length"] == pytest.approx(20.0)
    assert figures.truth(obtuse)["width"] == pytest.approx(4.0)
    t = np.linspace(0, 2 * math.pi, 360, endpoint=False)
    round_blob = figures.Shape("blob", np.column_stack([6 * np.cos(t), 5.8 * np.sin(t)]))
    long_blob = figures.Shape("blob", np.column_stack([6 * np.cos(t), 4 * np.sin(t)]))
    assert math.isnan(figures.truth(round_blob)["length"])
    assert figures.truth(long_blob)["length"] == pytest.approx(12.0, rel=1e-3)
