"""YOLO-seg dataset of conveyor stills: images, polygon labels, data.yaml.

One class, ``stone``.  Beans and debris appear in every image as unlabelled
background: the coffee workflow only has to find stones, and a second ``bean``
class would put ~40 bean masks per image into the loss against ~3 stones,
slowing from-scratch training on a CPU several-fold for a class nobody uses.
Every image is drawn from its own generator seeded by (seed, split, index),
so any single image can be regenerated without the others.

With ``videos`` the dataset also holds frames of generated conveyor videos, as
a camera over a moving belt delivers them: a 3 px motion blur along the belt
and H.264's blocks and chroma subsampling after the encoder's inter-frame
prediction, which a still put through one H.264 round trip does not have. Each
video has its own seed (never the video sample's, 7); the refiner's card says
what training with them gave.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from segflow.tools.synth import MM_PER_PX
from segflow.tools.synth.scene import Scene, clipped_mask, conveyor_still
from segflow.vision.yolo_dataset import mask_outline

CLASS_NAMES = {0: "stone"}
SPLITS = {"train": 0, "val": 1}
VIDEO_SPLITS = {"train": 2, "val": 3}  # a video's seed is drawn apart from the stills'
MIN_VISIBLE = 0.35  # a stone cut by a video frame's edge is labelled from this share of its area, as in the stills


def label_lines(scene: Scene) -> list[str]:
    """YOLO-seg label lines (class x1 y1 x2 y2 ..., normalised) for the stones of a scene.

    Each polygon is the stone's pixel-edge outline (:func:`mask_outline`), so the
    label covers exactly the stone's pixels: a model trained on it (with
    ``segflow train``'s exact targets) learns masks that are not fat.
    """
    h, w = scene.image.shape[:2]
    return mask_label_lines([clipped_mask(p, h, w) for p in scene.stones()], h, w)


def mask_label_lines(masks: list[np.ndarray], h: int, w: int) -> list[str]:
    lines = []
    for mask in masks:
        poly = mask_outline(mask)
        if len(poly) < 3:
            continue
        coords = " ".join(f"{x / w:.6f} {y / h:.6f}" for x, y in poly)
        lines.append(f"0 {coords}")
    return lines


def render(seed: int, split: str, index: int, h: int = 480, w: int = 640) -> Scene:
    """Render the still that ``write_dataset`` stores as split/index for this seed."""
    rng = np.random.default_rng([seed, SPLITS[split], index])
    return conveyor_still(rng, h, w, MM_PER_PX)


def video_seed(seed: int, split: str, index: int) -> int:
    """The conveyor video seed that ``write_dataset`` renders as video ``index`` of ``split``."""
    return int(np.random.SeedSequence([seed, VIDEO_SPLITS[split], index]).generate_state(1)[0])


def video_frames(seed: int, every: int) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """Every ``every``-th frame of a generated conveyor video as decoded from its H.264 file, with its stones' masks."""
    from segflow.tools.synth.video import render_conveyor, write_video

    video = render_conveyor(seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(video.frames, Path(tmp) / "belt.mp4", video.truth["fps"])
        capture = cv2.VideoCapture(str(path))
        whole = [int(p.sprite.mask.sum()) for p in video.stones]  # each stone's area in full view
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                in_view = (video.stone_mask(stone, index) for stone in range(len(video.stones)))
                yield frame, [m for m, area in zip(in_view, whole, strict=True) if m.sum() >= MIN_VISIBLE * area]
            index += 1
        capture.release()


def write_dataset(
    out: Path,
    n_train: int = 240,
    n_val: int = 60,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    videos: int = 0,
    val_videos: int = 0,
    every: int = 3,
) -> Path:
    """Write the dataset under ``out`` and return the path of its data.yaml.

    ``videos`` and ``val_videos`` add the frames of that many conveyor videos to each split
    (every ``every``-th frame); progress counts stills and videos.
    """
    out = Path(out)
    total, done = n_train + n_val + videos + val_videos, 0

    def write(split: str, name: str, image: np.ndarray, lines: list[str]) -> None:
        cv2.imwrite(str(out / "images" / split / f"{name}.png"), image)
        text = "\n".join(lines)
        (out / "labels" / split / f"{name}.txt").write_text(text + ("\n" if text else ""))

    for split, n, n_videos in (("train", n_train, videos), ("val", n_val, val_videos)):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            scene = render(seed, split, i)
            write(split, f"{split}_{i:05d}", scene.image, label_lines(scene))
            done += 1
            if progress:
                progress(done, total)
        for v in range(n_videos):
            for k, (frame, masks) in enumerate(video_frames(video_seed(seed, split, v), every)):
                h, w = frame.shape[:2]
                write(split, f"{split}_video{v:03d}_{k * every:04d}", frame, mask_label_lines(masks, h, w))
            done += 1
            if progress:
                progress(done, total)
    data = out / "data.yaml"
    data.write_text(
        "# Generated by `segflow generate dataset`: synthetic conveyor stills, stones labelled.\n"
        f"# seed: {seed}, mm_per_px: {MM_PER_PX}; paths are relative to this file's folder.\n"
        + (f"# with the frames of {videos} + {val_videos} conveyor videos (every {every}th frame, H.264).\n"
           if videos or val_videos else "")
        + "train: images/train\n"
        "val: images/val\n"
        "names:\n" + "".join(f"  {k}: {v}\n" for k, v in CLASS_NAMES.items())
    )
    return data
