"""The edge path without torch weights: `segflow export` the shipped model to ONNX, and the coffee
workflow runs unchanged on it through onnxruntime, logging the same stones as with the .pt."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

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
def test_coffee_workflow_runs_unchanged_on_the_onnx_export(tmp_path):
    (tmp_path / "assets").symlink_to(ROOT / "assets", target_is_directory=True)
    shutil.copy(ROOT / "assets" / "models" / "coffee-stones-seg.pt", tmp_path / "stones.pt")
    segflow("export", tmp_path / "stones.pt", "--format", "onnx", "--out", tmp_path / "stones.onnx", cwd=tmp_path)
    assert (tmp_path / "stones.onnx").stat().st_size > 1_000_000

    workflow = ROOT / "workflows" / "coffee_stones.yaml"
    for name, model in (("pt", "assets/models/coffee-stones-seg.pt"), ("onnx", tmp_path / "stones.onnx")):
        segflow("run", workflow, "--set", f"detect.model={model}", "--set", f"log.path=out/{name}.jsonl",
                "--set", f"db.database=out/{name}.db", "--set", f"video.path=out/{name}-{{source}}.mp4",
                "--max-frames", FRAMES, "--quiet", cwd=tmp_path)
    torch_run = stones_by_frame(tmp_path / "out" / "pt.jsonl")
    onnx_run = stones_by_frame(tmp_path / "out" / "onnx.jsonl")
    assert sum(len(v) for v in torch_run.values()) >= 10  # stones were found at all
    assert onnx_run.keys() == torch_run.keys()
    for frame, lengths in torch_run.items():
        assert len(onnx_run[frame]) == len(lengths), frame
        assert onnx_run[frame] == pytest.approx(lengths, abs=0.3), frame  # same stones, same mm
