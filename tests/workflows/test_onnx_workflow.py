"""The edge path: `segflow export` the shipped model to ONNX, and the coffee workflow, with only
`detect.model` (and its `sha256` pin) changed, logs the same stones as with the .pt: on the edge
runtime (no torch in the loop) and, for comparison, on ultralytics' own ONNX backend."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from segflow.vision.model_files import file_sha256

ROOT = Path(__file__).resolve().parents[2]
FRAMES = 40


def segflow(*args, cwd):
    res = subprocess.run([sys.executable, "-m", "segflow.engine.cli", *map(str, args)], cwd=cwd, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return res


def stones_by_frame(path: Path) -> dict[int, list[float]]:
    out: dict[int, list[float]] = defaultdict(list)
    for line in path.read_text().splitlines():
        row = json.loads(line)
        out[row["frame"]].append(row["feret_max_mm"])
    return {frame: sorted(values) for frame, values in out.items()}


@pytest.mark.slow
def test_coffee_workflow_runs_unchanged_on_the_onnx_export(tmp_path, shipped_onnx):
    (tmp_path / "assets").symlink_to(ROOT / "assets", target_is_directory=True)
    workflow = ROOT / "workflows" / "coffee_stones.yaml"
    runs = {
        "pt": ["detect.model=assets/models/coffee-stones-seg.pt"],
        "edge": [f"detect.model={shipped_onnx}", f"detect.sha256='{file_sha256(shipped_onnx)}'"],  # runtime: auto
        "ultralytics-onnx": [f"detect.model={shipped_onnx}", f"detect.sha256='{file_sha256(shipped_onnx)}'",
                             "detect.runtime=ultralytics"],
    }
    logs = {}
    for name, sets in runs.items():
        sets = [*sets, f"log.path=out/{name}.jsonl", f"db.database=out/{name}.db",
                f"video.path=out/{name}-{{source}}.mp4"]
        logs[name] = segflow("run", workflow, *(a for s in sets for a in ("--set", s)), "--max-frames", FRAMES,
                             cwd=tmp_path).stderr
    edge = "openvino" if importlib.util.find_spec("openvino") else "onnxruntime"
    assert f"(segment, 1 classes) on {edge}" in logs["edge"]
    assert "(segment, 1 classes) on ultralytics" in logs["ultralytics-onnx"]
    torch_run = stones_by_frame(tmp_path / "out" / "pt.jsonl")
    assert sum(len(v) for v in torch_run.values()) >= 10  # stones were found at all
    for name in ("edge", "ultralytics-onnx"):
        onnx_run = stones_by_frame(tmp_path / "out" / f"{name}.jsonl")
        assert onnx_run.keys() == torch_run.keys(), name
        for frame, lengths in torch_run.items():
            assert len(onnx_run[frame]) == len(lengths), (name, frame)
            assert onnx_run[frame] == pytest.approx(lengths, abs=0.3), (name, frame)  # same stones, same mm
