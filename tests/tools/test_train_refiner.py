"""`segflow train --task refine`: a real (tiny) run with the shipped model, and the pieces it is made of."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segflow.tools.refiner_training import (
    JITTER,
    WINDOW,
    Pairs,
    edge_band,
    export,
    h264_round_trip,
    label_masks,
    loss_weights,
    network,
    training_batch,
)
from segflow.tools.synth.dataset import write_dataset
from segflow.tools.train import TRAIN
from segflow.vision.mask_refiner import MaskRefiner, net_input

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "assets" / "models" / "coffee-stones-seg.pt"


@pytest.fixture(scope="module")
def tiny_refiner(tmp_path_factory, train_args):
    """Two epochs on the windows of 10 generated stills (seconds): the command as a user runs it."""
    root = tmp_path_factory.mktemp("refine")
    data = write_dataset(root / "ds", n_train=10, n_val=3, seed=7)
    out = root / "run"
    rc = TRAIN.run(train_args(data=str(data), task="refine", model=str(MODEL), epochs=2, batch=4, out=str(out)))
    return {"rc": rc, "data": data, "out": out}


def test_a_tiny_run_writes_a_refiner_that_segment_refine_loads_and_its_figures(tiny_refiner):
    assert tiny_refiner["rc"] == 0
    out = tiny_refiner["out"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"].startswith("segflow train ") and "--task refine" in summary["command"]
    assert summary["train_windows"] >= 4 and summary["val"]["windows"] >= 1
    assert summary["turned"] is True and "--fixed-light" not in summary["command"]
    assert 0 < summary["val"]["model_iou_median"] <= 1 and 0 <= summary["val"]["refined_iou_median"] <= 1
    assert [json.loads(line)["epoch"] for line in (out / "epochs.jsonl").read_text().splitlines()] == [1, 2]
    refiner = MaskRefiner(Path(summary["weights"]))
    coarse = np.zeros((44, 52), bool)
    coarse[12:30, 14:40] = True
    assert refiner.logits(np.full((44, 52, 3), 90, np.uint8), coarse).shape == (44, 52)


def test_fixed_light_is_passed_to_training_and_recorded(tmp_path, tiny_refiner, train_args):
    out = tmp_path / "fixed"
    rc = TRAIN.run(train_args(data=str(tiny_refiner["data"]), task="refine", model=str(MODEL), epochs=1, batch=4,
                              out=str(out), fixed_light=True))
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["turned"] is False and summary["command"].endswith("--fixed-light")
    assert summary["even_objects"] is False


def test_even_objects_is_passed_to_training_and_recorded(tmp_path, tiny_refiner, train_args):
    out = tmp_path / "even"
    rc = TRAIN.run(train_args(data=str(tiny_refiner["data"]), task="refine", model=str(MODEL), epochs=1, batch=4,
                              out=str(out), fixed_light=True, even_objects=True))
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["even_objects"] is True and summary["command"].endswith("--fixed-light --even-objects")


def test_width_is_passed_to_training_and_recorded(tmp_path, tiny_refiner, train_args):
    out = tmp_path / "wide"
    rc = TRAIN.run(train_args(data=str(tiny_refiner["data"]), task="refine", model=str(MODEL), epochs=1, batch=4,
                              out=str(out), fixed_light=True, width=12))
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["width"] == 12 and summary["command"].endswith("--fixed-light --width 12")
    default = json.loads((tiny_refiner["out"] / "summary.json").read_text())
    assert default["width"] == 8 and "--width" not in default["command"]
    # the wider network is the one written: more weights in the file than the default's
    assert Path(summary["weights"]).stat().st_size > 1.8 * Path(default["weights"]).stat().st_size


@pytest.mark.parametrize("width", [2, 65])
def test_a_width_outside_4_to_64_is_an_error(tmp_path, capsys, train_args, width):
    assert TRAIN.run(train_args(data=str(tmp_path / "data.yaml"), task="refine", model=str(MODEL),
                                out=str(tmp_path / "r"), width=width)) == 2
    assert f"--width {width}: a refiner's first level has 4 to 64 channels" in capsys.readouterr().err


def discs(*radii: int) -> np.ndarray:
    yy, xx = np.mgrid[:WINDOW, :WINDOW]
    return np.array([(xx - WINDOW / 2) ** 2 + (yy - WINDOW / 2) ** 2 <= r * r for r in radii])


def test_even_objects_give_a_small_stones_edges_the_weight_of_a_large_ones():
    truth = discs(8, 27)
    plain, even = loss_weights(truth), loss_weights(truth, even=True)
    extra = lambda w: (w - 1).sum(axis=(1, 2))  # noqa: E731
    assert extra(plain)[0] < 0.4 * extra(plain)[1]  # the small disc's band: about its share of the outline
    assert extra(even)[0] == pytest.approx(extra(even)[1])
    assert extra(even).sum() == pytest.approx(extra(plain).sum())  # the same weight in all, shared out evenly
    away = ~edge_band(truth)
    assert away.sum() > 0.8 * away.size and (even[away] == 1).all()  # off the edges, as before
    assert even[0].max() > 5 > even[1].max()


def test_the_onnx_file_opencv_runs_gives_the_networks_own_logits(tmp_path):
    """What training's torch network computes is what segment.refine gets through OpenCV, at any window size."""
    import torch

    torch.manual_seed(3)
    net = network()
    rng = np.random.default_rng(0)
    with torch.no_grad():  # move the batch-norm statistics off their defaults so that they matter
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    net.eval()
    refiner = MaskRefiner(export(net, tmp_path / "r.onnx"))
    for h, w in ((WINDOW, WINDOW), (36, 60)):
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        coarse = rng.random((h, w)) < 0.4
        with torch.no_grad():
            expected = net(torch.from_numpy(net_input(pixels[None], coarse[None])))[0, 0].numpy()
        assert np.abs(refiner.logits(pixels, coarse) - expected).max() < 1e-3


