"""An object's outline located in the frame: from the image's grey levels, or the mask's own edges.

:func:`locate` crops the mask (with room for the edge search of
:mod:`segflow.vision.edges`), reads the grey levels there and returns an
:class:`Outline`: a field whose zero level is the outline, in that crop. The
geometry of :mod:`segflow.vision.mask_geometry` measures it; the node writes
its :meth:`Outline.mask` back as the detection's mask.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from segflow.vision.edges import BORDER, EdgeFit, fit_edges, from_mask


@dataclass(frozen=True)
class Outline:
    """One object's outline in a crop at (x0, y0) of the frame: the zero level of ``fit.level``."""

    x0: int
    y0: int
    fit: EdgeFit
    frame: tuple[int, int] | None = None  # the frame's height and width, where the crop reaches past it

    @property
    def cover(self) -> np.ndarray:
        """Each crop pixel's share inside the outline (0..1); none beyond the frame.

        Beyond the frame the level is the frame's mirror image (:func:`_mirror_beyond_frame`,
        so that an edge cut by the frame lies on it); its pixels are no part of the object.
        Counted, they added a ghost of the object's edge pixels: a 14 px blob 6 px from the
        frame's top edge read +6.4 % in area, a 12 px ellipse in a corner +16 %.
        """
        cover = np.clip(0.5 - self.fit.level, 0.0, 1.0)
        if self.frame is not None:
            h, w = cover.shape
            rows, cols = np.arange(h) + self.y0, np.arange(w) + self.x0
            beyond = ((rows < 0) | (rows >= self.frame[0]))[:, None] | ((cols < 0) | (cols >= self.frame[1]))[None, :]
            cover = np.where(beyond, 0.0, cover)
        return cover

    def mask(self, shape: tuple[int, ...]) -> np.ndarray:
        """The refined outline as a frame-sized mask (pixel centres inside it)."""
        full = np.zeros(shape[:2], bool)
        inside = self.fit.level < 0
        h, w = inside.shape
        top, left = max(self.y0, 0), max(self.x0, 0)
        bottom, right = min(self.y0 + h, shape[0]), min(self.x0 + w, shape[1])
        if bottom > top and right > left:
            full[top:bottom, left:right] = inside[top - self.y0 : bottom - self.y0, left - self.x0 : right - self.x0]
        return full


def locate(mask: np.ndarray, gray: np.ndarray | None = None, sigma_hint: float | None = None,
           others: np.ndarray | None = None, reason: str = "no image", hint_u: float = 0.0,
           shapes: bool = True) -> Outline | None:
    """Where the object ``mask`` hints at really ends: from the image's levels, else the mask's edges.

    ``gray`` is one channel or a BGR frame; of a frame, the channel (or grey) in which this
    object stands out most from what is around it is used: a red cherry's edge against its own
    dark shadow shows in red, not in grey. ``others`` (frame-sized) marks other objects'
    pixels, whose levels are not this object's background; ``sigma_hint`` is the frame's edge
    blur and ``hint_u`` its standard uncertainty; ``shapes``: also try whole shapes on a small
    object (:func:`segflow.vision.edges.fit_edges`). Beyond the frame there are no levels: an
    object cut by the frame's edge ends there.
    """
    job = edge_job(mask, gray, sigma_hint, others, reason, hint_u, shapes)
    return None if job is None else run_edge_job(job)


@dataclass(frozen=True)
class EdgeJob:
    """One object's edge search, cut out of the frame: all a worker process needs (a few kB, not a frame)."""

    crop: np.ndarray  # the mask, cropped with its empty border
    x0: int
    y0: int
    window: np.ndarray | None  # the grey levels over the crop (NaN: unseen or another object's); None: mask edges
    frame: tuple[int, int]  # the frame's height and width
    sigma_hint: float | None = None
    hint_u: float = 0.0
    shapes: bool = True
    reason: str = "no image"


def edge_job(mask: np.ndarray, gray: np.ndarray | None = None, sigma_hint: float | None = None,
             others: np.ndarray | None = None, reason: str = "no image", hint_u: float = 0.0,
             shapes: bool = True) -> EdgeJob | None:
    """The cut-out work of :func:`locate` (its arguments); None for an empty mask."""
    crop, x0, y0 = crop_to_content(np.asarray(mask, dtype=bool), border=BORDER if gray is not None else 3)
    if not crop.any():
        return None
    frame = (int(mask.shape[0]), int(mask.shape[1]))
    if gray is None:  # the crop keeps the empty border of 3 px the pixel-edge points need
        return EdgeJob(crop, x0, y0, None, frame, reason=reason)
    window = _best_channel(crop, [crop_image(c, x0, y0, crop.shape) for c in _channels(gray)])
    if others is not None:
        window[(crop_image(others, x0, y0, crop.shape) > 0) & ~crop] = np.nan
    return EdgeJob(crop, x0, y0, window, frame, sigma_hint, hint_u, shapes, reason)


