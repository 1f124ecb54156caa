"""Pictures made the way a camera makes them, of shapes whose figures are known exactly.

The measurement tests used to run on perfect renders: every pixel's level
proportional to the area the shape covers, no blur, a threshold half-way.
A real camera adds a lens that spreads every edge over a few pixels, light
that falls off towards the corners, photon and read noise, and a model whose
mask sits a pixel or two outside the object. This module renders all of that:

1. **Exact coverage**: each pixel's share of the polygon, computed
   analytically (signed-area accumulation, the method of font rasterisers), so
   no outline is rounded to whole pixels and a shape can sit anywhere.
2. **Light**: a flat background and object level, times an illumination
   field with vignetting and a linear ramp.
3. **Lens**: a Gaussian point-spread function of ``blur_sigma`` px.
4. **Sensor**: shot noise (Poisson on ``full_well`` electrons at level 255),
   Gaussian read noise, rounding to 8 bits.

Masks come in the kinds a pipeline feeds ``measure.masks``: the exact shape
(pixel centres inside), a model's (grown or shrunk by a given distance,
shifted, and passed through a coarse prototype grid the way YOLO-seg makes
masks at a quarter of its input), and a threshold of the picture itself.
The truth (:func:`segflow.tools.synth.figures.truth`) never looks at any of
them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from segflow.tools.synth.figures import Maker, Shape

SUPERSAMPLE = 8  # sub-pixels per pixel side for the distance maps behind grown masks


def coverage(outline: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Exact share of each pixel of an ``shape`` (h, w) grid inside the polygon ``outline``.

    Pixel ``(x, y)`` is the square ``[x - 1/2, x + 1/2] x [y - 1/2, y + 1/2]``.
    Each polygon edge adds its signed area to the pixels it crosses and to the
    next one on the row; a running sum along each row fills the inside (as in
    font-rs). The outline must lie wholly inside the grid.
    """
    h, w = shape
    acc = np.zeros((h, w + 2))
    pts = np.asarray(outline, np.float64) + 0.5
    if pts[:, 0].min() < 0 or pts[:, 1].min() < 0 or pts[:, 0].max() > w or pts[:, 1].max() > h:
        raise ValueError("the outline must lie wholly inside the grid")
    for p0, p1 in zip(pts, np.roll(pts, -1, axis=0), strict=True):
        _accumulate(acc, p0, p1)
    return np.clip(np.abs(np.cumsum(acc, axis=1)[:, :w]), 0.0, 1.0)