def test_labels_come_back_as_the_pixels_they_outline(tiny_refiner):
    from segflow.tools.synth.dataset import render
    from segflow.tools.synth.scene import clipped_mask

    image = sorted((tiny_refiner["data"].parent / "images" / "train").glob("*.png"))[0]
    scene = render(7, "train", 0)
    h, w = scene.image.shape[:2]
    truths = [clipped_mask(s, h, w) for s in scene.stones()]
    masks = label_masks(image, h, w)
    assert len(masks) == len(truths)
    for true in truths:
        assert max((true & m).sum() / (true | m).sum() for m in masks) > 0.97


@pytest.mark.parametrize("turn", [True, False])
def test_windows_are_turned_unless_the_light_is_fixed(turn):
    """An object on the left of every window, lit from the left: turned windows put it (and its light)
    on every side; with a fixed light each window stays as photographed, the object on the left."""
    size, n = WINDOW + 2 * JITTER, 48
    truth = np.zeros((n, size, size), bool)
    truth[:, :, : size // 3] = True
    pixels = np.repeat(np.where(truth, 200, 40).astype(np.uint8)[..., None], 3, axis=3)
    pairs = Pairs(pixels, truth.copy(), truth)
    _, target, _ = training_batch(pairs, np.ones(truth.shape, np.float32), np.arange(n),
                                  np.random.default_rng(0), turn)
    left = target[:, 0, :, : WINDOW // 2].sum(axis=(1, 2)) > target[:, 0, :, WINDOW // 2:].sum(axis=(1, 2))
    assert left.all() if not turn else 0.15 < left.mean() < 0.5


def test_an_h264_round_trip_loses_what_a_video_loses_and_keeps_the_picture():
    rng = np.random.default_rng(1)
    image = np.clip(rng.normal(90, 25, (61, 80, 3)), 0, 255).astype(np.uint8)  # odd height: kept whole
    back = h264_round_trip(image, 26)
    assert back.shape == image.shape
    difference = np.abs(back.astype(int) - image.astype(int)).mean()
    assert 1 < difference < 25


@pytest.mark.parametrize(
    ("change", "message"),
    [({"model": ""}, "--task refine needs --model"), ({"model": "nowhere.pt"}, "--task refine needs --model"),
     ({"data": "missing.yaml"}, "not found"), ({"resume": True}, "--resume is for segmentation runs")],
)
def test_bad_input_is_named(tmp_path, capsys, tiny_refiner, train_args, change, message):
    kw = {"data": str(tiny_refiner["data"]), "task": "refine", "model": str(MODEL), "out": str(tmp_path / "r"),
          **change}
    assert TRAIN.run(train_args(**kw)) == 2
    assert message in capsys.readouterr().err



@pytest.mark.parametrize("task", ["segment", "classify"])
@pytest.mark.parametrize("flag", ["fixed_light", "even_objects", "width"])
def test_refiner_flags_on_another_task_are_an_error_not_ignored(tmp_path, capsys, train_args, task, flag):
    assert TRAIN.run(train_args(data=str(tmp_path / "data.yaml"), task=task, out=str(tmp_path / "r"),
                                **{flag: 12 if flag == "width" else True})) == 2
    err = capsys.readouterr().err
    assert f"--{flag.replace('_', '-')}: for --task refine only" in err and f"--task {task}" in err
