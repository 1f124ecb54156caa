"""Colour maths: CIEDE2000 on Sharma et al.'s published pairs, sRGB -> Lab against known values."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pytest
from skimage.color import rgb2lab

from segflow.vision.colour import (
    BUILTIN_PALETTE,
    circular_mean_median_deg,
    delta_e_2000,
    dominant_colours,
    lab_to_srgb,
    nearest,
    parse_colour,
    rgb_to_hsv,
    srgb_to_lab,
)

# Sharma, Wu & Dalal (2005), "The CIEDE2000 colour-difference formula: implementation
# notes, supplementary test data, and mathematical observations", Table 1: (Lab1, Lab2, dE00).
SHARMA_PAIRS = [
    ((50.0000, 2.6772, -79.7751), (50.0000, 0.0000, -82.7485), 2.0425),
    ((50.0000, 3.1571, -77.2803), (50.0000, 0.0000, -82.7485), 2.8615),
    ((50.0000, 2.8361, -74.0200), (50.0000, 0.0000, -82.7485), 3.4412),
    ((50.0000, -1.3802, -84.2814), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, -1.1848, -84.8006), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, -0.9009, -85.5211), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, 0.0000, 0.0000), (50.0000, -1.0000, 2.0000), 2.3669),
    ((50.0000, -1.0000, 2.0000), (50.0000, 0.0000, 0.0000), 2.3669),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0009), 7.1792),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0010), 7.1792),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0011), 7.2195),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0012), 7.2195),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0009, -2.4900), 4.8045),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0010, -2.4900), 4.8045),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0011, -2.4900), 4.7461),
    ((50.0000, 2.5000, 0.0000), (50.0000, 0.0000, -2.5000), 4.3065),
    ((50.0000, 2.5000, 0.0000), (73.0000, 25.0000, -18.0000), 27.1492),
    ((50.0000, 2.5000, 0.0000), (61.0000, -5.0000, 29.0000), 22.8977),
    ((50.0000, 2.5000, 0.0000), (56.0000, -27.0000, -3.0000), 31.9030),
    ((50.0000, 2.5000, 0.0000), (58.0000, 24.0000, 15.0000), 19.4535),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.1736, 0.5854), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.2972, 0.0000), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 1.8634, 0.5757), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.2592, 0.3350), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
    ((61.2901, 3.7196, -5.3901), (61.4292, 2.2480, -4.9620), 1.8731),
    ((35.0831, -44.1164, 3.7933), (35.0232, -40.0716, 1.5901), 1.8645),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((36.4612, 47.8580, 18.3852), (36.2715, 50.5065, 21.2231), 1.4146),
    ((90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
    ((6.7747, -0.2908, -2.4247), (5.8714, -0.0985, -2.2286), 0.6377),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


def test_sharma_table_has_34_pairs():
    assert len(SHARMA_PAIRS) == 34


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA_PAIRS)
def test_ciede2000_matches_published_pairs(lab1, lab2, expected):
    assert float(delta_e_2000(np.array(lab1), np.array(lab2))) == pytest.approx(expected, abs=1e-4)
    # The formula is symmetric in its two colours.
    assert float(delta_e_2000(np.array(lab2), np.array(lab1))) == pytest.approx(expected, abs=1e-4)


def test_ciede2000_vectorised_equals_pairwise():
    a = np.array([p[0] for p in SHARMA_PAIRS])
    b = np.array([p[1] for p in SHARMA_PAIRS])
    assert delta_e_2000(a, b) == pytest.approx([p[2] for p in SHARMA_PAIRS], abs=1e-4)


@pytest.mark.parametrize(
    ("rgb", "lab"),
    [
        ((255, 255, 255), (100.0, 0.0, 0.0)),
        ((0, 0, 0), (0.0, 0.0, 0.0)),
        ((255, 0, 0), (53.2408, 80.0925, 67.2032)),
        ((0, 255, 0), (87.7347, -86.1827, 83.1793)),
        ((0, 0, 255), (32.2970, 79.1875, -107.8602)),
        ((128, 128, 128), (53.5850, 0.0, 0.0)),
    ],
)
def test_srgb_to_lab_known_values(rgb, lab):
    assert srgb_to_lab(np.array(rgb, float)) == pytest.approx(lab, abs=0.01)


def test_srgb_to_lab_agrees_with_scikit_image_and_round_trips():
    rgb = np.random.default_rng(1).integers(0, 256, (500, 3)).astype(float)
    ours = srgb_to_lab(rgb)
    theirs = rgb2lab(rgb[None] / 255.0)[0]
    assert delta_e_2000(ours, theirs).max() < 0.05
    assert lab_to_srgb(ours) == pytest.approx(rgb, abs=0.01)


@pytest.mark.parametrize(
    ("rgb", "hsv"),
    [
        ((255, 0, 0), (0, 1, 1)),
        ((0, 128, 0), (120, 1, 128 / 255)),
        ((0, 0, 255), (240, 1, 1)),
        ((255, 0, 255), (300, 1, 1)),
        ((64, 64, 64), (0, 0, 64 / 255)),
    ],
)
def test_rgb_to_hsv(rgb, hsv):
    assert rgb_to_hsv(np.array(rgb, float)) == pytest.approx(hsv, abs=1e-6)


@pytest.mark.parametrize(
    ("angles", "mean", "median"),
    [([350, 10], 0, 0), ([350, 10, 20], 6.67, 10), ([90, 100, 110], 100, 100)],
)
def test_circular_mean_and_median(angles, mean, median):
    got_mean, got_median = circular_mean_median_deg(np.array(angles, float))
    assert (got_mean - mean + 180) % 360 - 180 == pytest.approx(0, abs=0.05)
    assert (got_median - median + 180) % 360 - 180 == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize(
    ("spec", "ok"),
    [
        ("#ff0000", True),
        ("ff0000", True),
        ([255, 0, 0], True),
        ({"lab": [53.24, 80.09, 67.2]}, True),
        ({"rgb": [255, 0, 0]}, True),
        ("#ff00", False),
        ("red", False),
        ([255, 0], False),
        ([300, 0, 0], False),
        ({"lab": [120, 0, 0]}, False),
        ({"lab": [50, 0, 0], "rgb": [1, 2, 3]}, False),
        (42, False),
    ],
)
def test_parse_colour(spec, ok):
    if ok:
        assert delta_e_2000(parse_colour(spec), srgb_to_lab(np.array([255.0, 0, 0]))) < 0.01
    else:
        with pytest.raises(ValueError):
            parse_colour(spec)


def test_nearest_palette_entry():
    names = ["red", "green", "blue"]
    palette = np.stack([parse_colour(c) for c in ("#ff0000", "#00ff00", "#0000ff")])
    name, distance = nearest(srgb_to_lab(np.array([220.0, 30, 40])), names, palette)
    assert name == "red" and 0 < distance < 15


def test_dominant_colours_shares_of_a_two_colour_set():
    rgb = np.array([[200, 30, 30]] * 700 + [[20, 40, 200]] * 300, float)
    found = dominant_colours(rgb, k=2)
    assert [share for _, share in found] == pytest.approx([0.7, 0.3])
    assert found[0][0] == pytest.approx([200, 30, 30], abs=1)
    assert found[1][0] == pytest.approx([20, 40, 200], abs=1)


def test_dominant_colours_of_one_colour_and_of_nothing():
    assert len(dominant_colours(np.array([[10, 20, 30]] * 50, float), k=3)) == 1
    assert dominant_colours(np.zeros((0, 3)), k=3) == []


GREYS = {"black", "white", "gray", "silver", "dark gray"}
BLUES = {
    "blue", "navy", "sky blue", "steel blue", "dodger blue", "cornflower blue", "royal blue", "dark blue",
    "denim", "prussian blue", "slate blue", "dark slate blue",
}


def _builtin():
    names = list(BUILTIN_PALETTE)
    return names, np.stack([parse_colour(BUILTIN_PALETTE[n]) for n in names])


def test_no_clearly_coloured_surface_is_named_a_grey():
    """Around the hue circle every 5 degrees, at 4 saturations and 5 values: chroma >= 20 is never grey."""
    names, palette = _builtin()
    named_grey = []
    for hue in range(0, 360, 5):
        for s in (0.5, 0.7, 0.85, 1.0):
            for v in (0.3, 0.45, 0.6, 0.8, 1.0):
                rgb = np.array(colorsys.hsv_to_rgb(hue / 360, s, v)) * 255
                lab = srgb_to_lab(rgb)
                if math.hypot(lab[1], lab[2]) < 20:
                    continue
                name, _ = nearest(lab, names, palette)
                if name in GREYS:
                    named_grey.append((hue, s, v, name))
    assert named_grey == []


def test_a_mid_blue_is_a_blue():
    names, palette = _builtin()
    name, distance = nearest(srgb_to_lab(np.array([30.0, 80, 120])), names, palette)
    assert name in BLUES and distance < 12  # it read "dark gray" at Delta-E 17.6
