"""`sha256` on model nodes: a workflow that pins its weights refuses any other file, before loading it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest

from segflow.engine import NodeError
from segflow.engine.node import RunContext
from segflow.nodes.models.sam2 import Sam2Segment
from segflow.nodes.models.yolo import Yolo
from segflow.vision.model_files import file_sha256, sha256_problem

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_PT = ROOT / "assets" / "models" / "coffee-stones-seg.pt"
WRONG = "0" * 64


def test_file_sha256_is_sha256sum_and_follows_changes(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"weights" * 300_000)  # two read chunks
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_bytes(b"other")
    assert file_sha256(path) == hashlib.sha256(b"other").hexdigest()  # the cache notices the change
    assert sha256_problem(path, hashlib.sha256(b"other").hexdigest().upper()) is None  # hex in either case
    assert sha256_problem(path, None) is None
    problem = sha256_problem(path, WRONG)
    assert problem is not None and WRONG in problem and hashlib.sha256(b"other").hexdigest() in problem


@pytest.mark.parametrize("value", ["abc", "g" * 64, "0" * 63, "0" * 65])
def test_sha256_must_be_64_hex_digits(value):
    with pytest.raises(pydantic.ValidationError):
        Yolo.Params(model="m.pt", sha256=value)


def write_workflow(folder: Path, model: Path, sha256: str) -> Path:
    path = folder / "pinned.yaml"
    path.write_text(f"""version: 1
name: pinned
nodes:
  frames:
    type: source.video
    params: {{path: {ROOT / 'assets/samples/conveyor.mp4'}, end: 2, unit: frames}}
  detect:
    type: detect.yolo
    params:
      model: {model}
      sha256: "{sha256}"
    inputs: {{image: frames.image}}
  log:
    type: sink.jsonl
    params: {{path: out.jsonl}}
    inputs: {{detections: detect.detections}}
""")
    return path


def segflow(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segflow.engine.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_run_refuses_a_model_whose_hash_differs_and_says_where(tmp_path):
    actual = hashlib.sha256(SHIPPED_PT.read_bytes()).hexdigest()
    workflow = write_workflow(tmp_path, SHIPPED_PT, WRONG)
    res = segflow("run", workflow, "--quiet", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert f"pinned.yaml:11:15: node 'detect': param 'sha256': {SHIPPED_PT} has sha256 {actual}" in res.stderr
    assert f"but the workflow expects {WRONG}" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out.jsonl").exists()  # nothing ran

    write_workflow(tmp_path, SHIPPED_PT, actual)
    res = segflow("run", workflow, "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out.jsonl").exists()


def test_setup_checks_again_the_file_may_have_changed_after_validation(tmp_path):
    model = tmp_path / "stones.pt"
    model.write_bytes(SHIPPED_PT.read_bytes())
    pinned = hashlib.sha256(model.read_bytes()).hexdigest()
    context = RunContext(base_dir=tmp_path)
    params = Yolo.Params(model="stones.pt", sha256=pinned)
    assert Yolo.check_params(params, context) == []
    model.write_bytes(b"a crafted pickle would be here")
    node = Yolo("detect", params, context)
    with pytest.raises(NodeError, match=f"node 'detect': .*stones.pt has sha256 .*expects {pinned}") as info:
        node.setup()
    assert "a .pt file runs code when loaded" in info.value.hint


def test_a_model_name_cannot_be_pinned():
    problems = Yolo.check_params(Yolo.Params(model="yolo11n-seg.pt", sha256=WRONG), RunContext(base_dir=ROOT))
    assert [(p.field, "model name" in p.message) for p in problems] == [("sha256", True)]


def test_sam2_checkpoint_is_checked_too(tmp_path):
    checkpoint = tmp_path / "sam.pt"
    checkpoint.write_bytes(b"checkpoint bytes")
    right = hashlib.sha256(b"checkpoint bytes").hexdigest()
    context = RunContext(base_dir=tmp_path)
    assert "sha256" not in {p.field for p in Sam2Segment.check_params(
        Sam2Segment.Params(checkpoint="sam.pt", sha256=right), context)}
    problems = [p for p in Sam2Segment.check_params(Sam2Segment.Params(checkpoint="sam.pt", sha256=WRONG), context)
                if p.field == "sha256"]
    assert len(problems) == 1 and right in problems[0].message and WRONG in problems[0].message
    node = Sam2Segment("segment", Sam2Segment.Params(checkpoint="sam.pt", sha256=WRONG), context)
    with pytest.raises(NodeError, match=f"node 'segment': .*sam.pt has sha256 {right}"):
        node.setup()
