"""Rectangles with round corners (moulded, cast or worn parts) are not measured as sharp ones.

Straight faces make a rectangle the best account of such a part among sharp polygons and
curves, and a sharp rectangle's corners reach past the round ones: max Feret and perimeter
read +3.4 and +3.7 % in the median, with _u covering 47-50 % (this generator's seed 0). The whole-shape
fit now also tries its best polygon with every corner rounded to one fitted radius
(segflow/vision/shape_fit.py, ``_filleted``), kept where the picture asks for it. The parts
come from the truth generator (``figures.rounded``: corners 15-30 % of the short side)
under the truth test's optics: lens blur 0.7-1.5 px, shot and read noise, vignetting.
"""

from __future__ import annotations

import pytest

from segflow.tools.measure_truth import FIGURES_BY_KIND, Scenario, evaluate, summarise

PARTS = Scenario("rounded", (12.0, 40.0))


@pytest.fixture(scope="module")
def results():
    return evaluate(PARTS)


@pytest.mark.parametrize("figure", ["perimeter", "feret_max", "length"])
def test_lengths_do_not_reach_past_round_corners(results, figure):
    summary = summarise(results, figure)
    assert summary.count >= 30
    assert summary.median < 0.01, summary.line()


# Not yet honest on every part: on a part whose own blur is fitted, a larger blur rounds a sharp
# rectangle's picture as a fillet would, and a few parts keep sharp corners that reach 0.5-3 px
# past the round ones (perimeter +6.9 %, at 3-6u): 89 % of perimeters and 92 % of calipers are
# within 2u (47 % and 50 % before). What follows the corners is held to 80 %; the rest to 95 %.
CORNER_FIGURES = ("perimeter", "feret_max", "length")


@pytest.mark.parametrize("figure", FIGURES_BY_KIND["rounded"])
def test_round_corners_uncertainty(results, figure):
    summary = summarise(results, figure)
    if figure in CORNER_FIGURES:
        assert summary.within_2u >= 0.8, summary.line()
    else:
        assert summary.honest, summary.line()


def test_sharp_rectangles_are_not_rounded():
    """A sharp rectangle's corners stay sharp where the picture shows them: its lengths reach them."""
    summary = summarise(evaluate(Scenario("rectangle", (20.0, 40.0), frames=2)), "feret_max")
    assert abs(summary.worst) <= 0.02, summary.line()
