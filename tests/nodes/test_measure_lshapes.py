"""L-shaped parts (brackets, angle sections, stepped plates) are measured through their notch.

The whole-shape fit had polygons of 3 and 4 vertices and smooth curves; an L has six corners,
one of them reflex, so the sector outline stood and its rounded corners read max Feret and
perimeter 5-7 % short in the median (this generator's seed 0), honest but far off. Polygons
of 5 and 6 vertices are now fitted where the outline has a notch, and kept only where the
fitted notch reaches in at least twice the blur from the convex hull
(segflow/vision/shape_fit.py, ``NOTCHED``): a shallower dip is one the lens fills. Lumpy
pebbles, which a convex 6-gon fits with corners nothing shows, keep their curves. The parts
come from the truth generator (``figures.l_shape``) under the truth test's optics: lens blur
0.7-1.5 px, shot and read noise, vignetting; with a threshold's mask and a model's (1-3 px off).
"""

from __future__ import annotations

import pytest

from segflow.tools.measure_truth import Scenario, evaluate, measure, scenes, summarise

MASKS = ("threshold", "model")


@pytest.fixture(scope="module", params=MASKS)
def results(request):
    return evaluate(Scenario("lshape", (15.0, 40.0), mask=request.param))


@pytest.mark.parametrize("figure", ["perimeter", "feret_max", "length", "width"])
def test_lengths_reach_the_corners_of_an_l(results, figure):
    summary = summarise(results, figure)
    assert summary.count >= 30
    assert summary.median < 0.01, summary.line()
    assert summary.within_2u >= 0.9, summary.line()


@pytest.mark.parametrize("mask", MASKS)
def test_lumpy_pebbles_do_not_become_notched_polygons(mask):
    """Irregular pebbles 8-20 px across: a 5- or 6-vertex account would claim corners nothing shows."""
    shapes = []
    for scene, masks in scenes(Scenario("irregular", (8.0, 20.0), mask=mask)):
        shapes.extend(measure(scene.image, masks, "image")["edge_shape"])
    assert len(shapes) >= 30
    assert not {"polygon5", "polygon6"} & set(shapes), sorted(set(shapes))
