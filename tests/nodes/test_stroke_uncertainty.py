"""A straight stroke's figures: its outline stays straight, and its _u comes from its own fit.

On the truth bench's bars (2-6 px wide, 20-50 px long, lens blur 0.7-1.5 px, shot and read
noise, vignetting; realistic masks), measured through ``measure.masks`` as a user would.
"""

from __future__ import annotations

import numpy as np
import pytest

from segflow.tools.measure_truth import SCENARIOS, evaluate, measure, scenes, with_mask

pytestmark = pytest.mark.slow


def test_a_straight_bars_outline_is_as_wide_as_its_stroke():
    """The calipers of a bar's outline read the stroke's own width (area over centre line).

    Shading across a bar used to give its centre line a bend of a few tenths of a pixel, and
    the outline's min-area rectangle read up to 0.27 px wider than the stroke (0.12-0.27 px on
    8 of 36 bars).
    """
    gaps = []
    for scene, masks in scenes(with_mask(SCENARIOS["bar"], "exact")):
        data = measure(scene.image, masks)
        strokes = data["edge_shape"] == "stroke"
        gaps += list(np.abs(data["width_mm"] - data["mean_width_mm"])[strokes])
    assert len(gaps) >= 30
    assert max(gaps) < 0.1, sorted(gaps)[-5:]


@pytest.mark.parametrize("mask", ["exact", "threshold"])
def test_a_bars_uncertainty_is_neither_too_small_nor_inflated(mask):
    """The median |error| / u is a fair share of 1 (0.67 for errors drawn with sd u).

    Before a straight stroke's u came from its own covariance, its perimeter's and calipers'
    carried the sector outline's lens-rounding terms and its difference from that outline:
    median |error| / u 0.02-0.03 for the perimeter, 0.14-0.21 for the width.

    The perimeter may go down to 0.2: besides its fit's covariance it keeps the share of
    what a model of the picture may miss (2 pi x 0.02 (1 + sigma) px), about 0.28 px, which
    these bars, drawn as the very stroke the fit models, do not use; since a stroke's ends
    are no longer read 0.04 px in, the perimeter's errors are about 0.13 px (0.22-0.28 u).
    """
    results = evaluate(with_mask(SCENARIOS["bar"], mask))
    for figure, least in (("perimeter", 0.2), ("feret_max", 0.3), ("length", 0.3), ("width", 0.3)):
        ratios = [abs(r.error) / r.u for r in results if r.figure == figure]
        assert least <= float(np.median(ratios)) <= 1.5, (figure, float(np.median(ratios)))
