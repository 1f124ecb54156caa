"""``runtime: compiled``: the shipped ``.pt`` exported on first use, cached, and finding what the ``.pt`` finds.

Tolerances are those of the edge runtime against ultralytics (test_yolo_edge):
the same number of stones per frame, each box at IoU >= 0.95 with its match,
the same class, confidence within 0.02, its mask at IoU >= 0.9. The classifier
must give the same top class on held-out crops, probabilities within 1e-4.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from test_classify import SHIPPED as SHIPPED_CLS
from test_classify import crops  # noqa: F401 - a fixture
from test_yolo_edge import ROOT, SHIPPED_PT, assert_same_detections, frames, packet, reference  # noqa: F401

import segflow.vision.compiled as compiled_module
from segflow.engine import NodeError
from segflow.engine.node import RunContext
from segflow.nodes.models.classify import YoloClassifier
from segflow.nodes.models.yolo import Yolo
from segflow.vision.compiled import CompileSpec, auto_compiles, compile_target, entry_path
from segflow.vision.yolo_export import ExportFailed
from segflow.vision.yolo_onnx import runtime_problem

pytest.importorskip("ultralytics")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """One model folder for the module: the first test to compile pays for the export."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def exports(monkeypatch) -> list[Path]:
    """Every export the cache starts (the real one still runs)."""
    calls: list[Path] = []
    real = compiled_module.export_weights

    def counting(weights, fmt, out, **kwargs):
        calls.append(out)
        return real(weights, fmt, out, **kwargs)

    monkeypatch.setattr(compiled_module, "export_weights", counting)
    return calls


def kept(models: Path) -> list[str]:
    """What the cache holds, its lock files (one per entry, empty, kept) aside."""
    return sorted(p.name for p in (models / "compiled").iterdir() if not p.name.endswith(".lock"))


def compiled_node(models: Path, model: Path = SHIPPED_PT, **params) -> Yolo:
    context = RunContext(workflow_name="t", base_dir=ROOT, models_dir=models)
    node = Yolo("detect", Yolo.Params(model=str(model), runtime="compiled",
                                      **{"confidence": 0.35, "imgsz": 320, **params}), context)
    node.setup()
    return node


def test_same_detections_as_the_pt_on_the_video(models, frames, capfd):  # noqa: F811
    node = compiled_node(models, retina_masks=True)
    assert node.runtime in ("onnxruntime", "openvino") and type(node.model).__module__ == "segflow.vision.yolo_onnx"
    assert node.model.info.input_size == (None, None) and node.model.info.batch is None  # dynamic shapes
    found = [node.process(packet(f, i))["detections"] for i, f in enumerate(frames)]
    assert_same_detections(found, reference(frames, True))
    batched = [o["detections"] for o in
               compiled_node(models, retina_masks=True, batch_size=8).process_batch(
                   [packet(f, i) for i, f in enumerate(frames[:8])])]
    assert_same_detections(batched, reference(frames, True)[:8])


def test_the_second_start_does_not_export_again(models, exports, capfd):
    compiled_node(models)  # compiled by the test above, or now
    capfd.readouterr()
    exports.clear()
    node = compiled_node(models)
    assert exports == [] and "compiling" not in capfd.readouterr().err
    assert len(node.process(packet(np.zeros((480, 640, 3), np.uint8), 0))["detections"]) == 0


def test_first_use_prints_a_progress_line_and_a_corrupt_entry_is_rebuilt(tmp_path, exports, capfd):
    compiled_node(tmp_path)
    assert len(exports) == 1
    assert "detect: compiling coffee-stones-seg.pt for onnxruntime (first use, cached in" in capfd.readouterr().err
    (entry,) = (tmp_path / "compiled").glob("*.onnx")
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])  # a torn or damaged file
    node = compiled_node(tmp_path)
    assert len(exports) == 2 and "compiling" in capfd.readouterr().err
    assert len(node.process(packet(np.zeros((480, 640, 3), np.uint8), 0))["detections"]) == 0
    (entry,) = (tmp_path / "compiled").glob("*.onnx")
    entry.with_name(entry.name + ".sha256").unlink()  # the digest lost: the entry cannot be trusted
    compiled_node(tmp_path)
    assert len(exports) == 3
    assert kept(tmp_path) == [entry.name, entry.name + ".sha256"]


