"""The flagship measured against its truth: each tracked stone's length and area vs the conveyor's generator.

The demo's tally (:class:`segflow.tools.demo.StoneTally`) keeps every sighting
of a tracked stone wholly in view: frame, box, length, area and, when asked,
the mask. Here each track is matched to the stone of ``conveyor.json`` whose
box (its box at its first fully visible frame, moved with the belt) overlaps
its sightings best, and each stone's figures (the median over its sightings)
are compared with the truth. The targets are issue 18's: the median length
within 2 % of the truth's median, every stone's length within 0.3 mm, every
stone's area within 5 %.

``python -m segflow.tools.demo workflows/coffee_stones.yaml --masks-of detect`` also
renders the video's stones again from the generator and seed the truth
names, and reports how well the detector's masks (as the model gives them,
before ``measure.masks``) overlap them (IoU) and how far outside the true
outline they run: the figures in the model card. Per stone it also splits the
length error in two (:class:`StoneSplit`): the measurement's share, the length
read from the stone's exact masks against the truth, and the masks' share, the
length read from the node's masks against that. ``--masks-of refine`` on the
flagship says which stones' error is the refiner's.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from segflow.engine.observe.hooks import RunHooks
from segflow.engine.workflow.graph import Ref
from segflow.vision.mask_geometry import measure_mask

TARGET_MEDIAN_LENGTH = 0.02  # relative
TARGET_STONE_LENGTH_MM = 0.3
TARGET_STONE_AREA = 0.05  # relative
TARGET_WITHIN_2U = 0.95  # share of sightings whose error is within twice its stated uncertainty
MIN_IOU = 0.5


@dataclass(frozen=True)
class Sighting:
    """One detection of a tracked stone wholly in view."""

    frame: int
    box: tuple[float, float, float, float]
    length_mm: float
    area_mm2: float
    length_u_mm: float = math.nan  # the record's stated standard uncertainty (NaN: none stated)
    area_u_mm2: float = math.nan


@dataclass(frozen=True)
class StoneResult:
    stone: int
    truth_length_mm: float
    length_mm: float
    truth_area_mm2: float
    area_mm2: float
    sightings: int

    @property
    def length_error_mm(self) -> float:
        return self.length_mm - self.truth_length_mm

    @property
    def area_error(self) -> float:
        return self.area_mm2 / self.truth_area_mm2 - 1


@dataclass(frozen=True)
class Coverage:
    """How often a figure's error, sighting by sighting, lies within twice its stated uncertainty."""

    within: int
    stated: int  # sightings that state an uncertainty

    @property
    def share(self) -> float:
        return self.within / self.stated if self.stated else math.nan

    @staticmethod
    def of(pairs: list[tuple[float, float]]) -> Coverage:
        """``pairs``: (error, stated u) per sighting; those without a finite u are left out."""
        stated = [(e, u) for e, u in pairs if math.isfinite(u)]
        return Coverage(sum(abs(e) <= 2 * u for e, u in stated), len(stated))


@dataclass(frozen=True)
class FlagshipErrors:
    stones: list[StoneResult]
    truth_median_length_mm: float
    unmatched_tracks: int
    length_coverage: Coverage = Coverage(0, 0)
    area_coverage: Coverage = Coverage(0, 0)

    @property
    def median_length_mm(self) -> float:
        return statistics.median(s.length_mm for s in self.stones)

    @property
    def median_length_error(self) -> float:
        """The measured median length against the truth's, relative (0.087 = 8.7 % long)."""
        return self.median_length_mm / self.truth_median_length_mm - 1

    @property
    def median_stone_error_mm(self) -> float:
        return statistics.median(s.length_error_mm for s in self.stones)

    @property
    def worst_stone(self) -> StoneResult:
        return max(self.stones, key=lambda s: abs(s.length_error_mm))

    @property
    def median_area_error(self) -> float:
        return statistics.median(s.area_error for s in self.stones)

    @property
    def worst_area(self) -> StoneResult:
        return max(self.stones, key=lambda s: abs(s.area_error))

    @property
    def met(self) -> dict[str, bool]:
        return {
            "median length": abs(self.median_length_error) <= TARGET_MEDIAN_LENGTH,
            "every stone's length": abs(self.worst_stone.length_error_mm) <= TARGET_STONE_LENGTH_MM,
            "every stone's area": abs(self.worst_area.area_error) <= TARGET_STONE_AREA,
        }

    def lines(self) -> list[str]:
        worst, area = self.worst_stone, self.worst_area
        median_ok, stones_ok, areas_ok = (("OK" if ok else "OUTSIDE") for ok in self.met.values())
        return [
            f"  length vs truth   median {self.median_length_mm:.2f} mm vs {self.truth_median_length_mm:.2f} mm: "
            f"{self.median_length_error:+.1%} ({median_ok}, target ±{TARGET_MEDIAN_LENGTH:.0%})",
            f"  per stone         median {self.median_stone_error_mm:+.2f} mm, worst {worst.length_error_mm:+.2f} mm "
            f"(stone {worst.stone}, {worst.truth_length_mm:.1f} mm) "
            f"({stones_ok}, target ±{TARGET_STONE_LENGTH_MM} mm)",
            f"  area vs truth     median {self.median_area_error:+.1%}, worst {area.area_error:+.1%} "
            f"(stone {area.stone}) ({areas_ok}, target ±{TARGET_STONE_AREA:.0%})",
            *self._coverage_lines(),
        ]

    def _coverage_lines(self) -> list[str]:
        length, area = self.length_coverage, self.area_coverage
        if not length.stated:
            return []
        ok = "OK" if min(length.share, area.share if area.stated else 1.0) >= TARGET_WITHIN_2U else "OUTSIDE"
        areas = f", area {area.share:.1%}" if area.stated else ""
        return [f"  uncertainty       length within 2u of the truth in {length.share:.1%} of {length.stated} "
                f"sightings{areas} ({ok}, target ≥{TARGET_WITHIN_2U:.0%})"]

    def to_dict(self) -> dict[str, Any]:
        return {"median_length_mm": round(self.median_length_mm, 3),
                "median_length_error": round(self.median_length_error, 4),
                "median_stone_error_mm": round(self.median_stone_error_mm, 3),
                "worst_stone_error_mm": round(self.worst_stone.length_error_mm, 3),
                "median_area_error": round(self.median_area_error, 4),
                "worst_area_error": round(self.worst_area.area_error, 4),
                "stones_matched": len(self.stones), "unmatched_tracks": self.unmatched_tracks,
                "targets_met": self.met,
                "length_within_2u": round(self.length_coverage.share, 4) if self.length_coverage.stated else None,
                "area_within_2u": round(self.area_coverage.share, 4) if self.area_coverage.stated else None,
                "sightings_with_u": self.length_coverage.stated,
                "per_stone": [{"stone": s.stone, "length_error_mm": round(s.length_error_mm, 3),
                               "area_error": round(s.area_error, 4), "sightings": s.sightings} for s in self.stones]}


