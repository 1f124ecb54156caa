"""A model file's class names, read without loading it: unknown `classes` refused at validation."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest

from segflow.engine.workflow.validate import validate_text
from segflow.vision.model_names import class_names

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "assets" / "models" / "coffee-stones-seg.pt"
WORKFLOW = f"""version: 1
name: t
nodes:
  cam: {{type: source.test_pattern, params: {{frames: 1}}}}
  detect: {{type: detect.yolo, params: {{model: {SHIPPED}, sha256: null, classes: %s}}, inputs: {{image: cam.image}}}}
  log: {{type: sink.jsonl, params: {{path: /dev/null}}, inputs: {{detections: detect.detections}}}}
"""


def test_the_shipped_checkpoint_says_its_names() -> None:
    assert class_names(SHIPPED) == {0: "stone"}


def test_a_random_coco_checkpoint_says_all_80(tmp_path) -> None:
    from conftest_models import coco_names, random_yolo

    assert class_names(random_yolo("yolov8n.yaml", tmp_path / "det.pt")) == coco_names()


def test_onnx_metadata_names(tmp_path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph)
    helper.set_model_props(model, {"task": "segment", "names": "{0: 'stone', 1: 'bean'}"})
    onnx.save(model, tmp_path / "m.onnx")
    assert class_names(tmp_path / "m.onnx") == {0: "stone", 1: "bean"}
    helper.set_model_props(model, {"task": "segment"})
    onnx.save(model, tmp_path / "plain.onnx")
    assert class_names(tmp_path / "plain.onnx") is None


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_reading_names_runs_none_of_the_files_code(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"x": _Boom(), "names": {0: "stone"}}))
    assert class_names(path) == {0: "stone"}
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("name", ["x.engine", "missing.pt", "yolo11n-seg.pt"])
def test_what_cannot_be_told_without_loading_is_none(tmp_path, name) -> None:
    (tmp_path / "x.engine").write_bytes(b"\0" * 64)
    assert class_names(tmp_path / name) is None


def test_a_class_the_model_lacks_is_refused_at_validation_with_its_classes() -> None:
    [issue] = [i for i in validate_text(WORKFLOW % "[person]", "wf.yaml").issues if i.is_error]
    assert issue.node == "detect" and issue.field == "classes" and issue.location.line == 5
    assert "no class 'person'" in issue.message and "its classes: stone" in issue.message
    assert [i.format() for i in validate_text(WORKFLOW % "[Stone, 0]", "wf.yaml").issues if i.is_error] == []
    [issue] = [i for i in validate_text(WORKFLOW % "[stnoe]", "wf.yaml").issues if i.is_error]
    assert "did you mean 'stone'" in issue.message
