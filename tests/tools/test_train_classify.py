"""`segflow train --task classify`: the class-folder layouts, their errors, and one tiny real run."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from segflow.tools.synth.crops import CLASSES, write_crops
from segflow.tools.train import TRAIN
from segflow.tools.train_classify import DataError, read_dataset


def image(folder: Path, name: str, level: int = 128) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / name), np.full((12, 10, 3), level, np.uint8))


def one_level(root: Path, counts: dict[str, int]) -> Path:
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            image(root / name, f"{i:03d}.png")
    return root


def test_one_level_is_split_per_class_reproducibly(tmp_path):
    root = one_level(tmp_path / "d", {"a": 10, "b": 3})
    data = read_dataset(root, val_fraction=0.2, seed=0)
    assert data.made_split and data.classes == ["a", "b"]
    assert [len(data.splits["val"][c]) for c in ("a", "b")] == [2, 1]  # at least one per class
    assert [len(data.splits["train"][c]) for c in ("a", "b")] == [8, 2]
    assert not set(data.splits["val"]["a"]) & set(data.splits["train"]["a"])
    assert read_dataset(root, 0.2, seed=0).splits == data.splits
    assert read_dataset(root, 0.2, seed=1).splits != data.splits


def test_train_val_test_layout_is_used_as_it_is(tmp_path):
    for split in ("train", "val", "test"):
        one_level(tmp_path / split, {"a": 2, "b": 2})
    data = read_dataset(tmp_path, 0.2, 0)
    assert not data.made_split and sorted(data.splits) == ["test", "train", "val"]


def loose(root):
    image(root, "x.png")


def classless(root):
    root.mkdir()
    image(root, "x.png")


def one_class(root):
    one_level(root, {"a": 3})


def empty_class(root):
    one_level(root, {"a": 3, "b": 0})


def single_image(root):
    one_level(root, {"a": 3, "b": 1})


def no_val(root):
    one_level(root / "train", {"a": 3, "b": 3})


def val_classes_differ(root):
    one_level(root / "train", {"a": 3, "b": 3})
    one_level(root / "val", {"a": 3, "c": 3})


def a_file(root):
    root.write_text("not a folder")


@pytest.mark.parametrize(
    "make,message",
    [
        (None, "no such folder"),
        (a_file, "not a folder"),
        (classless, "1 images but no class folders"),
        (lambda r: (one_level(r, {"a": 2, "b": 2}), loose(r)), "outside any class folder"),
        (one_class, "at least two class folders, found only 'a'"),
        (empty_class, "no images"),
        (single_image, "one image cannot be split"),
        (no_val, "has train/ but no val/"),
        (val_classes_differ, "class folders differ from train/'s (b, c)"),
    ],
)
def test_bad_folders_are_named(tmp_path, capsys, train_args, make, message):
    root = tmp_path / "data"
    if make is not None:
        make(root)
    with pytest.raises(DataError, match=None) as caught:
        read_dataset(root, 0.2, 0)
    assert message in str(caught.value) and str(root) in str(caught.value)
    rc = TRAIN.run(train_args(data=str(root), task="classify", out=str(tmp_path / "run")))
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    "change,message",
    [
        ({"val_fraction": 1.0}, "--val-fraction must be between 0 and 1"),
        ({"model": "nowhere-cls.pt"}, "never downloads"),
        ({"resume": True}, "--resume is for segmentation runs"),
    ],
)
def test_bad_options_are_refused(tmp_path, capsys, train_args, change, message):
    root = one_level(tmp_path / "d", {"a": 2, "b": 2})
    assert TRAIN.run(train_args(data=str(root), task="classify", out=str(tmp_path / "r"), **change)) == 2
    assert message in capsys.readouterr().err


def test_generated_crops_fill_every_class_of_every_split(tmp_path):
    counts = write_crops(tmp_path, {"train": 3, "test": 2}, seed=5)
    assert counts == {"train": dict.fromkeys(CLASSES, 3), "test": dict.fromkeys(CLASSES, 2)}
    for split, n in (("train", 3), ("test", 2)):
        for name in CLASSES:
            crops = sorted((tmp_path / split / name).glob("*.png"))
            assert len(crops) == n
            assert all(min(cv2.imread(str(c)).shape[:2]) >= 4 for c in crops)


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory, train_args):
    """One epoch of yolo11n-cls from scratch on a few generated crops, class folders given directly."""
    root = tmp_path_factory.mktemp("cls")
    write_crops(root / "crops", {"train": 4}, seed=2)
    out = root / "run"
    rc = TRAIN.run(train_args(data=str(root / "crops" / "train"), task="classify", epochs=1, imgsz=32,
                              batch=3, workers=0, out=str(out)))
    return rc, out


def test_tiny_run_writes_weights_onnx_summary_and_card(tiny_classifier):
    rc, out = tiny_classifier
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["classes"] == list(CLASSES) and summary["imgsz"] == 32
    assert "shuffled with seed 0" in summary["split"]
    assert summary["scores"]["val"]["images"] == 3  # one of four per class
    assert Path(summary["weights"]).is_file() and Path(summary["onnx"]).is_file()
    assert "--task classify" in summary["command"]
    card = (out / "MODEL_CARD.md").read_text()
    assert "| val | 3 |" in card and "bean recall" in card
    assert sorted(p.name for p in (out / "data" / "val").iterdir()) == sorted(CLASSES)