def test_the_cache_key_follows_the_file_runtime_device_and_options(tmp_path):
    copy = tmp_path / "coffee-stones-seg.pt"
    shutil.copyfile(SHIPPED_PT, copy)
    base = CompileSpec.of(copy, "onnxruntime", "auto", 320, False)
    assert CompileSpec.of(copy, "onnxruntime", "cpu", 640, True) == base  # one dynamic fp32 graph for any CPU
    with open(copy, "ab") as f:
        f.write(b"\0")  # the file changed (retrained, replaced)
    changed = CompileSpec.of(copy, "onnxruntime", "auto", 320, False)
    assert changed.key() != base.key() and entry_path(copy, changed) != entry_path(copy, base)
    engine = CompileSpec(base.weights_sha256, "tensorrt", "10.0", "cuda:0", 320, False, base.exporter)
    keys = {engine.key(), CompileSpec(**{**engine.__dict__, "device": "cuda:1"}).key(),
            CompileSpec(**{**engine.__dict__, "half": True}).key(),
            CompileSpec(**{**engine.__dict__, "imgsz": 640}).key(),
            CompileSpec(**{**engine.__dict__, "runtime_version": "10.1"}).key(), base.key()}
    assert len(keys) == 6
    assert entry_path(copy, engine, tmp_path).name.endswith(".engine")


def test_the_target_is_tensorrt_on_an_nvidia_gpu_else_openvino_else_onnxruntime():
    def having(*packages):
        return lambda name: name in packages

    assert compile_target("auto", having("tensorrt", "openvino"), lambda d: True) == "tensorrt"
    assert compile_target("cpu", having("tensorrt", "openvino"), lambda d: False) == "openvino"
    assert compile_target("auto", having("onnxruntime"), lambda d: True) == "onnxruntime"


def test_validation_names_what_compiling_needs():
    assert runtime_problem("m.pt", "compiled", lambda p: p != "onnx") == (
        "runtime 'compiled' exports the .pt on first use, which needs onnx: not installed")
    assert runtime_problem("m.pt", "compiled", lambda p: True) is None
    assert runtime_problem("m.onnx", "compiled", lambda p: True) is None  # already compiled: the edge runtime


def test_a_failed_export_is_a_located_node_error(tmp_path, monkeypatch):
    def failing(*args, **kwargs):
        raise ExportFailed("onnx export failed: no space left on device")

    monkeypatch.setattr(compiled_module, "export_weights", failing)
    with pytest.raises(NodeError, match="node 'detect': cannot compile .*coffee-stones-seg.pt for onnxruntime: "
                                        "onnx export failed: no space left on device"):
        compiled_node(tmp_path)
    assert kept(tmp_path) == []  # nothing half-written left behind


def test_the_classifier_compiled_agrees_with_its_pt(tmp_path, crops):  # noqa: F811
    def node(runtime: str) -> YoloClassifier:
        made = YoloClassifier("kind", YoloClassifier.Params(model=str(SHIPPED_CLS), runtime=runtime, batch_size=64),
                              RunContext(workflow_name="t", base_dir=ROOT, models_dir=tmp_path))
        made.setup()
        return made

    pt, fast = node("ultralytics"), node("compiled")
    assert pt.runtime == "ultralytics" and fast.runtime in ("onnxruntime", "openvino")
    assert fast.names == pt.names and fast.imgsz == pt.imgsz
    images = [image for _, image in crops]
    p_pt, p_fast = pt.probabilities(images), fast.probabilities(images)
    assert np.array_equal(p_pt.argmax(1), p_fast.argmax(1))
    assert np.abs(p_pt - p_fast).max() < 1e-4


def auto_node(models: Path, **params) -> Yolo:
    context = RunContext(workflow_name="t", base_dir=ROOT, models_dir=models)
    node = Yolo("detect", Yolo.Params(model=str(SHIPPED_PT), **{"confidence": 0.35, "imgsz": 320, **params}), context)
    node.setup()
    return node


