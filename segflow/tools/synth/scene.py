"""Conveyor scene composition: belt background, object placement, lighting and camera effects.

Objects never overlap (a spreading belt lays beans in a single layer), so every
instance mask is the object's whole outline clipped to the frame and labels are
exact.  All randomness comes from the ``numpy.random.Generator`` passed in, so a
seed fixes every pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from segflow.tools.synth.sprites import Sprite, bean, debris, stone, value_noise


@dataclass
class Placed:
    """A sprite pasted at integer top-left (x, y) of a canvas (may stick out of it)."""

    sprite: Sprite
    x: int
    y: int

    def bbox(self) -> tuple[int, int, int, int]:
        h, w = self.sprite.shape
        return self.x, self.y, self.x + w, self.y + h


def belt(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Dark rubber belt (RGB float): tint, fabric grain along the motion axis, scuffs."""
    tint = np.array([40.0, 42.0, 44.0]) * rng.uniform(0.8, 1.3) * rng.uniform(0.93, 1.07, 3)
    grain = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), sigmaX=6, sigmaY=0.6)
    scuff = value_noise(rng, h, w, 40.0)
    fine = rng.standard_normal((h, w)).astype(np.float32)
    lum = 1.0 + 0.25 * grain + 0.10 * scuff + 0.05 * fine
    return tint[None, None, :] * lum[..., None]


class Occupancy:
    """Bitmap of covered pixels used to reject overlapping placements (with a gap)."""

    def __init__(self, h: int, w: int, gap: int = 2):
        self.grid = np.zeros((h, w), bool)
        self.gap = gap
        self.k = np.ones((2 * gap + 1, 2 * gap + 1), np.uint8)

    def _window(self, p: Placed):
        x0, y0, x1, y1 = p.bbox()
        h, w = self.grid.shape
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if cx0 >= cx1 or cy0 >= cy1:
            return None
        m = p.sprite.mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        return (slice(cy0, cy1), slice(cx0, cx1)), m

    def fits(self, p: Placed) -> bool:
        win = self._window(p)
        if win is None:
            return True
        sl, m = win
        grown = cv2.dilate(m.astype(np.uint8), self.k).astype(bool)
        return not (self.grid[sl] & grown).any()

    def add(self, p: Placed) -> None:
        win = self._window(p)
        if win is not None:
            sl, m = win
            self.grid[sl] |= m


def visible_fraction(p: Placed, h: int, w: int) -> float:
    """Share of a placed sprite's mask inside an h x w frame."""
    x0, y0, x1, y1 = p.bbox()
    full = p.sprite.mask.sum()
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx0 >= cx1 or cy0 >= cy1 or full == 0:
        return 0.0
    return float(p.sprite.mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0].sum() / full)


def scatter(
    rng: np.random.Generator,
    occ: Occupancy,
    make,
    count: int,
    x_range: tuple[int, int],
    y_range: tuple[int, int],
    accept=None,
    tries: int = 40,
) -> list[Placed]:
    """Place up to ``count`` sprites from ``make(rng)`` at free positions (centre in the ranges)."""
    out: list[Placed] = []
    for _ in range(count):
        spr = make(rng)
        h, w = spr.shape
        for _ in range(tries):
            cx = int(rng.integers(*x_range))
            cy = int(rng.integers(*y_range))
            p = Placed(spr, cx - w // 2, cy - h // 2)
            if (accept is None or accept(p)) and occ.fits(p):
                occ.add(p)
                out.append(p)
                break
    return out


def paste(canvas: np.ndarray, placed: list[Placed], shadow: float = 0.45) -> None:
    """Paste sprites onto an RGB float canvas in place, each with a soft drop shadow."""
    h, w = canvas.shape[:2]
    for p in placed:
        x0, y0, x1, y1 = p.bbox()
        pad = 6
        sx0, sy0, sx1, sy1 = max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, w), min(y1 + pad, h)
        if sx0 >= sx1 or sy0 >= sy1:
            continue
        local = np.zeros((sy1 - sy0, sx1 - sx0), np.float32)
        mh, mw = p.sprite.shape
        ox, oy = x0 - sx0 + 2, y0 - sy0 + 3  # shadow offset: light from the top-left
        _blit(local, p.sprite.mask.astype(np.float32), ox, oy)
        local = cv2.GaussianBlur(local, (0, 0), 2.0)
        canvas[sy0:sy1, sx0:sx1] *= (1.0 - shadow * local)[..., None]
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if cx0 >= cx1 or cy0 >= cy1:
            continue
        m = p.sprite.mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        src = p.sprite.pixels[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        region = canvas[cy0:cy1, cx0:cx1]
        region[m] = src[m]
        del mh, mw


def _blit(dst: np.ndarray, src: np.ndarray, x: int, y: int) -> None:
    h, w = dst.shape
    sh, sw = src.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + sw, w), min(y + sh, h)
    if x0 < x1 and y0 < y1:
        dst[y0:y1, x0:x1] = np.maximum(dst[y0:y1, x0:x1], src[y0 - y : y1 - y, x0 - x : x1 - x])


