"""segflow train's mask targets: a label polygon filled by exact coverage, not by every cell it touches."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segflow.tools.exact_targets import exact_mask_targets, exact_polygon_mask
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
