"""Object sprites for conveyor scenes: coffee beans, stones and debris.

A sprite is rendered once in its own small patch (RGB float pixels, a boolean
mask and the integer outline polygon the mask was filled from), then pasted
into scenes.  The mask is rasterised *from* the polygon, so YOLO labels derived
from it match the rendered pixels by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

# Named stone colours (RGB) with sampling weights.  Stones are mostly grey;
# the names are what the ground truth records as a stone's colour.
STONE_COLOURS: dict[str, tuple[tuple[int, int, int], float]] = {
    "grey": ((128, 127, 123), 0.40),
    "dark grey": ((82, 82, 85), 0.20),
    "light grey": ((180, 177, 170), 0.20),
    "blue-grey": ((104, 114, 130), 0.10),
    "beige": ((176, 160, 128), 0.10),
}

BEAN_LIGHT = np.array([168.0, 116.0, 66.0])  # light roast, RGB
BEAN_DARK = np.array([56.0, 33.0, 22.0])  # dark roast, RGB


@dataclass
class Sprite:
    """A rendered object: pixels (h, w, 3) RGB float, mask (h, w) bool, outline polygon."""

    kind: str
    pixels: np.ndarray
    mask: np.ndarray
    polygon: np.ndarray  # (K, 2) int32 x, y in patch coordinates
    info: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape[0], self.mask.shape[1]


def value_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth noise in [-1, 1] of feature size ``cell`` pixels (bicubic upsampled grid)."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    grid = rng.uniform(-1.0, 1.0, (gh, gw)).astype(np.float32)
    up = cv2.resize(grid, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
    return np.clip(up[:h, :w], -1.0, 1.0)


def as_photographed(rgb: np.ndarray, rng: np.random.Generator, noise: float, blur: float) -> np.ndarray:
    """A float RGB render as a camera gives it: sensor noise, lens blur (sigma in px), 8-bit BGR."""
    noisy = rgb + rng.normal(0.0, noise, rgb.shape)
    blurred = cv2.GaussianBlur(np.clip(noisy, 0, 255).astype(np.float32), (0, 0), blur)
    return cv2.cvtColor(blurred.astype(np.uint8), cv2.COLOR_RGB2BGR)


def max_feret(points: np.ndarray) -> float:
    """Largest distance between two points of an outline (max Feret diameter), in px."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    d = hull[:, None, :] - hull[None, :, :]
    return float(np.sqrt((d**2).sum(-1)).max())


def min_rect_width(points: np.ndarray) -> float:
    """Short side of the minimum-area rectangle around an outline, in px."""
    (_, _), (w, h), _ = cv2.minAreaRect(np.asarray(points, dtype=np.float32).reshape(-1, 2))
    return float(min(w, h))


def pixel_corners(mask: np.ndarray) -> np.ndarray:
    """Corners of every pixel of ``mask`` on its outline, in the polygon's coordinates (pixel centres on integers).

    A sprite is pasted pixel by pixel (each pixel wholly object or wholly belt),
    so the object in the picture is the union of its mask's pixel squares: its
    Feret diameters and rectangle are those of these corners, not of the
    polygon the mask was filled from (which runs through pixel centres, about
    1.3 px shorter end to end).
    """
    edge = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    ys, xs = np.nonzero(edge)
    return np.concatenate([np.column_stack([xs + dx, ys + dy]) for dx in (-0.5, 0.5) for dy in (-0.5, 0.5)])


