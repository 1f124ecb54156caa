"""How well any method could measure an object in its picture: the Cramér-Rao floor of each figure.

A 2 px bar under a 1.5 px lens blur is nearly a Gaussian line whatever its
width: its width shows only in how much wider the line is than the blur, and
noise hides most of that. No algorithm can read it to 5 % from one look, and
a test that demands it cannot tell a good method from a bad one. This module
works out, for one object of a synthetic scene, how much the picture itself
says about its size: the Fisher information of the noiseless picture with
respect to its size parameters (a thin object's width; a blob's or a cornered
shape's scale, elongation and three-cornered bulge about its centre), with the nuisances a measurement must
estimate alongside it (the object's contrast, the background's level and
gradient, the object's position, and the lens blur, which every object of the
frame shows alike: :func:`frame_floors`).

Every simplification makes the floor lower, never higher: the real problem
has more unknowns (the shape's every other detail), and each unknown can
only add to a figure's variance. So an unbiased method's standard error on a
figure is at least :func:`frame_floors`' value for it; a stated uncertainty
well below it claims more than the picture holds. The noise is the
generator's own: shot noise on its full well, read noise and 8-bit rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from segflow.tools.synth import figures
from segflow.tools.synth.figures import Shape
from segflow.tools.synth.optics import Scene, coverage

SIZE_STEP = 0.02  # px of width, or of the scale's change times the object's size, for the derivative
MOVE_STEP = 0.05  # px, for the derivative in position
BLUR_STEP = 0.01  # px of the lens's sigma, for the derivative in blur


def _deformations(shape: Shape) -> tuple[Callable[[np.ndarray], Shape], np.ndarray, float]:
    """``shape`` as a function of its size parameters, their true values and the step for derivatives.

    A thin object (one with a centre line): its width, the outline rebuilt as the generator builds
    it (the centre line offset both ways). Any other: each vertex's distance from the centre
    times ``1 + a0 + a2 cos 2t + b2 sin 2t + a3 cos 3t + b3 sin 3t`` (t its angle about the
    centre): its size, how elongated it is and which way, and how three-cornered. Its position
    is a nuisance of its own (:func:`_information`).
    """
    if shape.centreline is not None:
        line = shape.centreline
        tangent = np.gradient(line, axis=0)
        normal = np.column_stack([-tangent[:, 1], tangent[:, 0]]) / np.hypot(*tangent.T)[:, None]

        def thin(p: np.ndarray) -> Shape:
            outline = np.vstack([line + normal * p[0] / 2, (line - normal * p[0] / 2)[::-1]])
            return Shape(shape.kind, outline, line)

        return thin, np.array([figures.truth(shape)["mean_width"]]), SIZE_STEP
    centre = shape.outline.mean(axis=0)
    offset = shape.outline - centre
    t = np.arctan2(offset[:, 1], offset[:, 0])
    modes = np.column_stack([np.ones_like(t), np.cos(2 * t), np.sin(2 * t), np.cos(3 * t), np.sin(3 * t)])

    def deformed(p: np.ndarray) -> Shape:
        return Shape(shape.kind, centre + offset * (1 + modes @ p)[:, None])

    return deformed, np.zeros(modes.shape[1]), SIZE_STEP / max(_extent(shape), 1.0)


def frame_floors(scene: Scene, names: tuple[str, ...], blur_known: bool = False) -> list[dict[str, float]]:
    """Each object's figures' standard-error floors (px, px² for area), the lens blur shared by the frame.

    One lens blurs the whole frame alike, so a method may learn the blur from every object at
    once: each object's floor counts the blur as unknown, known as well as all the other objects'
    pictures together can tell it (the joint Cramér-Rao bound of the frame, block by block).
    ``blur_known``: as if the lens's blur were given exactly (a lower floor still).
    NaN for a figure the shape does not define (a near-round blob's rectangle).
    """
    parts = [_information(scene, i) for i in range(len(scene.shapes))]
    blur_info = [1 / max(float(np.linalg.inv(p.information)[-1, -1]), 1e-300) for p in parts]
    total = sum(blur_info)
    out = []
    for part, own in zip(parts, blur_info, strict=True):
        information = part.information.copy()
        if blur_known:
            information = information[:-1, :-1]
        else:
            information[-1, -1] += total - own  # what the other objects tell of the blur
        covariance = np.linalg.inv(information)[: part.sizes, : part.sizes]
        row = {}
        for name in names:
            slope = part.slopes[name]
            row[name] = math.sqrt(max(float(slope @ covariance @ slope), 0.0)) if np.isfinite(slope).all() else math.nan
        out.append(row)
    return out


@dataclass(frozen=True)
class _Part:
    information: np.ndarray  # Fisher information of (sizes..., contrast, background x3, position x2, blur)
    sizes: int  # how many size parameters lead it
    slopes: dict[str, np.ndarray]  # each figure's gradient in the size parameters


def _information(scene: Scene, index: int) -> _Part:
    shape = scene.shapes[index]
    sigma = scene.optics.blur_sigma
    family, true_size, step = _deformations(shape)
    pad = int(math.ceil(3 * sigma)) + 4
    x0, y0, x1, y1 = shape.bounds()
    h, w = scene.gray.shape
    left, top = max(int(math.floor(x0)) - pad, 0), max(int(math.floor(y0)) - pad, 0)
    right, bottom = min(int(math.ceil(x1)) + pad + 1, w), min(int(math.ceil(y1)) + pad + 1, h)
    light = scene.light[top:bottom, left:right]
    size = (bottom - top, right - left)
    contrast = scene.levels[index] - scene.background

    def blur(radiance: np.ndarray, by: float = sigma) -> np.ndarray:
        return cv2.GaussianBlur(radiance, (0, 0), by, borderType=cv2.BORDER_REFLECT)

    def cover(s: Shape, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
        return coverage(s.outline - [left - dx, top - dy], size)

    def radiance(s: Shape, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
        return (scene.background + contrast * cover(s, dx, dy)) * light

    def picture(s: Shape, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
        return blur(radiance(s, dx, dy))

    base = family(true_size)
    base_cover = cover(base)
    base_radiance = (scene.background + contrast * base_cover) * light
    yy, xx = np.mgrid[0 : size[0], 0 : size[1]].astype(np.float64)
    moves = np.eye(len(true_size)) * step
    columns = [(picture(family(true_size + d)) - picture(family(true_size - d))) / (2 * step) for d in moves]
    columns += [
        blur(base_cover * light),  # contrast
        blur(light),  # background level
        blur((xx - xx.mean()) * light),  # background gradient, x
        blur((yy - yy.mean()) * light),  # and y
        (picture(base, MOVE_STEP) - picture(base, -MOVE_STEP)) / (2 * MOVE_STEP),  # position
        (picture(base, 0.0, MOVE_STEP) - picture(base, 0.0, -MOVE_STEP)) / (2 * MOVE_STEP),
        (blur(base_radiance, sigma + BLUR_STEP) - blur(base_radiance, sigma - BLUR_STEP)) / (2 * BLUR_STEP),
    ]
    mean = blur(base_radiance)
    optics = scene.optics
    variance = np.clip(mean, 0, None) * 255.0 / optics.full_well + optics.read_noise**2 + 1 / 12
    jac = np.column_stack([c.ravel() for c in columns])
    information = jac.T @ (jac / variance.ravel()[:, None])
    plus = [figures.truth(family(true_size + d)) for d in moves]
    minus = [figures.truth(family(true_size - d)) for d in moves]
    slopes = {name: np.array([(p[name] - m[name]) / (2 * step) for p, m in zip(plus, minus, strict=True)])
              for name in plus[0]}
    return _Part(information, len(true_size), slopes)


def _extent(shape: Shape) -> float:
    x0, y0, x1, y1 = shape.bounds()
    return max(x1 - x0, y1 - y0)
