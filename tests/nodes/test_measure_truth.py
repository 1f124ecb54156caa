"""measure.masks on pictures made the way a camera makes them: every figure within its limit, every _u honest.

The pictures (segflow/tools/synth/optics.py) have lens blur 0.7-1.5 px, shot and
read noise and vignetting; the objects are blobs 6-15 px, rectangles and
triangles 12-40 px at any angle, bars 2-6 px wide and curved cracks 2-5 px
wide, at random sub-pixel positions; the masks are exact, a model's (1-3 px
fat, up to 1 px off, through a stride-4 prototype grid) or a threshold of the
picture. The truth comes from the shapes' polygons alone. Each row asserts
one figure of one kind and mask source: every object's error within its
stated relative limit (``LIMITS`` in segflow/tools/measure_truth.py), or,
where the picture holds less than that, within 3.6 times the least standard
error any method could have on that object (its Cramér-Rao floor,
segflow/tools/information_floor.py: a 2 px bar under a 1.5 px blur has a
floor of 12 % on its width; 3.6 floors is what a method as good as the floor
exceeds on one of 36 objects with a 1 % chance); or its errors within 2u as
often as a 95 % promise allows on that many objects (``allowed_misses``: 36
objects may have 5 outside 2u before an honest uncertainty is called
dishonest, with a 1 % chance of a false alarm) and no stated u below the
floor. "resolved" rows hold thin objects at least 2.5 blurs wide to the
stated limit alone.

Rows the current algorithm does not meet are listed, with the figure measured,
in measure_truth_known_failures.txt and run as strict xfails: when the
algorithm reaches them they fail as XPASS, and the file is written again with
``python bench/measure_truth.py --limits | grep ^FAIL > tests/nodes/measure_truth_known_failures.txt``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from segflow.tools.measure_truth import (
    FIGURES_BY_KIND,
    LIMITS,
    SCENARIOS,
    WIDTH_FIGURES,
    Result,
    Scenario,
    allowed_misses,
    evaluate,
    summarise,
    with_mask,
)

MASKS = ("exact", "model", "threshold")
KNOWN_FILE = Path(__file__).with_name("measure_truth_known_failures.txt")
THIN = ("bar", "crack")


def known_failures() -> dict[tuple[str, str, str, str], str]:
    """'FAIL  bar exact width error: worst +49.9 % (limit 5.0 %)' -> {(bar, exact, width, error): the figures}."""
    out = {}
    for line in KNOWN_FILE.read_text().splitlines():
        if line.startswith("FAIL"):
            key, text = line.split(":", 1)
            kind, mask, figure, check = key.split()[1:]
            out[(kind, mask, figure, check)] = text.strip()
    return out


_cache: dict[tuple[str, str], list[Result]] = {}


def results(kind: str, mask: str) -> list[Result]:
    if (kind, mask) not in _cache:
        _cache[(kind, mask)] = evaluate(with_mask(SCENARIOS[kind], mask))
    return _cache[(kind, mask)]


def rows() -> list:
    known = known_failures()
    out = []
    for kind in SCENARIOS:
        for mask in MASKS:
            for figure in FIGURES_BY_KIND[kind]:
                for check in ("error", "u", "resolved"):
                    if check == "resolved" and (kind not in THIN or figure not in WIDTH_FIGURES):
                        continue
                    reason = known.get((kind, mask, figure, check))
                    marks = [pytest.mark.xfail(strict=True, reason=f"measured: {reason}")] if reason else []
                    out.append(pytest.param(kind, mask, figure, check, marks=marks,
                                            id=f"{kind}-{mask}-{figure}-{check}"))
    return out


@pytest.mark.parametrize(("kind", "mask", "figure", "check"), rows())
def test_figure_on_camera_like_pictures(kind, mask, figure, check):
    s = summarise(results(kind, mask), figure, resolved=check == "resolved")
    # a near-round blob's length and width are not truth: fewer of those; a frame's thin objects
    # at least RESOLVED sigma wide: about 25 of 36
    assert s.count >= (12 if check == "resolved" else 20)
    if check in ("error", "resolved"):
        assert s.excess <= 1, f"{s.line()}: limit {LIMITS[kind][figure]:.1%}"
    else:
        assert s.honest, f"{s.line()}: at most {allowed_misses(s.count)} may be outside 2u"
        assert s.overclaimed == 0, f"{s.line()}: a stated u below the information floor"


def test_the_known_failures_name_real_rows():
    """A stale line (a figure or kind renamed) would silently stop marking anything."""
    valid = {(k, m, f, c) for k in SCENARIOS for m in MASKS for f in FIGURES_BY_KIND[k] for c in ("error", "u")}
    valid |= {(k, m, f, "resolved") for k in THIN for m in MASKS for f in WIDTH_FIGURES}
    assert set(known_failures()) <= valid


@pytest.mark.parametrize(("count", "allowed"), [(20, 4), (36, 5), (100, 11), (1000, 67)])
def test_an_honest_uncertainty_passes_the_coverage_check(count, allowed):
    assert allowed_misses(count) == allowed


def test_small_blurred_blobs_with_blurred_threshold_masks_do_not_crash():
    """Found by bench/measure_truth.py: 6-10 px blobs, lens blur 1.5 px, masks from a threshold after a 5 px blur."""
    scenario = replace(with_mask(Scenario("blob", (6.0, 10.0)), "threshold_blur"), blur=(1.5, 1.5), frames=2)
    assert len(evaluate(scenario)) > 0


def test_a_stroke_does_not_run_past_the_pixels_it_read():
    """Found by bench/measure_truth.py: a 2-3 px bar under lens blur 1.5 px whose blurred-threshold mask
    covers only a stretch of it read +428 % in skeleton length (the stroke's ends, past the pixels read
    around the mask, had nothing to stop them). A stroke with an end beyond them is refused."""
    scenario = replace(with_mask(Scenario("bar", (20.0, 50.0), width=(2.0, 3.0)), "threshold_blur"),
                       blur=(1.5, 1.5), objects=12, frames=2)
    skeleton = [r for r in evaluate(scenario) if r.figure == "skeleton_length" and r.measured > 0]
    assert skeleton
    assert max(r.relative for r in skeleton) < 0.5, max(r.relative for r in skeleton)


def test_thin_objects_are_not_read_short_at_their_ends():
    """Over every bar and crack (exact and model masks), the skeleton length's mean error is under 0.05 px.

    A stroke's model gave a flat end's corner pixels the nearer edge's share alone, more than
    they hold, and the fit drew each end inwards: -0.09 px for bars and -0.10 px for cracks on
    these pictures (-0.06 to -0.12 px on seeds 0-3); -0.02 px with the corners' true share.
    Each object's own error is within its limit either way; this is the bias under them.
    """
    errors = [r.error for kind in THIN for mask in ("exact", "model") for r in results(kind, mask)
              if r.figure == "skeleton_length" and r.measured > 0]
    assert len(errors) >= 130
    assert abs(float(np.mean(errors))) < 0.05, float(np.mean(errors))