def truth_box(stone: dict[str, Any], frame: int, speed: float) -> tuple[float, float, float, float]:
    """Where a stone of ``conveyor.json`` is at ``frame``: its first fully visible box moved with the belt."""
    x0, y0, x1, y1 = stone["bbox_at_first_full"]
    dx = speed * (frame - stone["fully_visible"][0])
    return x0 + dx, y0, x1 + dx, y1


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def match(tracks: dict[Any, list[Sighting]], truth: dict[str, Any]) -> tuple[dict[int, list[Sighting]], int]:
    """Each track's sightings under the truth stone its boxes overlap best (median IoU >= 0.5).

    A stone seen under two track ids (an id switch) pools both; a track no
    stone explains (a bean taken for a stone) is counted as unmatched.
    """
    speed = float(truth["belt_speed_px_per_frame"])
    pooled: dict[int, list[Sighting]] = {}
    unmatched = 0
    for sightings in tracks.values():
        if not sightings:
            continue
        scores = {s["id"]: statistics.median(box_iou(v.box, truth_box(s, v.frame, speed)) for v in sightings)
                  for s in truth["stones"]}
        best = max(scores, key=lambda k: scores[k])
        if scores[best] < MIN_IOU:
            unmatched += 1
            continue
        pooled.setdefault(best, []).extend(sightings)
    return pooled, unmatched


def compare(tracks: dict[Any, list[Sighting]], truth: dict[str, Any]) -> FlagshipErrors | None:
    """Per-stone errors of a run's sightings against ``conveyor.json``; None when no stone matched."""
    pooled, unmatched = match(tracks, truth)
    by_id = {s["id"]: s for s in truth["stones"]}
    stones = [
        StoneResult(k, by_id[k]["length_mm"], statistics.median(v.length_mm for v in seen),
                    by_id[k]["area_mm2"], statistics.median(v.area_mm2 for v in seen), len(seen))
        for k, seen in sorted(pooled.items())
    ]
    if not stones:
        return None
    lengths = [(v.length_mm - by_id[k]["length_mm"], v.length_u_mm) for k, seen in pooled.items() for v in seen]
    areas = [(v.area_mm2 - by_id[k]["area_mm2"], v.area_u_mm2) for k, seen in pooled.items() for v in seen]
    return FlagshipErrors(stones, float(truth["median_stone_length_mm"]), unmatched, Coverage.of(lengths),
                          Coverage.of(areas))