def test_auto_compiles_a_pt_on_a_cpu_and_finds_what_the_pt_finds(models, frames):  # noqa: F811
    node = auto_node(models, retina_masks=True)  # runtime: auto, the default
    assert node.runtime in ("onnxruntime", "openvino") and type(node.model).__module__ == "segflow.vision.yolo_onnx"
    assert_same_detections([node.process(packet(f, i))["detections"] for i, f in enumerate(frames[:10])],
                           reference(frames, True)[:10])
    assert auto_node(models, runtime="ultralytics").runtime == "ultralytics"  # the .pt as it is, on request


def test_auto_runs_the_pt_as_it_is_when_compiling_fails(tmp_path, monkeypatch, capfd):
    def failing(*args, **kwargs):
        raise ExportFailed("onnx export failed: no space left on device")

    monkeypatch.setattr(compiled_module, "export_weights", failing)
    node = auto_node(tmp_path)
    assert node.runtime == "ultralytics" and len(node.process(packet(np.zeros((480, 640, 3), np.uint8), 0))
                                                 ["detections"]) == 0
    err = capfd.readouterr().err
    assert "detect: cannot compile coffee-stones-seg.pt for onnxruntime (onnx export failed: no space left on " \
           "device); running the .pt on ultralytics as it is" in err


def test_auto_compiles_only_where_the_compiled_model_is_the_faster_one():
    def having(*packages):
        return lambda name: name in packages

    full = having("ultralytics", "onnx", "onnxruntime")
    assert auto_compiles("auto", full, lambda d: False)  # a CPU box: the ONNX graph beats eager torch
    assert auto_compiles("cpu", full, lambda d: True)  # the CPU asked for, although a GPU is there
    assert not auto_compiles("auto", full, lambda d: True)  # a GPU without TensorRT: torch on the GPU
    assert not auto_compiles("cuda:0", full, lambda d: True)
    assert not auto_compiles("mps", full, lambda d: False)
    assert auto_compiles("auto", having("ultralytics", "onnx", "onnxruntime", "tensorrt"), lambda d: True)
    assert not auto_compiles("auto", having("ultralytics", "onnxruntime"), lambda d: False)  # no exporter
    assert not auto_compiles("auto", having("ultralytics", "onnx"), lambda d: False)  # nothing to run it on


def test_a_model_folder_that_cannot_be_written_is_no_error_under_auto(tmp_path, capfd):
    blocked = tmp_path / "models"
    blocked.write_text("a file where the model folder should be")  # no compiled/ can be made in it
    node = auto_node(blocked)
    assert node.runtime == "ultralytics"
    assert "running the .pt on ultralytics as it is" in capfd.readouterr().err
    with pytest.raises(NodeError, match="node 'detect': cannot compile .*coffee-stones-seg.pt for onnxruntime"):
        compiled_node(blocked)  # runtime: compiled was asked for: there it is an error


def test_sessions_starting_at_once_on_new_weights_export_them_once_and_share_the_file(tmp_path, exports):
    import threading

    starts: list[Yolo] = []
    threads = [threading.Thread(target=lambda: starts.append(auto_node(tmp_path))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert len(starts) == 3 and len(exports) == 1  # the other two waited for the first and loaded its file
    (entry,) = (tmp_path / "compiled").glob("*.onnx")
    assert kept(tmp_path) == [entry.name, entry.name + ".sha256"]
    assert all(node.runtime == "onnxruntime" or node.runtime == "openvino" for node in starts)


def test_two_processes_starting_at_once_export_once(tmp_path):
    import subprocess
    import sys

    script = ("import sys; from pathlib import Path; from segflow.vision.compiled import CompileSpec, compiled; "
              "w = Path(sys.argv[1]); spec = CompileSpec.of(w, 'onnxruntime', 'cpu', 320, False); "
              "print(compiled(w, spec, Path(sys.argv[2]), lambda line: print(line, file=sys.stderr)))")
    runs = [subprocess.Popen([sys.executable, "-c", script, str(SHIPPED_PT), str(tmp_path)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outs]
    assert sum("compiling coffee-stones-seg.pt" in err for _, err in outs) == 1  # the other waited on the lock
    assert outs[0][0] == outs[1][0] and len(kept(tmp_path)) == 2
