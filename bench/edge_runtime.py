"""The edge runtime side by side with ultralytics: venv size on disk, and coffee-workflow FPS on this CPU.

    python bench/edge_runtime.py [--frames 120] [--rounds 3] [--edge-venv build/edge-venv] [--full-venv PATH]

Sizes: a venv with only `pip install '.[edge]'` (made at --edge-venv when missing,
reused after) against the full venv this script runs in (or --full-venv), plus
what the edge venv spends on each distribution and on those only supervision pulls.

Speed: workflows/coffee_stones.yaml on the first --frames frames of the sample
video, with only `detect.model`/`detect.runtime` changed: ultralytics on the .pt,
ultralytics on the ONNX export, and the edge runtime on the same export
(onnxruntime; OpenVINO too when installed). The coffee workflow tracks stones
(trackers) and writes SQLite (SQLAlchemy), which the edge venv lacks, so these
runs use the full venv; workflows/edge_stones.yaml then runs in the edge venv
itself. Runs alternate over --rounds rounds; each run is compared with the
ultralytics-ONNX run of its own round, so a burst of other work on a shared
machine skews the ratios less than the FPS figures.
Targets: edge venv < 800 MB; edge runtime >= ultralytics-ONNX.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PT = ROOT / "assets" / "models" / "coffee-stones-seg.pt"
FPS = re.compile(r"frames in [\d.]+ s \(([\d.]+) FPS\)")

# Run inside the edge venv: bytes per installed distribution, and the set reachable only through supervision.
SIZES = r"""
import json, re
from importlib import metadata
def name(s): return re.split(r"[ ;<>=!~\[(]", s.strip(), maxsplit=1)[0].lower().replace("_", "-")
dists = {name(d.metadata["Name"]): d for d in metadata.distributions()}
size = {n: sum((d.locate_file(f).stat().st_size for f in (d.files or []) if d.locate_file(f).is_file()), 0)
        for n, d in dists.items()}
reqs = {n: [name(r) for r in (d.requires or []) if "extra ==" not in r] for n, d in dists.items()}
def closure(roots):
    seen, todo = set(), list(roots)
    while todo:
        n = todo.pop()
        if n in dists and n not in seen:
            seen.add(n); todo += reqs[n]
    return seen