def _accumulate(acc: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> None:
    (xa, ya), (xb, yb) = p0, p1
    if abs(ya - yb) <= 1e-12:
        return
    sign = 1.0
    if ya > yb:
        sign, (xa, ya), (xb, yb) = -1.0, (xb, yb), (xa, ya)
    dxdy = (xb - xa) / (yb - ya)
    x = xa
    for y in range(int(ya), min(acc.shape[0], math.ceil(yb))):
        dy = min(y + 1.0, yb) - max(float(y), ya)
        x_next = x + dxdy * dy
        d = dy * sign
        lo, hi = (x, x_next) if x < x_next else (x_next, x)
        lo_floor, hi_ceil = math.floor(lo), math.ceil(hi)
        i, j = int(lo_floor), int(hi_ceil)
        row = acc[y]
        if j <= i + 1:  # within one pixel: split by the mean x
            mid = 0.5 * (x + x_next) - lo_floor
            row[i] += d - d * mid
            row[i + 1] += d * mid
        else:  # across several pixels: triangle, trapezoids, triangle
            s = 1.0 / (hi - lo)
            f0 = lo - lo_floor
            a0 = 0.5 * s * (1.0 - f0) ** 2
            f1 = hi - hi_ceil + 1.0
            am = 0.5 * s * f1 * f1
            row[i] += d * a0
            if j == i + 2:
                row[i + 1] += d * (1.0 - a0 - am)
            else:
                a1 = s * (1.5 - f0)
                row[i + 1] += d * (a1 - a0)
                row[i + 2 : j - 1] += d * s
                a2 = a1 + (j - i - 3) * s
                row[j - 1] += d * (1.0 - a2 - am)
            row[j] += d * am
        x = x_next


@dataclass(frozen=True)
class Optics:
    """The camera: lens blur, light field and sensor (levels are 8-bit grey levels)."""

    blur_sigma: float = 1.0  # Gaussian point-spread function, px
    full_well: float = 4000.0  # electrons at level 255: shot noise 2.9 levels at mid grey
    read_noise: float = 1.5  # grey levels, Gaussian
    vignetting: float = 0.25  # light lost in the corners, relative
    ramp: float = 0.10  # linear light change across the frame, relative


@dataclass
class Scene:
    """A rendered frame (BGR uint8), its shapes, each shape's object level and the light field."""

    image: np.ndarray
    shapes: list[Shape]
    levels: list[float]
    background: float
    light: np.ndarray
    optics: Optics

    @property
    def gray(self) -> np.ndarray:
        return self.image[..., 0]


def light_field(rng: np.random.Generator, shape: tuple[int, int], optics: Optics) -> np.ndarray:
    """Relative illumination: 1 at the centre, ``vignetting`` lower in the corners, a ramp at a random angle."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r2 = ((xx - (w - 1) / 2) ** 2 + (yy - (h - 1) / 2) ** 2) / (((w - 1) / 2) ** 2 + ((h - 1) / 2) ** 2)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = ((xx - w / 2) * math.cos(angle) + (yy - h / 2) * math.sin(angle)) / max(h, w)
    return (1.0 - optics.vignetting * r2) * (1.0 + optics.ramp * ramp)


def layout(rng: np.random.Generator, make: Maker, count: int, cell: int, columns: int) -> list[Shape]:
    """``count`` shapes, one per ``cell`` x ``cell`` square of a grid, each at a random sub-pixel spot.

    A shape that does not fit its cell with a 6 px margin is drawn again (so
    ``cell`` must exceed the largest shape by 12 px).
    """
    out = []
    for k in range(count):
        row, col = divmod(k, columns)
        for _ in range(100):
            shape = make(rng)
            x0, y0, x1, y1 = shape.bounds()
            slack_x, slack_y = cell - 12 - (x1 - x0), cell - 12 - (y1 - y0)
            if min(slack_x, slack_y) >= 0:
                break
        else:
            raise ValueError(f"cell {cell} px is too small for the shapes drawn")
        dx = col * cell + 6 - x0 + rng.uniform(0, slack_x)
        dy = row * cell + 6 - y0 + rng.uniform(0, slack_y)
        out.append(shape.moved(dx, dy))
    return out


def render(
    rng: np.random.Generator,
    shapes: list[Shape],
    size: tuple[int, int],
    optics: Optics,
    background: float | None = None,
    contrast: tuple[float, float] = (50.0, 110.0),
    dark: float = 0.5,
) -> Scene:
    """Photograph ``shapes`` (h, w = ``size``): each a flat level ``contrast`` away from the background.

    ``dark`` is the chance that an object is darker than the background (cracks are).
    """
    h, w = size
    bg = float(rng.uniform(80, 170)) if background is None else background
    radiance = np.full((h, w), bg)
    levels = []
    for shape in shapes:
        step = rng.uniform(*contrast) * (-1 if rng.random() < dark else 1)
        level = float(np.clip(bg + step, 12, 243))
        levels.append(level)
        sl, cover = _crop_coverage(shape, size)
        radiance[sl] += (level - bg) * cover
    light = light_field(rng, size, optics)
    picture = radiance * light
    if optics.blur_sigma > 0:
        picture = cv2.GaussianBlur(picture, (0, 0), optics.blur_sigma, borderType=cv2.BORDER_REFLECT)
    electrons = rng.poisson(np.clip(picture, 0, None) * optics.full_well / 255.0)
    picture = electrons * 255.0 / optics.full_well + rng.normal(0.0, optics.read_noise, picture.shape)
    gray = np.clip(np.round(picture), 0, 255).astype(np.uint8)
    return Scene(np.repeat(gray[..., None], 3, axis=2), shapes, levels, bg, light, optics)


def _crop_coverage(shape: Shape, size: tuple[int, int], margin: int = 2) -> tuple[tuple[slice, slice], np.ndarray]:
    """The shape's coverage on its bounding window (plus ``margin``), and where that window lies."""
    x0, y0, x1, y1 = shape.bounds()
    left, top = int(math.floor(x0)) - margin, int(math.floor(y0)) - margin
    right, bottom = int(math.ceil(x1)) + margin + 1, int(math.ceil(y1)) + margin + 1
    if left < 0 or top < 0 or right > size[1] or bottom > size[0]:
        raise ValueError("a shape lies partly outside the frame")
    cover = coverage(shape.outline - [left, top], (bottom - top, right - left))
    return (slice(top, bottom), slice(left, right)), cover


def exact_mask(shape: Shape, size: tuple[int, int]) -> np.ndarray:
    """The best a binary mask can be: pixels at least half covered by the shape."""
    out = np.zeros(size, bool)
    sl, cover = _crop_coverage(shape, size)
    out[sl] = cover >= 0.5
    return out


def grown_mask(
    shape: Shape, size: tuple[int, int], by: float, shift: tuple[float, float] = (0.0, 0.0), stride: int = 1
) -> np.ndarray:
    """A model's mask: pixel centres within ``by`` px outside the shape (inside it, for ``by`` < 0).

    ``shift`` moves the shape first. With ``stride`` > 1 the grown shape's
    coverage is averaged over ``stride`` x ``stride`` blocks, upsampled
    bilinearly and cut at one half, as YOLO-seg does with its prototype masks
    (stride 4 of its input; 8 frame pixels for a 640 px frame run at 320):
    corners come out round and the outline wavy.
    """
    moved = shape.moved(*shift)
    pad = int(math.ceil(abs(by))) + 2 * stride + 2
    x0, y0, x1, y1 = moved.bounds()
    left, top = int(math.floor(x0)) - pad, int(math.floor(y0)) - pad
    left, top = left - left % stride, top - top % stride  # on the prototype grid
    cols = -(-(int(math.ceil(x1)) + pad + 1 - left) // stride) * stride
    rows = -(-(int(math.ceil(y1)) + pad + 1 - top) // stride) * stride
    s = SUPERSAMPLE
    hi = np.zeros((rows * s, cols * s), np.uint8)
    corners = ((moved.outline - [left - 0.5, top - 0.5]) * s - 0.5) * 16  # sub-pixel vertices (shift=4)
    cv2.fillPoly(hi, [np.round(corners).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    if by >= 0:
        grown = cv2.distanceTransform(1 - hi, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= by * s
    else:
        grown = cv2.distanceTransform(hi, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > -by * s
    if stride == 1:
        local = grown[s // 2 :: s, s // 2 :: s]
    else:
        block = grown.reshape(rows // stride, stride * s, cols // stride, stride * s).mean(axis=(1, 3))
        local = cv2.resize(block.astype(np.float32), (cols, rows), interpolation=cv2.INTER_LINEAR) >= 0.5
    return _place(local, left, top, size)


def _place(local: np.ndarray, left: int, top: int, size: tuple[int, int]) -> np.ndarray:
    """A frame-sized mask holding ``local`` at (left, top), clipped to the frame."""
    out = np.zeros(size, bool)
    h, w = local.shape
    fy0, fx0 = max(0, top), max(0, left)
    fy1, fx1 = min(size[0], top + h), min(size[1], left + w)
    if fy1 > fy0 and fx1 > fx0:
        out[fy0:fy1, fx0:fx1] = local[fy0 - top : fy1 - top, fx0 - left : fx1 - left]
    return out


def threshold_mask(scene: Scene, index: int, level: float = 0.5, blur: int = 0) -> np.ndarray:
    """What a threshold node gives: pixels past ``level`` of the way from background to object.

    The levels are the generator's own (times the light at the object), as a
    well-set fixed threshold would be; ``blur`` (an odd kernel width, 0 for none)
    smooths the picture first, as ``detect.threshold``'s ``blur`` does. Only the
    connected part that overlaps the exact shape is kept.
    """
    shape, size = scene.shapes[index], scene.gray.shape
    x0, y0, x1, y1 = shape.bounds()
    cx, cy = int(round((x0 + x1) / 2)), int(round((y0 + y1) / 2))
    light = float(scene.light[cy, cx])
    obj, bg = scene.levels[index] * light, scene.background * light
    picture = scene.gray.astype(np.float32)
    if blur:
        picture = cv2.GaussianBlur(picture, (blur, blur), 0)
    cut = bg + level * (obj - bg)
    passed = (picture >= cut) if obj > bg else (picture <= cut)
    pad = 6
    window = np.zeros(size, bool)
    sl = (slice(max(0, int(y0) - pad), int(y1) + pad + 1), slice(max(0, int(x0) - pad), int(x1) + pad + 1))
    window[sl] = passed[sl]
    count, labels = cv2.connectedComponents(window.astype(np.uint8))
    inside = exact_mask(shape, size)
    keep = [k for k in range(1, count) if (inside & (labels == k)).any()]
    return np.isin(labels, keep) if keep else window & False
