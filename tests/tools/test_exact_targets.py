"""segflow train's mask targets: a label polygon filled by exact coverage, not by every cell it touches."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from segflow.tools.exact_targets import exact_mask_targets, exact_polygon_mask, outlines_for_traces
from segflow.vision.outline_fill import is_trace, polygon_pixels, trace_pixels
from segflow.vision.yolo_dataset import mask_outline


def flat(points) -> np.ndarray:
    return np.asarray(points, np.float64).reshape(-1)


def test_a_square_fills_exactly_its_cells_where_fillpoly_paints_a_border_more():
    from ultralytics.data.utils import polygon2mask

    square = flat([[10, 10], [20, 10], [20, 20], [10, 20]])  # continuous: cells 10..19
    ours = exact_polygon_mask((40, 40), [square])
    assert ours.sum() == 100 and ours[10:20, 10:20].all()
    assert polygon2mask((40, 40), [square]).sum() == 121  # ultralytics: the outline's cells too


def test_a_half_covered_cell_is_in_and_a_fifth_covered_cell_is_out():
    wide = exact_polygon_mask((10, 10), [flat([[2, 2], [6.5, 2], [6.5, 4], [2, 4]])])
    narrow = exact_polygon_mask((10, 10), [flat([[2, 2], [6.2, 2], [6.2, 4], [2, 4]])])
    assert wide[2:4, 6].all() and not narrow[2:4, 6].any()


def test_a_quarter_size_target_covers_the_quarter_size_cells():
    square = flat([[8, 8], [48, 8], [48, 48], [8, 48]])  # 40 px in a 64 px image -> cells 2..11 at ratio 4
    target = exact_polygon_mask((64, 64), [square], downsample_ratio=4)
    assert target.shape == (16, 16) and target.sum() == 100 and target[2:12, 2:12].all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_masks_pixel_edge_outline_fills_back_to_the_same_pixels(seed):
    """The label the generator writes, filled as training fills it, is the stone's mask again."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((60, 80), np.uint8)
    centre = rng.uniform(30, 50), rng.uniform(25, 35)
    axes = rng.uniform(8, 16), rng.uniform(5, 12)
    cv2.ellipse(mask, (centre, axes, rng.uniform(0, 180)), 1, -1)
    mask = mask.astype(bool)
    outline = mask_outline(mask)  # the pixels' outer edges, traced 1/8 px inside
    shortfall = mask.sum() - cv2.contourArea(outline)
    assert 0 <= shortfall <= cv2.arcLength(outline, True) / 6
    filled = exact_polygon_mask(mask.shape, [outline.reshape(-1)]).astype(bool)
    assert (filled ^ mask).sum() == 0


def test_the_patch_holds_only_inside_the_block():
    import ultralytics.data.utils as data_utils

    original = data_utils.polygon2mask
    with exact_mask_targets():
        assert data_utils.polygon2mask is exact_polygon_mask
        square = flat([[10, 10], [20, 10], [20, 20], [10, 20]])
        assert data_utils.polygons2masks((40, 40), [square], color=1).sum() == 100
    assert data_utils.polygon2mask is original


def stone_mask(seed: int, shape: tuple[int, int] = (60, 80)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, np.uint8)
    centre = rng.uniform(0.4, 0.6) * shape[1], rng.uniform(0.4, 0.6) * shape[0]
    cv2.ellipse(mask, (centre, (rng.uniform(10, 30), rng.uniform(6, 20)), rng.uniform(0, 180)), 1, -1)
    return mask.astype(bool)


