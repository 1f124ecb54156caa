"""Colour maths for ``analyze.colour``: sRGB <-> CIELAB, CIEDE2000, palettes, k-means.

Lab is computed in float from the sRGB definition (IEC 61966-2-1, D65 white),
with L in 0..100, not OpenCV's 8-bit rescaled Lab, so that colour differences
are in true Delta-E units. CIEDE2000 follows Sharma, Wu & Dalal (2005), whose
published test pairs are the tests of :func:`delta_e_2000`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import cv2
import numpy as np

# sRGB (linear) -> XYZ, D65, and the D65 reference white (Y = 1).
_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_EPSILON = 216 / 24389
_KAPPA = 24389 / 27


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (L 0..100) of sRGB values in 0..255, any shape ending in 3."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE_D65
    f = np.where(xyz > _EPSILON, np.cbrt(xyz), (_KAPPA * xyz + 16) / 116)
    lab = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """The sRGB values (0..255 floats, clipped to the gamut) of CIELAB values."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f**3 > _EPSILON, f**3, (116 * f - 16) / _KAPPA) * _WHITE_D65
    linear = np.clip(xyz @ np.linalg.inv(_RGB_TO_XYZ).T, 0, 1)
    c = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return c * 255.0


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """HSV of sRGB values in 0..255: hue in degrees 0..360, saturation and value 0..1."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    maximum, minimum = c.max(axis=-1), c.min(axis=-1)
    delta = maximum - minimum
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    safe = np.where(delta > 0, delta, 1.0)
    hue = np.where(
        maximum == r,
        ((g - b) / safe) % 6,
        np.where(maximum == g, (b - r) / safe + 2, (r - g) / safe + 4),
    )
    hue = np.where(delta > 0, hue * 60.0, 0.0)
    saturation = np.where(maximum > 0, delta / np.where(maximum > 0, maximum, 1.0), 0.0)
    return np.stack([hue, saturation, maximum], axis=-1)


def circular_mean_median_deg(
    hue: np.ndarray, weight: np.ndarray | None = None
) -> tuple[float, float]:
    """Mean and median of angles in degrees: 350 and 10 average to 0, not 180."""
    if len(hue) == 0:
        return float("nan"), float("nan")
    rad = np.radians(hue)
    w = np.ones_like(rad) if weight is None else weight
    mean = math.degrees(math.atan2(float((w * np.sin(rad)).sum()), float((w * np.cos(rad)).sum())))
    offsets = (np.asarray(hue) - mean + 180.0) % 360.0 - 180.0
    return mean % 360.0, (mean + float(np.median(offsets))) % 360.0


def delta_e_2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (kL = kC = kH = 1), broadcasting over leading axes."""
    lab1, lab2 = np.asarray(lab1, dtype=np.float64), np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    h1p = np.where(c1p == 0, 0.0, h1p)
    h2p = np.where(c2p == 0, 0.0, h2p)

    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dh_big = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))

    l_bar = (l1 + l2) / 2
    cp_bar = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(
        np.abs(h1p - h2p) <= 180,
        h_sum / 2,
        np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2),
    )
    h_bar = np.where(c1p * c2p == 0, h_sum, h_bar)
    t = (
        1
        - 0.17 * np.cos(np.radians(h_bar - 30))
        + 0.24 * np.cos(np.radians(2 * h_bar))
        + 0.32 * np.cos(np.radians(3 * h_bar + 6))
        - 0.20 * np.cos(np.radians(4 * h_bar - 63))
    )
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_bar**7 / (cp_bar**7 + 25.0**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * cp_bar
    s_h = 1 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt(
        (dl / s_l) ** 2 + (dc / s_c) ** 2 + (dh_big / s_h) ** 2 + r_t * (dc / s_c) * (dh_big / s_h)
    )


def parse_colour(spec: object) -> np.ndarray:
    """Lab of a colour written as '#rrggbb', [r, g, b] (0..255) or {lab: [L, a, b]} / {rgb: ...}."""
    if isinstance(spec, str):
        text = spec.strip().lstrip("#")
        if len(text) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in text):
            raise ValueError(f"colour {spec!r} is not '#rrggbb'")
        return srgb_to_lab(np.array([int(text[i : i + 2], 16) for i in (0, 2, 4)], float))
    if isinstance(spec, Mapping):
        if set(spec) == {"lab"}:
            return _triple(spec["lab"], "lab", (0, 100), (-128, 128))
        if set(spec) == {"rgb"}:
            return srgb_to_lab(_triple(spec["rgb"], "rgb", (0, 255), (0, 255)))
        raise ValueError(f"colour {dict(spec)!r} must have exactly one key: lab or rgb")
    if isinstance(spec, list | tuple):
        return srgb_to_lab(_triple(spec, "rgb", (0, 255), (0, 255)))
    raise ValueError(
        f"colour {spec!r} must be '#rrggbb', [r, g, b], {{lab: [..]}} or {{rgb: [..]}}"
    )


