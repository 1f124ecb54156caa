"""Crops of conveyor objects for a classifier: one folder per class (bean, stone, debris).

A two-stage pipeline finds every object on the belt first (a threshold or a
detector) and asks a classifier what each one is. This writes the crops such a
classifier learns from, cut the way a crop node cuts them: the object's box in
the frame with a margin (drawn from 5 % to 30 % of the box on each side, so the
classifier does not depend on one margin setting), clipped to the frame.

The stills are the conveyor scenes of :mod:`segflow.tools.synth.scene`, which
already blur (σ 0.3–1.3 px) and add noise; half of the frames then go through
a softer lens (Gaussian σ 0.8–1.8 px) with more sensor noise (σ 2–6 levels),
as a cheaper camera or a slightly defocused one would give. Objects less than
60 % in view are skipped. Beans outnumber stones ten to one on a belt, so at
most three beans are taken per frame and every split stops at the same count
per class: accuracy on it is not a bean count in disguise.

Splits ``train``, ``val`` and ``test`` draw from separate random streams
(seeded by (seed, split, frame)), so no frame or object is shared: ``test`` is
held out from training and from the choice of the best epoch.

:func:`render_objects` is one still of the same kind through the soft lens, with
every object's kind, box and centre as ground truth: the sample the two-stage
example workflow (threshold -> crop -> classify) is checked against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from segflow.tools.synth import MM_PER_PX, write_sample
from segflow.tools.synth.scene import Placed, clipped_mask, conveyor_still, visible_fraction

CLASSES = ("bean", "debris", "stone")
SPLITS = {"train": 0, "val": 1, "test": 2}
BEANS_PER_FRAME = 3
MIN_VISIBLE = 0.6
MAX_FRAMES_PER_CROP = 4  # give up on a split after this many frames per crop asked for


def soften(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A softer lens and a noisier sensor over a finished BGR frame."""
    blurred = cv2.GaussianBlur(image.astype(np.float32), (0, 0), float(rng.uniform(0.8, 1.8)))
    noisy = blurred + rng.normal(0.0, rng.uniform(2.0, 6.0), image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def cut(rng: np.random.Generator, image: np.ndarray, placed: Placed) -> np.ndarray:
    """The object's box with a random relative margin, clipped to the frame."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = placed.bbox()
    mx, my = (x1 - x0) * rng.uniform(0.05, 0.3), (y1 - y0) * rng.uniform(0.05, 0.3)
    left, top = max(int(x0 - mx), 0), max(int(y0 - my), 0)
    right, bottom = min(int(np.ceil(x1 + mx)), w), min(int(np.ceil(y1 + my)), h)
    return image[top:bottom, left:right]


def frame_crops(rng: np.random.Generator) -> Iterator[tuple[str, np.ndarray]]:
    """(class, crop) for the objects of one rendered still."""
    scene = conveyor_still(rng, mm_per_px=MM_PER_PX)
    image = soften(rng, scene.image) if rng.random() < 0.5 else scene.image
    h, w = image.shape[:2]
    beans = 0
    for placed in scene.objects:
        if visible_fraction(placed, h, w) < MIN_VISIBLE:
            continue
        if placed.sprite.kind == "bean":
            if beans == BEANS_PER_FRAME:
                continue
            beans += 1
        yield placed.sprite.kind, cut(rng, image, placed)


def write_crops(
    out: Path,
    per_class: dict[str, int],
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, int]]:
    """Write ``out/<split>/<class>/<frame>_<n>.png`` for each split; return the counts written.

    ``per_class``: crops per class for each split, e.g. ``{"train": 400, "val": 100, "test": 150}``.
    """
    out = Path(out)
    total, done = sum(per_class.values()) * len(CLASSES), 0
    counts: dict[str, dict[str, int]] = {}
    for split, wanted in per_class.items():
        count = dict.fromkeys(CLASSES, 0)
        for name in CLASSES:
            (out / split / name).mkdir(parents=True, exist_ok=True)
        for frame in range(wanted * MAX_FRAMES_PER_CROP):
            if min(count.values()) == wanted:
                break
            rng = np.random.default_rng([seed, SPLITS[split], frame])
            for n, (kind, crop) in enumerate(frame_crops(rng)):
                if count[kind] == wanted or min(crop.shape[:2]) < 4:
                    continue
                cv2.imwrite(str(out / split / kind / f"{frame:05d}_{n:02d}.png"), crop)
                count[kind] += 1
                done += 1
                if progress:
                    progress(done, total)
        counts[split] = count
    return counts


OBJECTS_SPLIT = 3  # the sample still's random stream: none of the crop splits'


def render_objects(seed: int = 32) -> tuple[np.ndarray, dict]:
    """(BGR still through the soft lens, ground truth: every object's kind, box and mask centre)."""
    rng = np.random.default_rng([seed, OBJECTS_SPLIT])
    scene = conveyor_still(rng, mm_per_px=MM_PER_PX)
    image = soften(rng, scene.image)
    h, w = image.shape[:2]
    objects = []
    for placed in scene.objects:
        mask = clipped_mask(placed, h, w)
        if not mask.any():
            continue
        ys, xs = np.nonzero(mask)
        objects.append({
            "kind": placed.sprite.kind,
            "box": [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1],
            "center_px": [round(float(xs.mean()), 2), round(float(ys.mean()), 2)],
            "visible": round(visible_fraction(placed, h, w), 3),
        })
    truth = {
        "generator": "segflow.tools.synth.crops.render_objects",
        "seed": seed,
        "width": w,
        "height": h,
        "mm_per_px": MM_PER_PX,
        "counts": {name: sum(o["kind"] == name for o in objects) for name in CLASSES},
        "objects": objects,
    }
    return image, truth


def write_objects(out_png: Path, seed: int = 32) -> dict:
    """Write the still and its ground truth (same name, .json)."""
    return write_sample(out_png, *render_objects(seed))
