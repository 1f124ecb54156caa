"""Conveyor video with ground truth: beans and stones riding a belt across the camera.

The belt is rendered once as a long strip (belt texture, shadows and all
objects) and each frame is a window sliding over it, so every object moves at
exactly the belt speed and keeps its identity: a tracker has to link a stone
over the ~50 frames it is in view to count it once.  Stones are placed so each
one is fully visible for at least ``MIN_FULL_FRAMES`` frames, which makes the
unique-stone count unambiguous.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segflow.tools.synth import MM_PER_PX
from segflow.tools.synth.scene import Camera, Occupancy, Placed, belt, clipped_mask, paste, scatter
from segflow.tools.synth.sprites import bean, debris, stone

MIN_FULL_FRAMES = 8


@dataclass
class ConveyorVideo:
    """Frames (BGR uint8), the ground truth dict written beside the video, and the stones as placed."""

    frames: list[np.ndarray]
    truth: dict
    stones: list[Placed] = field(default_factory=list)  # in the truth's order (id 1 first)
    strip_width: int = 0

    def stone_mask(self, index: int, frame: int) -> np.ndarray:
        """Stone ``index`` (0-based, truth order) as it lies in ``frame``: its exact pixels, frame-sized."""
        h, w = self.frames[frame].shape[:2]
        p = self.stones[index]
        left = self.strip_width - w - self.truth["belt_speed_px_per_frame"] * frame
        return clipped_mask(Placed(p.sprite, p.x - left, p.y), h, w)

    def stone_perimeter_px(self, index: int) -> float:
        poly = self.stones[index].sprite.polygon.astype(np.float64)
        return float(np.hypot(*np.diff(np.vstack([poly, poly[:1]]), axis=0).T).sum())


def _full_frames(p: Placed, strip_w: int, w: int, speed: int, n_frames: int) -> list[int]:
    """Frames in which a strip object lies wholly inside the camera window."""
    x0, _, x1, _ = p.bbox()
    out = []
    for t in range(n_frames):
        left = strip_w - w - speed * t
        if x0 >= left and x1 <= left + w:
            out.append(t)
    return out


def _visible_frames(p: Placed, strip_w: int, w: int, speed: int, n_frames: int) -> list[int]:
    x0, _, x1, _ = p.bbox()
    return [t for t in range(n_frames) if x1 > strip_w - w - speed * t and x0 < strip_w - speed * t]


def render_conveyor(
    seed: int = 7,
    seconds: float = 10.0,
    fps: int = 15,
    h: int = 480,
    w: int = 640,
    speed: int = 8,
    n_stones: int = 12,
    beans_per_frame: int = 45,
) -> ConveyorVideo:
    """Render the conveyor; objects move left to right at ``speed`` px per frame."""
    rng = np.random.default_rng(seed)
    n_frames = int(round(seconds * fps))
    strip_w = w + speed * (n_frames - 1)
    occ = Occupancy(h, strip_w, gap=3)

    def ok(p: Placed) -> bool:
        y0, y1 = p.bbox()[1], p.bbox()[3]
        return y0 >= 0 and y1 <= h and len(_full_frames(p, strip_w, w, speed, n_frames)) >= MIN_FULL_FRAMES

    stones = scatter(
        rng,
        occ,
        lambda r: stone(r, MM_PER_PX, length_mm=r.uniform(5.0, 15.0)),
        n_stones,
        (0, strip_w),
        (30, h - 30),
        accept=ok,
        tries=200,
    )
    n_beans = int(beans_per_frame * strip_w / w)
    beans = scatter(rng, occ, lambda r: bean(r, MM_PER_PX), n_beans, (-10, strip_w + 10), (-10, h + 10))
    extra = scatter(rng, occ, lambda r: debris(r, MM_PER_PX), int(strip_w / w * 1.5), (0, strip_w), (0, h))
    strip = belt(rng, h, strip_w)
    paste(strip, stones + beans + extra)
    camera = Camera.random(rng, h, w, motion_px=3)
    camera.blur_sigma = 0.6
    camera.noise_sigma = 3.0
    frames = []
    for t in range(n_frames):
        left = strip_w - w - speed * t
        flicker = 1.0 + 0.02 * np.sin(2 * np.pi * t / (fps / 2.0))
        frames.append(camera.shoot(rng, strip[:, left : left + w], flicker))
    order = sorted(stones, key=lambda p: -p.bbox()[2])  # first to enter the view first
    records = []
    for i, p in enumerate(order):
        full = _full_frames(p, strip_w, w, speed, n_frames)
        vis = _visible_frames(p, strip_w, w, speed, n_frames)
        records.append(
            {
                "id": i + 1,
                **p.sprite.info,
                "first_frame": vis[0],
                "last_frame": vis[-1],
                "fully_visible": [full[0], full[-1]],
                # Where the stone is at its first fully visible frame: bbox x0, y0, x1, y1 in px.
                "bbox_at_first_full": _bbox_at(p, strip_w, w, speed, full[0]),
            }
        )
    lengths = sorted(r["length_mm"] for r in records)
    colours = [r["colour_name"] for r in records]
    truth = {
        "generator": "segflow.tools.synth.video.render_conveyor",
        "seed": seed,
        "fps": fps,
        "frames": n_frames,
        "width": w,
        "height": h,
        "mm_per_px": MM_PER_PX,
        "belt_speed_px_per_frame": speed,
        "direction": "left to right",
        "stone_count": len(records),
        "bean_count": len(beans),
        "median_stone_length_mm": float(np.median(lengths)) if lengths else None,
        "most_common_stone_colour": max(set(colours), key=colours.count) if colours else None,
        "length_definition": "max Feret diameter of the stone outline, mm",
        "stones": records,
    }
    return ConveyorVideo(frames, truth, order, strip_w)


def _bbox_at(p: Placed, strip_w: int, w: int, speed: int, t: int) -> list[int]:
    x0, y0, x1, y1 = p.bbox()
    left = strip_w - w - speed * t
    return [x0 - left, y0, x1 - left, y1]


def write_video(frames: list[np.ndarray], path: Path, fps: int, crf: int = 26) -> Path:
    """Write BGR frames as H.264 MP4 (yuv420p, readable by OpenCV and browsers) with PyAV."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        vstream = container.add_stream("libx264", rate=fps)
        vstream.width, vstream.height, vstream.pix_fmt = w, h, "yuv420p"
        vstream.options = {"crf": str(crf), "preset": "medium", "threads": "1"}
        for img in frames:
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            for packet in vstream.encode(frame):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
    return path


def write_conveyor(out_mp4: Path, seed: int = 7, **kwargs) -> dict:
    """Render and write ``out_mp4`` plus ``out_mp4`` with a .json suffix (the ground truth)."""
    video = render_conveyor(seed=seed, **kwargs)
    out_mp4 = Path(out_mp4)
    write_video(video.frames, out_mp4, video.truth["fps"])
    out_mp4.with_suffix(".json").write_text(json.dumps(video.truth, indent=2) + "\n")
    return video.truth