def _triple(
    values: object, name: str, first: tuple[float, float], rest: tuple[float, float]
) -> np.ndarray:
    if not isinstance(values, list | tuple) or len(values) != 3:
        raise ValueError(f"{name} colour must have three numbers, got {values!r}")
    array = np.array(values, dtype=np.float64)
    for value, (low, high) in zip(array, (first, rest, rest), strict=True):
        if not low <= value <= high:
            raise ValueError(f"{name} value {value} out of range {low}..{high} in {values!r}")
    return array


def hex_of(rgb: np.ndarray) -> str:
    r, g, b = (int(round(float(np.clip(v, 0, 255)))) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


# Everyday colour names (CSS colour values), for "what colour is it". Besides the basic names
# it holds dark and mid tones of every hue (steel blue, dark olive, sea green...), so that no
# clearly coloured surface is nearer to a grey: tests/nodes/test_colour_math.py samples the hue
# circle at several saturations and values and checks it.
BUILTIN_PALETTE: dict[str, str] = {
    "black": "#000000",
    "white": "#ffffff",
    "gray": "#808080",
    "silver": "#c0c0c0",
    "dark gray": "#404040",
    "red": "#ff0000",
    "dark red": "#8b0000",
    "orange": "#ffa500",
    "yellow": "#ffff00",
    "gold": "#ffd700",
    "olive": "#808000",
    "lime": "#00ff00",
    "green": "#008000",
    "dark green": "#006400",
    "teal": "#008080",
    "cyan": "#00ffff",
    "sky blue": "#87ceeb",
    "blue": "#0000ff",
    "navy": "#000080",
    "purple": "#800080",
    "violet": "#ee82ee",
    "magenta": "#ff00ff",
    "pink": "#ffc0cb",
    "brown": "#8b4513",
    "tan": "#d2b48c",
    "beige": "#f5f5dc",
    "maroon": "#800000",
    "coral": "#ff7f50",
    "salmon": "#fa8072",
    "dark orange": "#ff8c00",
    "dark brown": "#654321",
    "dark goldenrod": "#b8860b",
    "khaki": "#c3b091",
    "dark olive": "#556b2f",
    "chartreuse": "#7fff00",
    "sea green": "#2e8b57",
    "spring green": "#00ff7f",
    "dark cyan": "#008b8b",
    "turquoise": "#40e0d0",
    "steel blue": "#4682b4",
    "dodger blue": "#1e90ff",
    "cornflower blue": "#6495ed",
    "royal blue": "#4169e1",
    "dark blue": "#00008b",
    "slate blue": "#6a5acd",
    "indigo": "#4b0082",
    "prussian blue": "#003153",
    "denim": "#1560bd",
    "dark slate blue": "#483d8b",
    "dark teal": "#014d4e",
    "wine": "#722f37",
}


def nearest(lab: np.ndarray, names: list[str], palette_lab: np.ndarray) -> tuple[str, float]:
    """The palette entry closest to ``lab`` by CIEDE2000, and that distance."""
    distances = delta_e_2000(np.asarray(lab)[None, :], palette_lab)
    best = int(np.argmin(distances))
    return names[best], float(distances[best])


def dominant_colours(
    rgb_pixels: np.ndarray, k: int, seed: int = 0
) -> list[tuple[np.ndarray, float]]:
    """The ``k`` main colours (sRGB) of a set of pixels by k-means in Lab, with their shares.

    Clustering happens in Lab so that clusters follow perceived, not raw RGB,
    differences. At most 4096 pixels are clustered (a fixed random subset).
    """
    n = len(rgb_pixels)
    if n == 0:
        return []
    if n > 4096:
        rgb_pixels = rgb_pixels[np.random.default_rng(seed).choice(n, 4096, replace=False)]
    k = min(k, len(np.unique(rgb_pixels, axis=0)))
    lab = srgb_to_lab(rgb_pixels).astype(np.float32)
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.1)
    _, labels, centres = cv2.kmeans(lab, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    shares = np.bincount(labels.ravel(), minlength=k) / len(labels)
    order = np.argsort(-shares)
    return [(lab_to_srgb(centres[i]), float(shares[i])) for i in order if shares[i] > 0]
