"""`make demo` (tools/demo.py): the stone tally, the verdict, a shortened and a full run, a missing model."""

from __future__ import annotations

import io
import json
import math
import shutil
import sys
from contextlib import redirect_stdout
from pathlib import Path

import av
import numpy as np
import pytest
import supervision as sv

from segflow.engine.frame import Frame, PacketInfo
from segflow.engine.observe.hooks import RunHooks
from segflow.tools.demo import COUNT_TOLERANCE, DemoReport, StoneTally, main, run_demo

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # see tests/workflows/conftest.py: `nodes` must not resolve to tests/nodes
    sys.path.append(str(ROOT))
WORKFLOW = ROOT / "workflows" / "coffee_stones.yaml"
TRUTH = json.loads((ROOT / "assets/samples/conveyor.json").read_text())
DETS, IMAGE = ("colour", "detections"), ("belt", "image")


def _packet(tally: StoneTally, frame: int, rows: list[tuple], source: str = "belt") -> None:
    """rows: (tracker_id, x0, length_mm, colour_name); boxes 20 px wide in a 100x100 frame."""
    dets = sv.Detections.empty() if not rows else sv.Detections(
        xyxy=np.array([[x0, 40, x0 + 20, 60] for _, x0, _, _ in rows], float),
        tracker_id=np.array([t for t, _, _, _ in rows]),
        data={"feret_max_mm": np.array([v for _, _, v, _ in rows], float),
              "colour_name": np.array([c for _, _, _, c in rows])},
    )
    values = {DETS: dets, IMAGE: Frame(np.zeros((100, 100, 3), np.uint8), source, frame, frame / 15)}
    tally.on_packet_done(info=PacketInfo(source, frame, frame / 15, "t"), values=values, frames_done=frame + 1)


@pytest.mark.parametrize(
    "packets,stones,median,colours",
    [
        # two stones over three frames: one id each, median of per-stone medians
        ([[(1, 10, 5.0, "grey"), (2, 50, 9.0, "beige")], [(1, 18, 6.0, "grey"), (2, 58, 9.0, "grey")],
          [(1, 26, 7.0, "grey"), (2, 66, 9.0, "beige")]], 2, 7.5, {"grey": 1, "beige": 1}),
        # untracked detections (-1) count for nothing; empty frames are fine
        ([[(-1, 10, 5.0, "grey")], [], [(3, 30, 4.0, "dark grey")]], 1, 4.0, {"dark grey": 1}),
        # a box touching the frame's edge may hide part of the stone: its colour counts, its length not
        ([[(4, 0, 2.0, "grey")], [(4, 8, 8.0, "grey")]], 1, 8.0, {"grey": 1}),
        ([[(5, 0, 2.0, "grey")], [(5, 80, 3.0, "grey")]], 1, None, {"grey": 1}),
        # NaN lengths (an empty mask) are skipped
        ([[(6, 30, math.nan, "grey")], [(6, 38, 6.5, "grey")]], 1, 6.5, {"grey": 1}),
        ([[], []], 0, None, {}),
    ],
)
def test_tally_counts_tracks_once(packets, stones, median, colours):
    tally = StoneTally(DETS, IMAGE)
    for index, rows in enumerate(packets):
        _packet(tally, index, rows)
    assert tally.stones() == stones
    assert tally.median_length_mm() == median
    assert dict(tally.colour_counts()) == colours


def test_tally_keeps_sources_apart():
    tally = StoneTally(DETS, IMAGE)
    _packet(tally, 0, [(1, 30, 5.0, "grey")], source="cam1")
    _packet(tally, 0, [(1, 30, 7.0, "grey")], source="cam2")
    assert tally.stones() == 2


def _report(stones: int, truth: int | None, failures: int = 0) -> DemoReport:
    return DemoReport("coffee-stones", 150, 10.0, 15.0, failures, stones, 9.3, {"grey": stones}, {},
                      {"stone_count": truth} if truth is not None else None)


