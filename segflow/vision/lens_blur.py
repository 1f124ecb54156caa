"""The lens's blur, measured once on a calibration picture, for objects too thin to show it.

A stroke narrower than about 2.5 times the lens's blur (sigma) has a profile
that is nearly a Gaussian whatever its width: width and blur trade off, and
1 % in sigma is 4-9 % in a 2-3 px crack's width. ``measure.masks`` takes the
blur from the frame's larger objects, but an inspection frame often holds one
or two cracks and nothing else; those then fit their own blur and may read
half or twice their width. The blur is the lens's at a working distance, so it
can be measured once: photograph something with large, flat, sharp-edged
patches (printed black squares, a checkerboard, a calibration card) where the
parts will be, and let each patch's edges say it (:func:`lens_blur`).
``measure.masks``' ``lens_blur_px`` and ``lens_blur_px_u`` take the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from segflow.vision.outline import locate

MIN_AREA = 150  # px: a patch must have an interior beyond the edge search band
MAX_SHARE = 0.25  # of the frame: larger is the background, not a patch
MIN_PATCHES = 3
MAX_PATCHES = 60  # the largest; more add time, not accuracy
MIN_U = 0.01  # relative: the edge model's own limit (on the truth bench, wide objects' median blur is 0.2-1.3 % off)


@dataclass(frozen=True)
class LensBlur:
    """The blur (Gaussian sigma, px), its standard uncertainty, and the patches it came from."""

    sigma: float
    sigma_u: float
    patches: int
    spread: float  # the patches' robust standard deviation: a wide one says the focus varies


def median_with_u(values: list[float], floor: float) -> tuple[float, float, float]:
    """Median, its standard error (at least ``floor`` of it) and the values' robust spread."""
    median = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(np.array(values) - median)))
    return median, max(1.2533 * spread / math.sqrt(len(values)), floor * median), spread


def otsu(values: np.ndarray) -> float:
    """Otsu's level for a set of 8-bit grey levels."""
    level, _ = cv2.threshold(values.reshape(1, -1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(level)


def levels(blurred: np.ndarray) -> list[float]:
    """Otsu's level, then Otsu's within each side of it.

    A card with dark and light patches on mid grey has three grey levels: one
    threshold splits off only the dark patches or only the light ones (the
    others merge with the card), so each side is split once more.
    """
    middle = otsu(blurred)
    out = [middle]
    for side in (blurred[blurred <= middle], blurred[blurred > middle]):
        if side.size > MIN_AREA and side.max() > side.min():
            out.append(otsu(side))
    return out


def patches(gray: np.ndarray) -> list[np.ndarray]:
    """The dark and bright patches of a calibration picture, off the frame's edge.

    Each level of :func:`levels` is tried both ways round; a patch found at
    several levels is kept once.
    """
    blurred = cv2.GaussianBlur(gray, (0, 0), 1.0)
    h, w = gray.shape
    found = []
    for level in levels(blurred):
        for side in (blurred < level, blurred > level):
            count, labels, stats, _ = cv2.connectedComponentsWithStats(side.astype(np.uint8), connectivity=8)
            for k in range(1, count):
                x, y, bw, bh, area = stats[k]
                if area < MIN_AREA or area > MAX_SHARE * h * w or x == 0 or y == 0 or x + bw == w or y + bh == h:
                    continue
                found.append((int(area), labels == k))
    found.sort(key=lambda item: -item[0])
    taken = np.zeros((h, w), bool)
    kept = []
    for _, mask in found:
        if np.any(mask & taken):
            continue  # the same patch split off at another level (or one overlapping a kept patch)
        taken |= mask
        kept.append(mask)
    return kept[:MAX_PATCHES]


def lens_blur(image: np.ndarray) -> LensBlur | str:
    """The blur the patches' edges in ``image`` (grey or BGR) show; or why it cannot be told."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    masks = patches(gray)
    every = np.sum(masks, axis=0) if masks else None
    blurs = []
    for mask in masks:
        outline = locate(mask, gray, others=(every - mask) > 0, shapes=False)
        # only a patch whose own level was read inside it: its edges are a full step
        if outline is not None and outline.fit.method == "image" and outline.fit.plateau:
            blurs.append(outline.fit.sigma)
    if len(blurs) < MIN_PATCHES:
        return (f"{len(blurs)} patches with sharp, flat edges found (at least {MIN_PATCHES} are needed): "
                f"photograph large dark patches on a light card (or the reverse), in focus where the parts will be")
    sigma, sigma_u, spread = median_with_u(blurs, MIN_U)
    return LensBlur(sigma, sigma_u, len(blurs), spread)