def trace_of(mask: np.ndarray) -> np.ndarray:
    """How segflow's labeller wrote a mask before the outline convention: through its border pixels' centres."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return cv2.approxPolyDP(max(contours, key=cv2.contourArea), 0.7, True).reshape(-1, 2).astype(np.float64)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_an_old_trace_read_as_an_outline_loses_a_row_and_a_column_and_is_read_as_a_trace(seed):
    """The bias this guards against, measured, then gone: each kind of label comes back as its mask."""
    mask = stone_mask(seed)
    trace, outline = trace_of(mask), mask_outline(mask)
    assert is_trace(trace) and not is_trace(outline)
    as_outline = exact_polygon_mask(mask.shape, [trace.reshape(-1)]).astype(bool)
    assert mask.sum() - as_outline.sum() >= 0.02 * mask.sum()  # a strip along two sides: -5 % at 20 px
    assert (polygon_pixels(outline, *mask.shape) ^ mask).sum() == 0
    # a trace was simplified (0.7 px) as it was written: it stands for what fillPoly made of it, as it always did
    old = trace_pixels(trace, *mask.shape)
    assert (polygon_pixels(trace, *mask.shape) ^ old).sum() == 0 and (old ^ mask).sum() <= 0.05 * mask.sum()


def test_a_label_near_whole_pixels_is_an_outline_and_a_tiny_one_is_nothing():
    assert not is_trace(np.array([[10, 10], [20.3, 10], [20, 20]]))
    assert not is_trace(np.array([[10, 10], [20, 10]]))
    assert is_trace(np.array([[10.004, 10], [20, 9.996], [20, 20]]))  # six decimals of a 640 px image
    assert not polygon_pixels(np.array([[1, 1], [2, 2]]), 8, 8).any()


def test_loaded_traces_become_outlines_before_augmentation_and_their_boxes_follow():
    h, w = 60, 80
    mask = stone_mask(6, (h, w))
    trace = (trace_of(mask) / (w, h)).astype(np.float32)
    outline = (mask_outline(stone_mask(7, (h, w))) / (w, h)).astype(np.float32)
    boxes = np.array([[0.5, 0.5, 0.1, 0.1], [0.5, 0.5, 0.1, 0.1]], np.float32)
    label = {"shape": (h, w), "segments": [trace, outline.copy()], "bboxes": boxes}
    assert outlines_for_traces([label]) == 1
    assert np.array_equal(label["segments"][1], outline)  # an outline is left alone
    converted = label["segments"][0] * (w, h)
    meant = trace_pixels(trace * (w, h), h, w)
    assert not is_trace(converted) and (polygon_pixels(converted, h, w) ^ meant).sum() == 0
    ys, xs = np.nonzero(meant)
    cx, cy, bw, bh = label["bboxes"][0] * (w, h, w, h)
    assert abs(bw - (np.ptp(xs) + 1)) <= 0.3 and abs(bh - (np.ptp(ys) + 1)) <= 0.3  # the pixels' extent
    assert abs(cx - (xs.min() + xs.max() + 1) / 2) <= 0.15 and abs(cy - (ys.min() + ys.max() + 1) / 2) <= 0.15


def test_ultralytics_dataset_builds_both_kinds_of_label_into_their_masks(tmp_path):
    """Through ultralytics' own dataset (files on disk, its label cache, its target builder) at mask_ratio 1."""
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.utils import DEFAULT_CFG

    h = w = 64
    masks = {"old": stone_mask(8, (h, w)), "new": stone_mask(9, (h, w))}
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for key, mask in masks.items():
        cv2.imwrite(str(tmp_path / "images" / f"{key}.png"), np.full((h, w, 3), 90, np.uint8))
        polygon = trace_of(mask) if key == "old" else mask_outline(mask)
        line = " ".join(f"{v:.6f}" for v in (polygon / (w, h)).reshape(-1))
        (tmp_path / "labels" / f"{key}.txt").write_text(f"0 {line}\n")
    cfg = get_cfg(DEFAULT_CFG, {"task": "segment", "imgsz": w, "mask_ratio": 1, "overlap_mask": False,
                                "rect": False, "cache": False, "fraction": 1.0})
    data = {"names": {0: "stone"}, "nc": 1, "channels": 3}
    with exact_mask_targets():
        dataset = build_yolo_dataset(cfg, str(tmp_path / "images"), 1, data, mode="val")
        items = {Path(item["im_file"]).stem: item["masks"][0].numpy().astype(bool)
                 for item in (dataset[i] for i in range(len(dataset)))}
    old = trace_pixels(trace_of(masks["old"]), h, w)  # what the old labeller's trace stood for
    assert (items["old"] ^ old).sum() == 0 and (items["new"] ^ masks["new"]).sum() == 0