@pytest.mark.parametrize(
    "stones,truth,failures,passed",
    [
        (12, 12, 0, True),
        (13, 12, 0, True),  # +8 %
        (11, 12, 0, True),  # -8 %
        (14, 12, 0, False),  # +17 %
        (10, 12, 0, False),  # -17 %
        (12, 12, 3, False),  # frames failed: not a pass whatever the count
        (5, None, 0, True),  # no ground truth (a shortened run): nothing to compare
    ],
)
def test_verdict_is_the_count_within_ten_percent(stones, truth, failures, passed):
    report = _report(stones, truth, failures)
    assert COUNT_TOLERANCE == 0.10
    assert report.passed is passed
    text = "\n".join(report.lines())
    assert f"stones found      {stones}" in text
    if truth is not None:
        assert ("OK" in text) is (abs(stones - truth) / truth <= 0.10)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "assets").symlink_to(ROOT / "assets", target_is_directory=True)
    return tmp_path


def test_shortened_run_returns_the_figures(workdir: Path):
    frames = 30
    demo = run_demo(WORKFLOW, max_frames=frames, base_dir=workdir, progress=RunHooks())
    assert demo.frames == frames and demo.failures == 0 and demo.fps > 0
    # stones in view for at least the 3 frames a track needs before it gets an id
    expected = [s for s in TRUTH["stones"] if s["first_frame"] <= frames - 3]
    assert abs(demo.stones - len(expected)) <= 1
    assert demo.median_length_mm == pytest.approx(np.median([s["length_mm"] for s in expected]), abs=1.0)
    assert sum(demo.colours.values()) == demo.stones
    assert demo.truth is None  # a shortened run is not compared with the whole video's count
    out = workdir / "out" / "coffee_stones"
    assert demo.outputs == {"annotated video": str(out / "belt.mp4"), "JSONL log": str(out / "stones.jsonl"),
                            "database": str(out / "stones.db")}
    with av.open(demo.outputs["annotated video"]) as video:
        assert sum(1 for _ in video.decode(video=0)) == frames
    logged = {json.loads(line)["tracker_id"] for line in Path(demo.outputs["JSONL log"]).read_text().splitlines()}
    assert len(logged) == demo.stones


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory) -> dict:
    """What `make demo` runs, once for the module: the whole shipped video; its --json figures, with the
    refined masks compared with the stones rendered again (``--masks-of refine``)."""
    workdir = tmp_path_factory.mktemp("demo")
    (workdir / "assets").symlink_to(ROOT / "assets", target_is_directory=True)
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out):
        patch.chdir(workdir)
        code = main([str(WORKFLOW), "--json", "--masks-of", "refine"])
    return {"exit": code, **json.loads(out.getvalue())}


@pytest.mark.slow
def test_make_demo_matches_the_ground_truth(full_demo):
    """Well inside the 2-minute budget; count, median length and colour near the truth."""
    figures = full_demo
    assert figures["exit"] == 0
    assert figures["passed"] and figures["truth_stones"] == TRUTH["stone_count"]
    assert abs(figures["stones"] - TRUTH["stone_count"]) <= COUNT_TOLERANCE * TRUTH["stone_count"]
    assert figures["median_length_mm"] == pytest.approx(TRUTH["median_stone_length_mm"], abs=1.0)
    assert figures["most_common_colour"] == TRUTH["most_common_stone_colour"]
    assert figures["frames"] == TRUTH["frames"] and figures["elapsed_s"] < 120
    errors = figures["truth_errors"]
    assert errors["stones_matched"] == TRUTH["stone_count"] and errors["unmatched_tracks"] == 0