def run_edge_job(job: EdgeJob) -> Outline:
    """Fit one object's edges (in this process or a worker's)."""
    if job.window is None:
        return Outline(job.x0, job.y0, from_mask(job.crop, job.reason))
    fit = fit_edges(job.crop, job.window, job.sigma_hint, job.hint_u, job.shapes)
    if fit.method == "image":
        fit = _mirror_beyond_frame(fit, job.x0, job.y0, job.frame)
    return Outline(job.x0, job.y0, fit, job.frame)


def _channels(image: np.ndarray) -> list[np.ndarray]:
    if image.ndim == 2:
        return [image]
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return [grey] + [image[..., c] for c in range(image.shape[2])]


def _best_channel(crop: np.ndarray, windows: list[np.ndarray]) -> np.ndarray:
    """The window whose levels differ most between just inside the mask and a ring around it."""
    if len(windows) == 1:
        return windows[0]
    m = crop.astype(np.uint8)
    square = np.ones((3, 3), np.uint8)
    inside = cv2.erode(m, square, iterations=3).astype(bool)
    around = cv2.dilate(m, square, iterations=8).astype(bool) & ~cv2.dilate(m, square, iterations=5).astype(bool)
    if not inside.any() or not around.any():
        return windows[0]

    def separation(w: np.ndarray) -> float:
        a, b = w[inside & ~np.isnan(w)], w[around & ~np.isnan(w)]
        if len(a) == 0 or len(b) == 0:
            return 0.0
        return abs(float(a.mean() - b.mean())) / max(float(a.std() + b.std()), 1.0)

    return max(windows, key=separation)


def _mirror_beyond_frame(fit: EdgeFit, x0: int, y0: int, frame: tuple[int, int]) -> EdgeFit:
    """Outside the frame, the level mirrored (and made positive) about the frame's edge.

    Linear interpolation between a pixel inside the object at the border (level -l) and its
    mirror beyond it (+l) crosses zero exactly on the frame's edge.
    """
    h, w = fit.level.shape
    rows, cols = np.arange(h) + y0, np.arange(w) + x0
    if rows.min() >= 0 and cols.min() >= 0 and rows.max() < frame[0] and cols.max() < frame[1]:
        return fit
    mirror_r = np.clip(np.where(rows < 0, -1 - rows, np.where(rows >= frame[0], 2 * frame[0] - 1 - rows, rows)),
                       0, frame[0] - 1) - y0
    mirror_c = np.clip(np.where(cols < 0, -1 - cols, np.where(cols >= frame[1], 2 * frame[1] - 1 - cols, cols)),
                       0, frame[1] - 1) - x0
    outside = ((rows < 0) | (rows >= frame[0]))[:, None] | ((cols < 0) | (cols >= frame[1]))[None, :]
    mirrored = np.abs(fit.level[np.clip(mirror_r, 0, h - 1)][:, np.clip(mirror_c, 0, w - 1)])
    low, high = np.array([-0.5 - x0, -0.5 - y0]), np.array([frame[1] - 0.5 - x0, frame[0] - 0.5 - y0])
    loops = tuple(np.clip(loop, low, high) for loop in fit.outline)  # pressed onto the frame's edge
    return dataclasses.replace(fit, level=np.where(outside, mirrored, fit.level), outline=loops)


def crop_to_content(mask: np.ndarray, border: int = 1) -> tuple[np.ndarray, int, int]:
    """The mask's bounding crop with an empty ``border`` (pixels), plus its offset."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return np.zeros((0, 0), dtype=bool), 0, 0
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    crop = np.zeros((y1 - y0 + 2 * border, x1 - x0 + 2 * border), dtype=bool)
    crop[border:-border, border:-border] = mask[y0:y1, x0:x1]
    return crop, int(x0) - border, int(y0) - border


def crop_image(image: np.ndarray, x0: int, y0: int, shape: tuple[int, int]) -> np.ndarray:
    """The window of ``image`` at offset (x0, y0) and ``shape`` as float64, NaN outside the image."""
    h, w = shape
    window = np.full((h, w), np.nan)
    top, left = max(0, y0), max(0, x0)
    bottom, right = min(image.shape[0], y0 + h), min(image.shape[1], x0 + w)
    if bottom > top and right > left:
        window[top - y0 : bottom - y0, left - x0 : right - x0] = image[top:bottom, left:right]
    return window
