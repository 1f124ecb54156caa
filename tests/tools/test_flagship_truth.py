"""Tracked stones matched to the conveyor's truth, and their errors against it."""

from __future__ import annotations

import json

import pytest
import supervision as sv

from segflow.tools.flagship_truth import Sighting, compare, match, truth_box

TRUTH = {
    "belt_speed_px_per_frame": 8,
    "median_stone_length_mm": 10.0,
    "stones": [
        {"id": 1, "length_mm": 10.0, "area_mm2": 50.0, "bbox_at_first_full": [100, 50, 140, 80],
         "fully_visible": [0, 9]},
        {"id": 2, "length_mm": 6.0, "area_mm2": 20.0, "bbox_at_first_full": [300, 200, 324, 220],
         "fully_visible": [4, 12]},
    ],
}


def seen(stone: dict, frames: range, length: float, area: float, nudge: float = 1.0) -> list[Sighting]:
    out = []
    for t in frames:
        x0, y0, x1, y1 = truth_box(stone, t, 8)
        out.append(Sighting(t, (x0 - nudge, y0 - nudge, x1 + nudge, y1 + nudge), length, area))
    return out


def test_a_stone_moves_with_the_belt():
    assert truth_box(TRUTH["stones"][1], 6, 8) == (316, 200, 340, 220)


def test_tracks_are_matched_to_their_stones_and_id_switches_pooled():
    one, two = TRUTH["stones"]
    tracks = {("belt", 1): seen(one, range(0, 5), 10.4, 52.0), ("belt", 7): seen(one, range(5, 9), 10.6, 53.0),
              ("belt", 2): seen(two, range(4, 10), 5.9, 21.0),
              ("belt", 3): [Sighting(3, (500, 400, 520, 420), 9.0, 30.0)]}  # a bean taken for a stone
    pooled, unmatched = match(tracks, TRUTH)
    assert sorted(pooled) == [1, 2] and len(pooled[1]) == 9 and unmatched == 1
    errors = compare(tracks, TRUTH)
    by_stone = {s.stone: s for s in errors.stones}
    assert by_stone[1].length_error_mm == pytest.approx(0.4)  # median of 5 x 10.4 and 4 x 10.6
    assert by_stone[2].length_error_mm == pytest.approx(-0.1)
    assert errors.worst_stone.stone == 1
    assert errors.median_length_error == pytest.approx((10.4 + 5.9) / 2 / 10.0 - 1)
    assert by_stone[1].area_error == pytest.approx(0.04) and errors.worst_area.stone == 2
    assert errors.met == {"median length": False, "every stone's length": False, "every stone's area": False}
    text = "\n".join(errors.lines())
    assert "worst +0.40 mm (stone 1, 10.0 mm)" in text and "OUTSIDE" in text


def test_no_matched_stone_gives_no_errors():
    assert compare({("belt", 1): [Sighting(0, (0, 0, 5, 5), 1.0, 1.0)]}, TRUTH) is None


def test_mask_overlap_against_the_stones_rendered_again():
    """Exact masks score IoU 1; masks grown by a 3 x 3 dilation read 1-1.4 px outside (1 px along rows
    and columns, 1.4 px along diagonals).

    Per stone, the length error splits into the measurement's share (on the exact masks: the
    outline through the pixels' edge midpoints cuts the corners the truth is taken over, at most
    0.35 px at each end) and the masks': none for exact masks, and for grown ones
    what a 3 x 3 square adds to a length in any direction, 2 to 2.83 px (0.5-0.71 mm).
    """
    import cv2
    import numpy as np

    from segflow.engine.frame import PacketInfo
    from segflow.tools.flagship_truth import MaskCollector, mask_overlap
    from segflow.tools.synth.video import render_conveyor

    video = render_conveyor(seed=2, seconds=1.0, fps=15, n_stones=2)
    truth = json.loads(json.dumps(video.truth))
    grow = np.ones((3, 3), np.uint8)
    scores = []
    for dilate in (False, True):
        masks = MaskCollector(("detect", "detections"))
        for frame in range(truth["frames"]):
            stones = [video.stone_mask(i, frame) for i in range(len(truth["stones"]))]
            stones = [cv2.dilate(m.astype(np.uint8), grow).astype(bool) if dilate else m for m in stones]
            stones = [m for m in stones if m.any()]
            boxes = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] for ys, xs in (np.nonzero(m) for m in stones)]
            dets = sv.Detections(xyxy=np.array(boxes, float).reshape(-1, 4),
                                 mask=np.array(stones).reshape(-1, 480, 640))
            masks.on_packet_done(info=PacketInfo("belt", frame, frame / 15), values={("detect", "detections"): dets})
        scores.append(mask_overlap(masks, truth))
    exact, fat = scores
    assert exact["masks"] > 0 and exact["median_iou"] == 1.0 and exact["median_reach_px"] == 0.0
    assert fat["median_iou"] < 0.95 and fat["median_area_ratio"] > 1.1
    assert 1.0 < fat["median_reach_px"] < 1.45
    mm_per_px = truth["mm_per_px"]
    assert [s.stone for s in exact["per_stone"]] == [s["id"] for s in truth["stones"]]
    for ours, grown in zip(exact["per_stone"], fat["per_stone"], strict=True):
        assert ours.mask_share_mm == 0.0
        assert -0.72 * mm_per_px < ours.measurement_share_mm <= 0.0  # corners cut: <= 0.35 px an end
        assert grown.measurement_share_mm == ours.measurement_share_mm
        assert 1.9 * mm_per_px < grown.mask_share_mm < 2.9 * mm_per_px
        assert f"stone {ours.stone:>2}" in grown.line()


def test_each_sighting_is_scored_against_its_stated_uncertainty():
    """Length and area errors sighting by sighting against twice the u each record states; no u, no score."""
    one, two = TRUTH["stones"]
    tracks = {("belt", 1): [Sighting(t, truth_box(one, t, 8), 10.3, 51.0, 0.2, 0.6) for t in range(4)]  # 0.3 <= 0.4
                           + [Sighting(4, truth_box(one, 4, 8), 10.5, 53.1, 0.2, 1.5)],  # 0.5 > 0.4; 3.1 > 3.0
              ("belt", 2): [Sighting(t, truth_box(two, t, 8), 5.7, 20.5, 0.1, 0.2) for t in range(4, 9)]  # 0.3 > 0.2
                           + [Sighting(9, truth_box(two, 9, 8), 5.7, 20.5)]}  # no stated u: left out
    errors = compare(tracks, TRUTH)
    assert (errors.length_coverage.within, errors.length_coverage.stated) == (4, 10)
    assert (errors.area_coverage.within, errors.area_coverage.stated) == (4, 10)  # 0.5 > 2 x 0.2 on stone 2
    assert errors.to_dict()["length_within_2u"] == pytest.approx(0.4)
    assert "length within 2u of the truth in 40.0% of 10 sightings, area 40.0% (OUTSIDE" in "\n".join(errors.lines())


def test_no_stated_uncertainty_claims_no_coverage():
    one = TRUTH["stones"][0]
    errors = compare({("belt", 1): seen(one, range(0, 5), 10.1, 50.0)}, TRUTH)
    assert errors.length_coverage.stated == 0 and errors.to_dict()["length_within_2u"] is None
    assert not any("within 2u" in line for line in errors.lines())