@dataclass
class Camera:
    """Per-shot camera state: illumination field, white balance, blur, noise."""

    light: np.ndarray  # (h, w) multiplicative illumination
    balance: np.ndarray  # (3,) RGB gains
    blur_sigma: float
    noise_sigma: float
    motion_px: int = 0

    @classmethod
    def random(cls, rng: np.random.Generator, h: int, w: int, motion_px: int = 0) -> Camera:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ang = rng.uniform(0, 2 * np.pi)
        ramp = ((xx - w / 2) * np.cos(ang) + (yy - h / 2) * np.sin(ang)) / max(h, w)
        vign = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
        gain = rng.uniform(0.75, 1.25)
        light = gain * (1.0 + rng.uniform(0.0, 0.5) * ramp - rng.uniform(0.0, 0.35) * vign)
        light = light * (1.0 + 0.06 * value_noise(rng, h, w, 120.0))
        return cls(
            light=light.astype(np.float32),
            balance=rng.uniform(0.9, 1.1, 3).astype(np.float32),
            blur_sigma=float(rng.uniform(0.3, 1.3)),
            noise_sigma=float(rng.uniform(1.5, 6.0)),
            motion_px=motion_px,
        )

    def shoot(self, rng: np.random.Generator, scene: np.ndarray, flicker: float = 1.0) -> np.ndarray:
        """Apply lighting, optics and sensor noise to an RGB float scene; return BGR uint8."""
        img = scene * (self.light * flicker)[..., None] * self.balance[None, None, :]
        if self.motion_px > 1:
            k = np.full((1, self.motion_px), 1.0 / self.motion_px, np.float32)
            img = cv2.filter2D(img, -1, k)
        if self.blur_sigma > 0.35:
            img = cv2.GaussianBlur(img, (0, 0), self.blur_sigma)
        img = img + rng.normal(0.0, self.noise_sigma, img.shape).astype(np.float32)
        return cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)


@dataclass
class Scene:
    """One rendered still: BGR image plus the placed objects that make its ground truth."""

    image: np.ndarray
    objects: list[Placed]

    def stones(self) -> list[Placed]:
        return [p for p in self.objects if p.sprite.kind == "stone"]


def conveyor_still(rng: np.random.Generator, h: int = 480, w: int = 640, mm_per_px: float = 0.25) -> Scene:
    """A random conveyor still: 0-7 stones, 15-60 beans, sometimes debris.

    Stones may be cut by the frame edge (they are in the video) but keep at
    least 35 % of their area inside, so no label is a sliver.
    """
    occ = Occupancy(h, w)
    n_stones = int(rng.choice([0, 1, 2, 3, 4, 5, 6, 7], p=[0.06, 0.1, 0.16, 0.18, 0.18, 0.14, 0.1, 0.08]))
    stones = scatter(
        rng,
        occ,
        lambda r: stone(r, mm_per_px),
        n_stones,
        (-10, w + 10),
        (-10, h + 10),
        accept=lambda p: visible_fraction(p, h, w) >= 0.35 and _one_piece(p, h, w),
    )
    beans = scatter(
        rng,
        occ,
        lambda r: bean(r, mm_per_px),
        int(rng.integers(15, 61)),
        (-15, w + 15),
        (-15, h + 15),
    )
    extra = []
    if rng.random() < 0.4:
        extra = scatter(rng, occ, lambda r: debris(r, mm_per_px), int(rng.integers(1, 4)), (0, w), (0, h))
    canvas = belt(rng, h, w)
    objects = stones + beans + extra
    paste(canvas, objects)
    image = Camera.random(rng, h, w).shoot(rng, canvas)
    return Scene(image, objects)


def clipped_mask(p: Placed, h: int, w: int) -> np.ndarray:
    """The placed sprite's mask on an h x w frame (full frame size, bool)."""
    out = np.zeros((h, w), bool)
    x0, y0, x1, y1 = p.bbox()
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx0 < cx1 and cy0 < cy1:
        out[cy0:cy1, cx0:cx1] = p.sprite.mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    return out


def _one_piece(p: Placed, h: int, w: int) -> bool:
    n, _ = cv2.connectedComponents(clipped_mask(p, h, w).astype(np.uint8))
    return n == 2
