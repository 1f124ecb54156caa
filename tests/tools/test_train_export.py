"""`segflow train` and `segflow export` on a tiny real run (seconds, CPU, offline)."""

import argparse
import importlib.util
import json
import shutil

import numpy as np
import pytest

from segflow.tools.export import EXPORT
from segflow.tools.train import TRAIN


def test_train_writes_loadable_weights_and_summary(tiny_run):
    assert tiny_run["rc"] == 0
    out = tiny_run["out"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs_run"] == 1 and summary["imgsz"] == 64
    assert summary["command"].startswith("segflow train ")
    assert "--epochs 1" in summary["command"] and "--imgsz 64" in summary["command"]
    assert "--mask-ratio 1" in summary["command"]  # full-size, exactly filled targets by default
    stone = summary["val"]["per_class"]["stone"]
    assert 0.0 <= stone["mask_map50"] <= 1.0
    assert (out / "weights" / "last.pt").is_file()
    lines = (out / "epochs.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1]

    from ultralytics import YOLO

    model = YOLO(summary["weights"])
    assert model.task == "segment" and model.names == {0: "stone"}
    result = model.predict(np.zeros((64, 64, 3), np.uint8), imgsz=64, verbose=False)[0]
    assert result.masks is None or result.masks.data.shape[-1] > 0


@pytest.mark.parametrize(
    "change,message",
    [
        ({"data": "missing.yaml"}, "not found"),
        ({"model": "nowhere.pt"}, "never downloads"),
        ({"model": "yolov8n-seg.txt"}, "must be a .yaml config or a .pt"),
        ({"resume": True}, "nothing to resume"),
        ({"fine_tune": True}, "--fine-tune continues a trained model: give --model a .pt file"),
        ({"mask_ratio": 0}, "--mask-ratio must be 1 or more"),
    ],
)
def test_train_rejects_bad_input(tmp_path, capsys, tiny_run, train_args, change, message):
    kw = {"data": str(tiny_run["data"]), "out": str(tmp_path / "r"), "epochs": 1, **change}
    assert TRAIN.run(train_args(**kw)) == 2
    assert message in capsys.readouterr().err


def export_args(model, **kw):
    parser = argparse.ArgumentParser()
    EXPORT.add_arguments(parser)
    args = parser.parse_args([str(model)])
    for k, v in kw.items():
        setattr(args, k, v)
    return args


def test_export_onnx_runs_in_onnxruntime(tiny_run, tmp_path):
    import onnxruntime as ort

    weights = tiny_run["out"] / "weights" / "best.pt"
    dest = tmp_path / "tiny.onnx"
    assert EXPORT.run(export_args(weights, out=str(dest))) == 0
    session = ort.InferenceSession(str(dest), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.shape == [1, 3, 64, 64]  # the size the model was trained at
    outputs = session.run(None, {inp.name: np.zeros((1, 3, 64, 64), np.float32)})
    assert len(outputs) == 2  # detections + mask prototypes: a segmentation head
    assert outputs[1].shape[1] == 32


def test_export_with_out_leaves_a_file_beside_the_weights_alone(tiny_run, tmp_path):
    weights = tmp_path / "best.pt"
    shutil.copyfile(tiny_run["out"] / "weights" / "best.pt", weights)
    mine = tmp_path / "best.onnx"
    mine.write_bytes(b"an export of other weights")
    assert EXPORT.run(export_args(weights, out=str(tmp_path / "elsewhere" / "new.onnx"))) == 0
    assert mine.read_bytes() == b"an export of other weights"
    assert (tmp_path / "elsewhere" / "new.onnx").stat().st_size > 100_000


@pytest.mark.parametrize(
    "model,fmt,message",
    [
        ("best", "onxx", "did you mean 'onnx'"),
        ("missing", "onnx", "not found"),
        ("yaml", "onnx", "expected PyTorch weights"),
        ("best", "openvino", "pip install openvino"),
    ],
)
def test_export_rejects_bad_input(tiny_run, tmp_path, capsys, model, fmt, message):
    if fmt == "openvino" and importlib.util.find_spec("openvino") is not None:
        pytest.skip("openvino is installed here: the missing-package message cannot show")
    paths = {
        "best": tiny_run["out"] / "weights" / "best.pt",
        "missing": tmp_path / "nope.pt",
        "yaml": tiny_run["data"],
    }
    assert EXPORT.run(export_args(paths[model], format=fmt)) == 2
    assert message in capsys.readouterr().err