@dataclass(frozen=True)
class StoneSplit:
    """One stone's length error split in two: the measurement's share (on its exact masks) and the masks'."""

    stone: int
    truth_length_mm: float
    exact_mask_length_mm: float  # median over its frames wholly in view
    mask_length_mm: float
    frames: int

    @property
    def measurement_share_mm(self) -> float:
        return self.exact_mask_length_mm - self.truth_length_mm

    @property
    def mask_share_mm(self) -> float:
        return self.mask_length_mm - self.exact_mask_length_mm

    def to_dict(self) -> dict[str, Any]:
        return {"stone": self.stone, "truth_length_mm": self.truth_length_mm, "frames": self.frames,
                "exact_mask_length_mm": round(self.exact_mask_length_mm, 3),
                "mask_length_mm": round(self.mask_length_mm, 3),
                "measurement_share_mm": round(self.measurement_share_mm, 3),
                "mask_share_mm": round(self.mask_share_mm, 3)}

    def line(self) -> str:
        return (f"    stone {self.stone:>2} ({self.truth_length_mm:5.2f} mm, {self.frames:>3} frames): "
                f"{self.mask_length_mm - self.truth_length_mm:+.2f} mm = measurement {self.measurement_share_mm:+.2f}"
                f" + masks {self.mask_share_mm:+.2f}")


class MaskCollector(RunHooks):
    """Every mask one node's detections carry, per frame, with its box, cropped to the mask's own extent."""

    def __init__(self, detections: Ref) -> None:
        self.detections = detections
        self.frames: dict[int, list[tuple[tuple[float, float, float, float], np.ndarray, int, int]]] = \
            defaultdict(list)
        self._lock = threading.Lock()

    def on_packet_done(self, *, info: Any, values: dict[Any, Any], **future_kwargs: Any) -> None:
        dets = values.get(self.detections)
        if dets is None or dets.mask is None:
            return
        with self._lock:
            for box, mask in zip(dets.xyxy, dets.mask, strict=True):
                # The mask's own box: a refined mask may reach past the model's box.
                ys, xs = np.nonzero(mask)
                if not len(xs):
                    continue
                x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
                crop = mask[y0:y1, x0:x1].copy()
                self.frames[info.frame_index].append((tuple(float(v) for v in box), crop, x0, y0))


def rendered_again(truth: dict[str, Any]) -> Any:
    """The video's stones rendered again from the truth's generator and seed (``ConveyorVideo``)."""
    from segflow.tools.synth.video import render_conveyor

    return render_conveyor(seed=int(truth["seed"]), fps=int(truth["fps"]),
                           seconds=truth["frames"] / truth["fps"], h=int(truth["height"]), w=int(truth["width"]),
                           speed=int(truth["belt_speed_px_per_frame"]), n_stones=int(truth["stone_count"]))


def stone_masks(masks: MaskCollector, truth: dict[str, Any], video: Any,
                index: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """The frames in which stone ``index`` is wholly in view and matched by a mask (box IoU >= 0.5).

    Each as the frame, the stone's exact mask and that mask, both full-frame.
    """
    stone = truth["stones"][index]
    first, last = stone["fully_visible"]
    for frame in range(first, last + 1):
        where = truth_box(stone, frame, float(truth["belt_speed_px_per_frame"]))
        found = max(masks.frames.get(frame, []), key=lambda d: box_iou(d[0], where), default=None)
        if found is None or box_iou(found[0], where) < MIN_IOU:
            continue
        true = video.stone_mask(index, frame)
        mine = np.zeros_like(true)
        _, crop, x0, y0 = found
        h, w = crop[: true.shape[0] - y0, : true.shape[1] - x0].shape
        mine[y0 : y0 + h, x0 : x0 + w] = crop[:h, :w]
        yield frame, true, mine


def mask_overlap(masks: MaskCollector, truth: dict[str, Any]) -> dict[str, float]:
    """A node's masks against the stones rendered again from the truth's generator and seed.

    For every stone in every frame where it is wholly in view, the mask whose
    box overlaps the stone's best (box IoU >= 0.5). Returns the median IoU, the
    median area ratio, and how far outside the true outline a mask runs on
    average (area outside the stone minus area missed, over its perimeter, px).
    """
    video = rendered_again(truth)
    mm_per_px = float(truth["mm_per_px"])
    ious, ratios, reach = [], [], []
    per_stone = []
    for index, stone in enumerate(truth["stones"]):
        exact_lengths, mask_lengths = [], []
        for _, true, mine in stone_masks(masks, truth, video, index):
            ious.append((true & mine).sum() / (true | mine).sum())
            ratios.append(mine.sum() / true.sum())
            reach.append(((mine & ~true).sum() - (true & ~mine).sum()) / video.stone_perimeter_px(index))
            exact_lengths.append(measure_mask(true, skeleton=False).feret_max * mm_per_px)
            mask_lengths.append(measure_mask(mine, skeleton=False).feret_max * mm_per_px)
        if exact_lengths:
            exact, mask = statistics.median(exact_lengths), statistics.median(mask_lengths)
            per_stone.append(StoneSplit(int(stone["id"]), float(stone["length_mm"]), exact, mask, len(exact_lengths)))
    if not ious:
        return {"masks": 0}
    return {"masks": len(ious), "median_iou": round(float(np.median(ious)), 4),
            "p10_iou": round(float(np.percentile(ious, 10)), 4),
            "median_area_ratio": round(float(np.median(ratios)), 4),
            "median_reach_px": round(float(np.median(reach)), 3), "per_stone": per_stone}