def _patch(polygon: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Shift a float polygon into a padded patch; return int polygon, mask, h, w."""
    lo = np.floor(polygon.min(0)) - pad
    poly = np.round(polygon - lo).astype(np.int32)
    w, h = int(poly[:, 0].max()) + pad + 1, int(poly[:, 1].max()) + pad + 1
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [poly], 1)
    return poly, mask.astype(bool), h, w


def bean(rng: np.random.Generator, mm_per_px: float) -> Sprite:
    """A roasted coffee bean: shaded ellipse with an S-shaped centre crease."""
    length_mm = rng.uniform(8.5, 12.0)
    a = length_mm / mm_per_px / 2.0
    b = a * rng.uniform(0.62, 0.78)
    theta = rng.uniform(0.0, np.pi)
    t = np.linspace(0.0, 2.0 * np.pi, 48, endpoint=False)
    ex, ey = a * np.cos(t), b * np.sin(t)
    poly_f = np.stack([ex * np.cos(theta) - ey * np.sin(theta), ex * np.sin(theta) + ey * np.cos(theta)], 1)
    poly, mask, h, w = _patch(poly_f, pad=2)
    cx, cy = poly_f.mean(0) - (np.floor(poly_f.min(0)) - 2)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    u = (dx * np.cos(theta) + dy * np.sin(theta)) / a
    v = (-dx * np.sin(theta) + dy * np.cos(theta)) / b
    r2 = np.clip(u * u + v * v, 0.0, 1.0)
    nz = np.sqrt(1.0 - r2)
    # Lambert shading of a dome lit from the top-left, in image coordinates.
    nx = (u * np.cos(theta) - v * np.sin(theta)) * 0.8
    ny = (u * np.sin(theta) + v * np.cos(theta)) * 0.8
    light = np.array([-0.45, -0.5, 0.74])
    lam = np.clip(
        (nx * light[0] + ny * light[1] + nz * light[2]) / np.sqrt(nx**2 + ny**2 + nz**2 + 1e-6),
        0,
        1,
    )
    roast = rng.uniform(0.0, 1.0)
    base = BEAN_LIGHT * (1.0 - roast) + BEAN_DARK * roast
    base = base * rng.uniform(0.92, 1.08, 3)
    shade = 0.45 + 0.75 * lam
    # Crease: a dark S-curve along the long axis.
    phase = rng.uniform(-0.3, 0.3)
    vc = 0.14 * np.sin(np.pi * u + phase)
    width = rng.uniform(0.07, 0.11)
    crease = np.exp(-(((v - vc) / width) ** 2)) * np.clip(1.0 - np.abs(u) / 0.88, 0, 1) ** 0.4
    shade = shade * (1.0 - 0.62 * crease)
    tex = 1.0 + 0.05 * value_noise(rng, h, w, 3.0) + 0.03 * rng.standard_normal((h, w))
    spec = 60.0 * np.exp(-(((u + 0.25) ** 2 + (v + 0.45) ** 2) / 0.04)) * (1 - roast * 0.5)
    pixels = base[None, None, :] * (shade * tex)[..., None] + spec[..., None]
    return Sprite("bean", pixels.astype(np.float32), mask, poly, {"length_mm": length_mm})


def pick_stone_colour(rng: np.random.Generator) -> tuple[str, tuple[int, int, int]]:
    names = list(STONE_COLOURS)
    weights = np.array([STONE_COLOURS[n][1] for n in names])
    name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    return name, STONE_COLOURS[name][0]


def stone(
    rng: np.random.Generator,
    mm_per_px: float,
    length_mm: float | None = None,
    colour: str | None = None,
) -> Sprite:
    """A stone: irregular polygon, textured and speckled, with flat dome shading.

    ``info`` holds the ground truth of the stone as pasted (the union of its
    mask's pixel squares, see :func:`pixel_corners`): ``length_mm`` (max Feret
    diameter), ``width_mm`` (short side of the min-area rectangle),
    ``area_mm2`` (mask pixels x scale^2) and the colour name and RGB.
    """
    target_mm = length_mm if length_mm is not None else rng.uniform(4.0, 16.0)
    n = int(rng.integers(7, 13))
    ang = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    ang = ang + rng.uniform(-0.3, 0.3, n) * 2.0 * np.pi / n
    rad = 1.0 + rng.uniform(-0.22, 0.18, n)
    elong = rng.uniform(1.0, 1.8)
    px, py = rad * np.cos(ang) * elong, rad * np.sin(ang)
    rot = rng.uniform(0.0, np.pi)
    pts = np.stack([px * np.cos(rot) - py * np.sin(rot), px * np.sin(rot) + py * np.cos(rot)], 1)
    pts = pts * (target_mm / mm_per_px / max_feret(pts))
    poly, mask, h, w = _patch(pts, pad=2)
    if colour is None:
        name, rgb = pick_stone_colour(rng)
    else:
        name, rgb = colour, STONE_COLOURS[colour][0]
    base = np.array(rgb, np.float32) * rng.uniform(0.94, 1.06)
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    dome = np.clip(dist / max(2.0, 0.35 * dist.max()), 0, 1)
    gy, gx = np.gradient(cv2.GaussianBlur(dome, (0, 0), 1.5))
    lam = np.clip(0.8 + 2.2 * (gx * 0.5 + gy * 0.55), 0.35, 1.3)
    shade = (0.72 + 0.28 * dome) * lam
    tex = (
        1.0
        + 0.10 * value_noise(rng, h, w, 6.0)
        + 0.06 * value_noise(rng, h, w, 2.0)
        + 0.05 * rng.standard_normal((h, w))
    )
    speck = rng.random((h, w))
    tex = tex - 0.25 * (speck < 0.025) + 0.2 * (speck > 0.985)
    pixels = base[None, None, :] * (shade * tex)[..., None]
    corners = pixel_corners(mask)
    info = {
        "length_mm": round(max_feret(corners) * mm_per_px, 3),
        "width_mm": round(min_rect_width(corners) * mm_per_px, 3),
        "area_mm2": round(float(mask.sum()) * mm_per_px**2, 3),
        "colour_name": name,
        "colour_rgb": [int(c) for c in rgb],
    }
    return Sprite("stone", pixels.astype(np.float32), mask, poly, info)


def debris(rng: np.random.Generator, mm_per_px: float) -> Sprite:
    """Unlabelled clutter: a thin twig or a pale husk flake (neither bean nor stone)."""
    if rng.random() < 0.5:
        length = rng.uniform(6.0, 14.0) / mm_per_px
        ang = rng.uniform(0.0, np.pi)
        half = np.array([np.cos(ang), np.sin(ang)]) * length / 2
        thick = rng.uniform(1.0, 1.8) / mm_per_px / 2
        nrm = np.array([-half[1], half[0]]) / np.linalg.norm(half) * thick
        pts = np.array([-half + nrm, half + nrm * 0.6, half - nrm * 0.6, -half - nrm])
        rgb = np.array([120.0, 92.0, 58.0]) * rng.uniform(0.8, 1.2)
    else:
        r = rng.uniform(1.5, 3.0) / mm_per_px
        t = np.linspace(0, 2 * np.pi, 10, endpoint=False)
        rr = r * (1 + rng.uniform(-0.3, 0.3, 10))
        pts = np.stack([rr * np.cos(t) * 1.4, rr * np.sin(t)], 1)
        rgb = np.array([205.0, 180.0, 130.0]) * rng.uniform(0.85, 1.1)
    poly, mask, h, w = _patch(pts, pad=2)
    tex = 1.0 + 0.08 * value_noise(rng, h, w, 3.0)
    pixels = rgb[None, None, :] * tex[..., None]
    return Sprite("debris", pixels.astype(np.float32), mask, poly, {})
