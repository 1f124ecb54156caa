"""The shipped coffee-stones model: size, classes, card numbers, and stones found on new stills."""

import json
import re
from pathlib import Path

import pytest

from segflow.tools.synth.dataset import render
from segflow.tools.synth.scene import clipped_mask

MODELS = Path(__file__).resolve().parents[2] / "assets" / "models"
WEIGHTS = MODELS / "coffee-stones-seg.pt"


def test_weights_are_small_enough_to_ship():
    assert WEIGHTS.stat().st_size <= 10 * 1024 * 1024


def test_model_card_numbers_come_from_the_training_summary():
    summary = json.loads((MODELS / "coffee-stones-seg.summary.json").read_text())
    card = (MODELS / "MODEL_CARD.md").read_text()
    assert summary["command"] in card
    stone = summary["val"]["per_class"]["stone"]
    row = re.search(r"\| stone \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \|", card)
    assert row, "the card needs a '| stone | mask mAP50 | mask mAP50-95 | box mAP50 |' row"
    assert [float(x) for x in row.groups()] == [
        stone["mask_map50"],
        stone["mask_map50_95"],
        stone["box_map50"],
    ]
    assert f"{summary['epochs_run']} epochs" in card


@pytest.fixture(scope="module")
def model():
    from segflow.tools.train import offline_ultralytics

    offline_ultralytics()
    from ultralytics import YOLO

    return YOLO(str(WEIGHTS))


def test_model_is_a_stone_segmenter(model):
    assert model.task == "segment" and model.names == {0: "stone"}


def test_finds_the_stones_in_stills_it_never_saw(model):
    """Seed 1000 was never used for training or validation data."""
    hits = truths = preds = 0
    for index in range(6):
        scene = render(1000, "val", index)
        h, w = scene.image.shape[:2]
        gt = [clipped_mask(p, h, w) for p in scene.stones()]
        res = model.predict(scene.image, imgsz=320, conf=0.35, verbose=False, retina_masks=True)[0]
        masks = [] if res.masks is None else list(res.masks.data.cpu().numpy() > 0.5)
        truths, preds = truths + len(gt), preds + len(masks)
        for g in gt:
            ious = [(g & m).sum() / (g | m).sum() for m in masks]
            hits += bool(ious) and max(ious) >= 0.5
    assert truths >= 10
    assert hits / truths >= 0.8, (hits, truths)
    assert hits / max(preds, 1) >= 0.8, (hits, preds)


def test_onnx_export_of_the_shipped_model_matches_torch(model, tmp_path):
    """`segflow export` output gives torch's scores through onnxruntime (the no-torch edge path)."""
    import shutil

    import cv2
    import numpy as np
    import onnxruntime as ort
    import torch

    from segflow.tools.export import EXPORT

    weights = tmp_path / "m.pt"
    shutil.copy(WEIGHTS, weights)
    parser = __import__("argparse").ArgumentParser()
    EXPORT.add_arguments(parser)
    assert EXPORT.run(parser.parse_args([str(weights)])) == 0
    scene = render(1000, "val", 0)
    assert scene.stones()
    img = cv2.resize(scene.image, (320, 240))
    canvas = np.full((320, 320, 3), 114, np.uint8)
    canvas[40:280] = img
    x = canvas[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        torch_out = model.model.float().eval()(torch.from_numpy(x))[0][0].numpy()
    scores = onnx_out[0, 4]
    assert scores.max() > 0.5  # the still has stones
    assert np.abs(scores - torch_out[0, 4]).max() < 1e-3
