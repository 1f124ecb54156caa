"""Model files checked before they load: unpinned pickles warned about, non-checkpoints and empty folders refused."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from segflow.engine.workflow.validate import validate_text
from segflow.tools.models import main as models_main
from segflow.vision.model_files import file_sha256

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_PT = ROOT / "assets" / "models" / "coffee-stones-seg.pt"
HEAD = "version: 1\nname: t\nnodes:\n  cam: {type: source.test_pattern, params: {frames: 2}}\n"
SINK = "  log: {type: sink.jsonl, params: {path: out.jsonl}, inputs: {detections: det.detections}}\n"


def detect(model: str, extra: str = "") -> str:
    node = f"  det: {{type: detect.yolo, params: {{model: '{model}'{extra}}}, inputs: {{image: cam.image}}}}\n"
    return HEAD + node + SINK


def issues(text: str, tmp_path: Path):
    result = validate_text(text, str(tmp_path / "wf.yaml"))
    return result, [(i.severity.value, i.field, i.message) for i in result.issues]


def test_an_unpinned_pickle_is_a_warning_at_validation(tmp_path):
    result, found = issues(detect(str(SHIPPED_PT)), tmp_path)
    assert result.ok  # a warning, not an error: the file may be the one you trust
    warnings = [f for f in found if f[0] == "warning" and f[1] == "model"]
    assert len(warnings) == 1 and "no `sha256` pin" in warnings[0][2]
    result, found = issues(detect(str(SHIPPED_PT), f", sha256: {file_sha256(SHIPPED_PT)}"), tmp_path)
    assert result.ok and not [f for f in found if f[0] == "warning" and f[1] == "model"]


def test_segflow_run_warns_about_an_unpinned_pickle_too(tmp_path):
    class Payload:
        def __reduce__(self):
            return (exec, ("open('PWNED', 'w').write('ran')",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps(Payload(), protocol=2))  # a pickle that runs code
    (tmp_path / "wf.yaml").write_text(detect("evil.pt"))
    res = subprocess.run([sys.executable, "-m", "segflow.engine.cli", "run", "wf.yaml", "--quiet", "--max-frames", "1"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert "warning" in res.stderr and "no `sha256` pin" in res.stderr, res.stderr
    assert "segflow models pin" in res.stderr


def test_random_bytes_in_a_pt_are_refused_with_the_reason(tmp_path):
    (tmp_path / "random.pt").write_bytes(bytes(range(7, 250)) * 40)
    result, found = issues(detect(str(tmp_path / "random.pt")), tmp_path)
    assert not result.ok
    errors = [f for f in found if f[0] == "error"]
    assert errors and errors[0][1] == "model" and "not a PyTorch checkpoint" in errors[0][2]
    assert "07 08 09 0a" in errors[0][2]  # its first bytes, so the reason is never empty


def test_a_folder_with_no_exported_model_is_refused(tmp_path):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "notes.txt").write_text("not a model")
    result, found = issues(detect(str(tmp_path / "weights")), tmp_path)
    assert not result.ok
    assert any(f[1] == "model" and "folder with no exported model" in f[2] for f in found), found
    (tmp_path / "weights" / "model.xml").write_text("<net/>")
    (tmp_path / "weights" / "model.bin").write_bytes(b"\0")
    result, found = issues(detect(str(tmp_path / "weights")), tmp_path)
    assert not any("folder with no exported model" in f[2] for f in found)


def test_models_pin_writes_the_pins_and_keeps_the_comments(tmp_path, monkeypatch, capsys):
    shutil.copy(SHIPPED_PT, tmp_path / "m.pt")
    monkeypatch.chdir(tmp_path)
    workflow = tmp_path / "wf.yaml"
    workflow.write_text("# my line\n" + detect("m.pt", ", confidence: 0.4") + "# the end\n")
    assert models_main(["pin", str(workflow)]) == 0
    text = workflow.read_text()
    assert f"sha256: {file_sha256(tmp_path / 'm.pt')}" in text and "# my line" in text and "# the end" in text
    result, found = issues(text, tmp_path)
    assert result.ok and not [f for f in found if f[0] == "warning" and f[1] == "model"]
    (tmp_path / "m.pt").write_bytes((tmp_path / "m.pt").read_bytes() + b"tampered")
    capsys.readouterr()
    assert models_main(["pin", str(workflow)]) == 2  # a pin that no longer matches is reported, not rewritten
    assert "refusing to load it" in capsys.readouterr().err
    assert workflow.read_text() == text


def test_the_shipped_workflows_pin_their_pickles():
    pinned = 0
    for path in sorted((ROOT / "workflows").glob("*.yaml")):
        for node_id, node in yaml.safe_load(path.read_text())["nodes"].items():
            params = node.get("params") or {}
            weights = str(params.get("model") or "")
            if weights.endswith(".pt") and Path(weights).parent != Path("."):  # a file, not a hub name
                assert params.get("sha256") == file_sha256(ROOT / weights), f"{path.name}: node '{node_id}'"
                pinned += 1
    assert pinned >= 5