everything = closure(["segflow", "onnxruntime"])
without = closure([r for r in reqs["segflow"] if r != "supervision"] + ["onnxruntime"])
print(json.dumps({"size": size, "only_supervision": sorted(everything - without - {"segflow", "supervision"})}))
"""


def disk_mb(folder: Path) -> float:
    total = 0
    for dirpath, _, files in os.walk(folder):
        for f in files:
            st = os.lstat(os.path.join(dirpath, f))
            total += st.st_blocks * 512
    return total / 2**20


def make_edge_venv(target: Path) -> None:
    if (target / "bin" / "segflow").exists():
        return
    print(f"creating {target} with pip install '.[edge]' ...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    with tempfile.TemporaryDirectory() as scratch:  # build from a copy: no build files in the checkout
        subprocess.run(["cp", "-r", str(ROOT / "segflow"), str(ROOT / "pyproject.toml"), str(ROOT / "README.md"),
                        scratch], check=True)
        subprocess.run([str(target / "bin" / "python"), "-m", "pip", "install", "-q", f"{scratch}[edge]"], check=True)


def pinned(model: Path) -> str:
    """The override that pins ``model``'s own hash: the workflows pin the shipped .pt's, which an export is not."""
    return f"detect.sha256={hashlib.sha256(model.read_bytes()).hexdigest()}"


def run_fps(python: Path, workflow: Path, sets: list[str], frames: int, cwd: Path) -> float:
    args = [str(python), "-m", "segflow.engine.cli", "run", str(workflow), "--max-frames", str(frames)]
    for s in sets:
        args += ["--set", s]
    res = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=1800)
    found = FPS.search(res.stdout + res.stderr)
    if res.returncode != 0 or not found:
        raise SystemExit(f"run failed ({' '.join(sets)}):\n{res.stderr[-2000:]}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--edge-venv", type=Path, default=ROOT / "build" / "edge-venv")
    parser.add_argument("--full-venv", type=Path, default=Path(sys.prefix))
    args = parser.parse_args()

    make_edge_venv(args.edge_venv)
    edge_python = args.edge_venv / "bin" / "python"
    info = json.loads(subprocess.run([str(edge_python), "-c", SIZES], capture_output=True, text=True,
                                     check=True).stdout)
    edge_mb, full_mb = disk_mb(args.edge_venv), disk_mb(args.full_venv)
    mb = {n: s / 2**20 for n, s in info["size"].items()}
    only_sv = sum(mb[n] for n in info["only_supervision"]) + mb.get("supervision", 0)

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "assets").symlink_to(ROOT / "assets", target_is_directory=True)
        onnx = work / "coffee-stones-seg.onnx"
        subprocess.run([sys.executable, "-m", "segflow.engine.cli", "export", str(PT), "--out", str(onnx)],
                       check=True, capture_output=True, cwd=work)
        dynamic = work / "coffee-stones-seg-dynamic.onnx"
        subprocess.run([sys.executable, "-m", "segflow.engine.cli", "export", str(PT), "--dynamic", "--out",
                        str(dynamic)], check=True, capture_output=True, cwd=work)
        coffee, edge_flow = ROOT / "workflows" / "coffee_stones.yaml", ROOT / "workflows" / "edge_stones.yaml"
        outputs = ["log.path=out/s.jsonl", "db.database=out/s.db", "video.path=out/{source}.mp4"]
        configs = {
            "ultralytics .pt": (Path(sys.executable), coffee, [f"detect.model={PT}", *outputs]),
            "ultralytics ONNX": (Path(sys.executable), coffee, [f"detect.model={onnx}", pinned(onnx),
                                                               "detect.runtime=ultralytics", *outputs]),
            "edge: onnxruntime": (Path(sys.executable), coffee, [f"detect.model={onnx}", pinned(onnx),
                                                                "detect.runtime=onnxruntime", *outputs]),
        }
        # A --dynamic export takes 640x480 frames as 320x256, as ultralytics feeds the .pt, not 320x320.
        configs["edge: onnxruntime, --dynamic export"] = (Path(sys.executable), coffee, [
            f"detect.model={dynamic}", pinned(dynamic), "detect.runtime=onnxruntime", *outputs])
        if subprocess.run([sys.executable, "-c", "import openvino"], capture_output=True).returncode == 0:
            configs["edge: OpenVINO"] = (Path(sys.executable), coffee, [f"detect.model={onnx}", pinned(onnx),
                                                                       "detect.runtime=openvino", *outputs])
        # The same small workflow in both venvs: the edge venv's own speed, against ultralytics-ONNX in the full one.
        configs["edge_stones: full venv, ultralytics ONNX"] = (Path(sys.executable), edge_flow, [
            f"detect.model={onnx}", pinned(onnx), "detect.runtime=ultralytics"])
        configs["edge_stones: edge venv, onnxruntime"] = (edge_python, edge_flow, [
            f"detect.model={onnx}", pinned(onnx)])
        fps: dict[str, list[float]] = {name: [] for name in configs}
        for _ in range(args.rounds):
            for name, (python, workflow, sets) in configs.items():
                fps[name].append(run_fps(python, workflow, sets, args.frames, work))

    print(f"edge runtime: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end "
          "(other jobs may share them)")
    print(f"  edge venv ({args.edge_venv}): {edge_mb:.0f} MB on disk; full venv ({args.full_venv}): {full_mb:.0f} MB"
          f" -> {edge_mb / full_mb:.1%} of it")
    largest = sorted(mb.items(), key=lambda kv: -kv[1])[:8]
    print("  largest in the edge venv: " + ", ".join(f"{n} {s:.0f} MB" for n, s in largest))
    print(f"  pulled only by supervision ({', '.join(info['only_supervision'])}): {only_sv:.0f} MB "
          f"({only_sv / edge_mb:.0%} of the edge venv)")
    print(f"  {args.frames} frames 640x480 of the sample video, {args.rounds} alternating rounds; median FPS, and "
          "the median of each round's ratio to ultralytics-ONNX run in the same round:")
    ratios: dict[str, float] = {}
    for name, values in fps.items():
        reference = fps["edge_stones: full venv, ultralytics ONNX" if name.startswith("edge_stones")
                        else "ultralytics ONNX"]
        ratios[name] = statistics.median(v / r for v, r in zip(values, reference, strict=True))
        rounds = " ".join(f"{v:.1f}" for v in values)
        print(f"    {name:42s} {statistics.median(values):6.1f} FPS  {ratios[name]:.2f}x  (rounds: {rounds})")
    fast = ratios["edge: onnxruntime"] >= 1.0
    print(f"  edge venv < 800 MB: {'PASS' if edge_mb < 800 else 'FAIL'}; edge runtime (onnxruntime) >= "
          f"ultralytics ONNX on the coffee workflow: {'PASS' if fast else 'FAIL'}")


if __name__ == "__main__":
    main()
