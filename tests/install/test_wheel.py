"""The wheel installs one importable name, `segflow`, and shares an environment with a package called `nodes`.

The wheel is built from a copy of the source (no build/ or egg-info left in the
checkout) without build isolation, so nothing is downloaded. It is installed
with --no-deps into a fresh venv whose dependencies come from this
environment's site-packages through a .pth file (paths only: .pth files in
those folders, such as the editable install's finder, are not run), next to a
dummy distribution named `nodes` that the test writes and installs first.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
DUMMY_NODES = '"""Not segflow: a distribution that happens to be called nodes."""\nMARK = "dummy nodes 9.9"\n'
PACKAGE_DATA = ("*.yaml", "*.json", "*.html", "*.js", "*.css")

pytestmark = pytest.mark.slow


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    res = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kwargs)
    assert res.returncode == 0, f"{args}\n{res.stdout}\n{res.stderr}"
    return res


def pip(*args, python: Path | None = None) -> None:
    target = ["--python", python] if python else []
    run(sys.executable, "-m", "pip", *target, "--disable-pip-version-check", "-q", *args)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "segflow", src / "segflow", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", out, src)
    (wheel,) = out.glob("segflow-*.whl")
    return wheel


@pytest.fixture(scope="module")
def venv(tmp_path_factory, built: Path) -> Path:
    root = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--without-pip", root)
    python = root / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip())
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    deps = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    assert deps, "no site-packages on this interpreter's path to borrow dependencies from"
    # This environment's own site-packages go last: the editable segflow lives there as a finder
    # (a .pth file, not run from here), and only its dist-info would be visible.
    (purelib / "_deps.pth").write_text("\n".join(sorted(deps, key=lambda p: p in ours)) + "\n")

    dummy = tmp_path_factory.mktemp("dummy")
    (dummy / "nodes").mkdir()
    (dummy / "nodes" / "__init__.py").write_text(DUMMY_NODES)
    (dummy / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "nodes"\nversion = "9.9"\n[tool.setuptools]\npackages = ["nodes"]\n'
    )
    pip("install", "--no-deps", "--no-build-isolation", "--no-index", dummy, python=python)
    pip("install", "--no-deps", "--no-index", built, python=python)
    return root


def test_the_wheel_holds_only_segflow_and_its_dist_info(built: Path):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    names = zipfile.ZipFile(built).namelist()
    assert {n.split("/", 1)[0] for n in names} == {"segflow", f"segflow-{version}.dist-info"}
    record = zipfile.ZipFile(built).read(f"segflow-{version}.dist-info/RECORD").decode()
    assert {line.split(",")[0].split("/", 1)[0] for line in record.splitlines() if line} == {
        "segflow", f"segflow-{version}.dist-info"}


def test_the_wheel_carries_the_package_data(built: Path):
    data = sorted(
        str(p.relative_to(ROOT)) for pattern in PACKAGE_DATA for p in (ROOT / "segflow").rglob(pattern)
    )
    assert "segflow/ui/canvas_frontend/index.html" in data and "segflow/ui/canvas_frontend/canvas.js" in data
    assert any(p.endswith((".json", ".yaml")) for p in data), "expected yaml/json data files under segflow/"
    names = set(zipfile.ZipFile(built).namelist())
    assert [p for p in data if p not in names] == []


def test_installed_next_to_a_package_called_nodes(venv: Path):
    python = venv / "bin" / "python"
    code = (
        "import json, nodes, segflow, segflow.nodes, segflow.engine.cli as cli\n"
        "print(json.dumps([nodes.MARK, nodes.__file__, segflow.__file__, segflow.nodes.__file__]))"
    )
    mark, nodes_file, segflow_file, segflow_nodes_file = json.loads(run(python, "-c", code, cwd=venv).stdout)
    assert mark == "dummy nodes 9.9"
    assert Path(nodes_file).read_text() == DUMMY_NODES
    for path in (nodes_file, segflow_file, segflow_nodes_file):
        assert Path(path).is_relative_to(venv), f"{path} is not the installed copy"
    assert Path(segflow_nodes_file).parent.parent == Path(segflow_file).parent
    dist_info = next((venv / "lib").glob("python*/site-packages/nodes-9.9.dist-info"))
    assert "nodes/__init__.py" in (dist_info / "RECORD").read_text()


def test_the_installed_console_script_lists_the_built_in_nodes(venv: Path):
    listed = json.loads(run(venv / "bin" / "segflow", "nodes", "--json", cwd=venv).stdout)
    here = json.loads(run(sys.executable, "-m", "segflow.engine.cli", "nodes", "--json", cwd=ROOT).stdout)
    types = [n["type"] for n in listed]
    assert {"source.video", "detect.yolo", "segment.sam2", "measure.masks", "sink.jsonl"} <= set(types)
    assert types == [n["type"] for n in here]  # the wheel lists what the source checkout lists
