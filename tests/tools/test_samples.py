"""Sample-image generators: ground truth checked against an independent measurement."""

import json

import cv2
import numpy as np
import pytest
from skimage.morphology import skeletonize

from segflow.tools.synth.cherries import render_cherries
from segflow.tools.synth.cli import GENERATE
from segflow.tools.synth.concrete import render_concrete
from segflow.tools.synth.crops import render_objects
from segflow.tools.synth.hairlines import render_card, render_hairlines
from segflow.tools.synth.parts import render_parts, render_tilted
from segflow.tools.synth.pipes import render_pipes


def _components(mask, min_area):
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    return [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area], stats


@pytest.mark.parametrize("seed", [3, 8])
def test_cherries_ripe_count_matches_red_blobs(seed):
    img, truth = render_cherries(seed)
    b, g, r = (img[..., i].astype(int) for i in range(3))
    red, _ = _components((r > g + 60) & (r > b + 40), 200)
    green, _ = _components((g > r + 25) & (g > b + 40), 200)
    assert len(red) == truth["ripe"] and len(green) == truth["unripe"]
    assert truth["ripe"] + truth["unripe"] == truth["count"] == len(truth["cherries"])


@pytest.mark.parametrize("seed", [5, 6])
def test_concrete_cracks_length_and_width(seed):
    img, truth = render_concrete(seed)
    dark = img[..., 0] < 80
    keep, stats = _components(dark, 400)
    assert len(keep) == truth["crack_count"]
    _, labels = cv2.connectedComponents(dark.astype(np.uint8))
    measured = []
    for i in keep:
        region = labels == i
        skel = skeletonize(region)
        measured.append((skel.sum(), region.sum() / max(skel.sum(), 1)))
    measured.sort()
    expected = sorted((c["length_mm"] / truth["mm_per_px"], c["width_px"]) for c in truth["cracks"])
    for (length, width), (t_len, t_width) in zip(measured, expected, strict=True):
        assert length == pytest.approx(t_len, rel=0.15)
        assert width == pytest.approx(t_width, abs=1.5)


@pytest.mark.parametrize("seed", [11, 12])
def test_pipe_rim_fitted_diameters(seed):
    img, truth = render_pipes(seed)
    rim = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) > 110
    contours, _ = cv2.findContours(rim.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    fitted = sorted(2 * cv2.minEnclosingCircle(c)[1] * truth["mm_per_px"] for c in contours)
    expected = sorted(p["outer_diameter_mm"] for p in truth["pipes"])
    assert fitted == pytest.approx(expected, abs=2.0)


def test_generators_are_deterministic():
    for fn in (render_cherries, render_concrete, render_pipes):
        (a, ta), (b, tb) = fn(1), fn(1)
        assert a.tobytes() == b.tobytes() and ta == tb
        assert fn(2)[0].tobytes() != a.tobytes()


class Args:
    def __init__(self, **kw):
        self.__dict__.update({"seed": None, "train": 240, "val": 60, "videos": 0, "val_videos": 0, "every": 3, **kw})


@pytest.mark.parametrize(
    "what,name,rc",
    [
        ("cherries", "c.png", 0),
        ("pipes", "p.png", 0),
        ("concrete", "c.jpg", 2),  # wrong suffix
        ("video", "v.png", 2),  # wrong suffix
    ],
)
def test_generate_command(tmp_path, what, name, rc):
    assert GENERATE.run(Args(what=what, out=str(tmp_path / name))) == rc
    if rc == 0:
        truth = json.loads((tmp_path / name).with_suffix(".json").read_text())
        assert truth["seed"] == {"cherries": 3, "pipes": 11}[what]
        assert cv2.imread(str(tmp_path / name)).shape == (480, 640, 3)


def test_generate_dataset_rejects_empty_split(tmp_path):
    assert GENERATE.run(Args(what="dataset", out=str(tmp_path), train=0)) == 2


@pytest.mark.parametrize("bad", [{"videos": -1}, {"val_videos": -2}, {"every": 0}])
def test_generate_dataset_rejects_bad_video_counts(tmp_path, capsys, bad):
    assert GENERATE.run(Args(what="dataset", out=str(tmp_path / "ds"), **bad)) == 2
    assert "--every" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_shipped_samples_are_current():
    """assets/samples must be exactly what `segflow generate samples` writes."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "assets" / "samples"
    samples = [("cherries", render_cherries, 3), ("pipes", render_pipes, 11), ("parts", render_parts, 21),
               ("tilted", render_tilted, 22), ("objects", render_objects, 32), ("hairlines", render_hairlines, 41),
               ("lens_card", render_card, 42)]
    for name, fn, seed in samples:
        img, truth = fn(seed)
        assert json.loads((root / f"{name}.json").read_text()) == json.loads(json.dumps(truth))
        assert cv2.imread(str(root / f"{name}.png")).tobytes() == img.tobytes()
    conveyor = json.loads((root / "conveyor.json").read_text())
    cap = cv2.VideoCapture(str(root / "conveyor.mp4"))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    assert ok and frame.shape == (conveyor["height"], conveyor["width"], 3)
    assert frames == conveyor["frames"] == 150 and conveyor["fps"] == 15