@pytest.mark.slow
def test_each_stones_error_is_split_into_the_measurements_share_and_the_masks(full_demo):
    """`--masks-of refine` explains each stone's error: measured again from the refined masks it is
    the run's own (the same masks; its frames are matched by box rather than by track, so a
    stone may have a frame more or less, and its median move by up to 0.1 mm), and the
    measurement's share, on the exact masks, is a corner or two of a pixel."""
    split = {s["stone"]: s for s in full_demo["masks_vs_truth"]["per_stone"]}
    run = {s["stone"]: s for s in full_demo["truth_errors"]["per_stone"]}
    assert set(split) == set(run) == {s["id"] for s in TRUTH["stones"]}
    mm_per_px = TRUTH["mm_per_px"]
    for stone, ours in split.items():
        total = ours["measurement_share_mm"] + ours["mask_share_mm"]
        same_frames = ours["frames"] == run[stone]["sightings"]
        assert total == pytest.approx(run[stone]["length_error_mm"], abs=0.02 if same_frames else 0.1), stone
        assert -0.72 * mm_per_px < ours["measurement_share_mm"] <= 0.0, stone


# Issue 18's targets for the flagship, and what the shipped model, its refiner and measure.masks give
# today (python -m segflow.tools.demo; all four met with refine.tip_logit since 2026-12-05, see
# assets/models/coffee-stones-refine.md);
# strict xfails turn into failures once they are met.
FLAGSHIP_TARGETS = [
    ("median_length_error", 0.02, ""),  # +0.1 % with the refiner's version 2 (its card); +1.5 % with version 1
    ("worst_stone_error_mm", 0.3, ""),  # -0.23 mm (stone 5); -0.33 mm without refine.tip_logit
    ("median_area_error", 0.05, ""),  # +0.6 %
    ("worst_area_error", 0.05, ""),  # -4.3 % (stone 2); +14.0 % without the refiner
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("figure", "limit"),
    [pytest.param(f, limit, id=f, marks=[pytest.mark.xfail(strict=True, reason=f"measured {today}")] if today else [])
     for f, limit, today in FLAGSHIP_TARGETS],
)
def test_flagship_meets_its_accuracy_target(full_demo, figure, limit):
    """Median length within 2 %, every stone within 0.3 mm, areas within 5 % of the generator's truth."""
    assert abs(full_demo["truth_errors"][figure]) <= limit


def test_missing_model_is_explained_not_a_traceback(tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "samples").symlink_to(ROOT / "assets/samples", target_is_directory=True)
    shutil.copy(WORKFLOW, tmp_path / "coffee_stones.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["coffee_stones.yaml"]) == 2
    err = capsys.readouterr().err
    assert "the coffee-stones model is missing: assets/models/coffee-stones-seg.pt" in err
    assert "segflow train" in err and "Traceback" not in err


def test_missing_refiner_is_explained_with_its_own_commands(tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "assets" / "models").mkdir(parents=True)
    (tmp_path / "assets" / "samples").symlink_to(ROOT / "assets/samples", target_is_directory=True)
    (tmp_path / "assets" / "models" / "coffee-stones-seg.pt").symlink_to(ROOT / "assets/models/coffee-stones-seg.pt")
    shutil.copy(WORKFLOW, tmp_path / "coffee_stones.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["coffee_stones.yaml"]) == 2
    err = capsys.readouterr().err
    assert "the coffee-stones mask refiner is missing: assets/models/coffee-stones-refine.onnx" in err
    assert "segflow train runs/data/refine/data.yaml --task refine" in err and "Traceback" not in err


def test_invalid_workflow_lists_its_problems(tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "wf.yaml").write_text("version: 1\nname: x\nnodes:\n  a: {type: source.vidoe}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["wf.yaml"]) == 2
    err = capsys.readouterr().err
    assert "source.video" in err and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize("figure", ["length_within_2u", "area_within_2u"])
def test_flagship_states_an_uncertainty_that_holds(full_demo, figure):
    """Issue 18: the truth within 2u in at least 95 % of figures; here over every sighting of a matched stone
    wholly in view (feret_max_mm_u and area_mm2_u as each record states them)."""
    errors = full_demo["truth_errors"]
    assert errors["sightings_with_u"] >= 10 * TRUTH["stone_count"]  # each stone seen many times, each stating u
    assert errors[figure] >= 0.95
