"""An edge box installs only the core: the engine and every built-in node module import without
torch, ultralytics, sam2, Streamlit, SQLAlchemy or paho (they are imported lazily by the nodes that need them)."""

import subprocess
import sys

BLOCK = ("torch", "torchvision", "ultralytics", "sam2", "streamlit", "sqlalchemy", "paho", "av", "onnxruntime")

SCRIPT = f"""
import sys
for name in {BLOCK!r}:
    sys.modules[name] = None  # any import of it now raises ImportError
from segflow.engine.registry import default_registry
registry = default_registry()
assert not registry.failures, registry.failures
assert "detect.yolo" in registry.types and "segment.sam2" in registry.types
from segflow.engine.api import loads
report = loads('''
version: 1
name: core
nodes:
  cam: {{type: source.test_pattern, params: {{frames: 3}}}}
  find: {{type: detect.threshold, inputs: {{image: cam.image}}}}
  m: {{type: measure.masks, inputs: {{detections: find.detections}}}}
''').run()
assert report.frames == 3 and report.failures == 0, report.to_dict()
print("ok", len(registry))
"""


def test_engine_and_nodes_import_without_heavy_libraries():
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ok")


def test_engine_package_never_imports_ours_or_heavy_libraries():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "segflow" / "engine"
    ours = r"segflow\.nodes|segflow\.ui|segflow\.tools|nodes|ui|tools"
    pattern = re.compile(rf"^\s*(from|import)\s+({ours}|torch|ultralytics|sam2|streamlit)\b", re.M)
    modules = sorted(root.rglob("*.py"))
    assert len(modules) > 30, "the walk found too few engine modules: did the layout move?"
    offenders = [str(p.relative_to(root)) for p in modules if pattern.search(p.read_text())]
    assert offenders == []
