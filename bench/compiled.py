"""The flagship as shipped (``runtime: auto`` compiles its ``.pt``) against the bare ``.pt`` loop.

    python bench/compiled.py [--frames 300] [--repeats 2]

Side by side in one run, runs interleaved and the best of each kept (the machine may be shared):

- bare:     bench/flagship.py's loop: decode -> ultralytics ``.pt`` predict, nothing else;
- bare-compiled: the bare loop on the compiled model (``detect.yolo`` with ``runtime: compiled``, one
            frame a call): what the runtime alone gains;
- ultralytics: ``workflows/coffee_stones.yaml`` with all its sinks and ``detect.runtime=ultralytics``: the
            ``.pt`` as it is, what ``runtime: auto`` ran before it compiled;
- shipped:  the same workflow as shipped (``runtime: auto``): the ``.pt`` exported once to a dynamic ONNX
            graph and run on the edge runtime (onnxruntime here, OpenVINO where installed).

The first compiled start exports the model into a fresh model folder (timed and
printed); every later start loads it from the cache (timed too). FPS is frames over
streaming time, setup excluded. Target: shipped >= 1.3x bare on a CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flagship import MODEL, PREDICT, ROOT, bare, looped_frames, segflow  # noqa: E402


def compiled_node(models: Path):
    """detect.yolo on the flagship's model and predict settings, compiled (from ``models``' cache after the first)."""
    from segflow.engine.node import RunContext
    from segflow.nodes.models.yolo import Yolo

    params = Yolo.Params(model=str(MODEL), runtime="compiled", imgsz=PREDICT["imgsz"], confidence=PREDICT["conf"],
                         retina_masks=PREDICT["retina_masks"])
    node = Yolo("detect", params, RunContext(workflow_name="bench", base_dir=ROOT, models_dir=models))
    node.setup()
    return node


def setup_seconds(models: Path) -> float:
    """How long a compiled detect.yolo takes to start with ``models`` as its model folder."""
    start = time.perf_counter()
    compiled_node(models).close()
    return time.perf_counter() - start


def bare_compiled(frames: int, models: Path) -> float:
    from segflow.engine import Frame, Inputs, PacketInfo

    node = compiled_node(models)
    start = time.perf_counter()
    for index, frame in enumerate(looped_frames(frames)):
        node.process(Inputs({"image": Frame(frame, "belt", index, index / 15)}, PacketInfo("belt", index, 0.0)))
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        os.environ["SEGFLOW_MODELS"] = str(models)  # a cold cache: the first start compiles
        first, second = setup_seconds(models), setup_seconds(models)
        runs = (("bare", lambda out: bare(args.frames, out)),
                ("bare-compiled", lambda out: bare_compiled(args.frames, models)),
                ("ultralytics", lambda out: segflow(args.frames, out, "detect.runtime=ultralytics")),
                ("shipped", lambda out: segflow(args.frames, out)))
        for _ in range(args.repeats):
            for name, run in runs:
                out = Path(tmp) / name
                out.mkdir(exist_ok=True)
                best[name] = max(best.get(name, 0.0), run(out))
    load = os.getloadavg()
    print(f"flagship coffee graph, {args.frames} frames, best of {args.repeats} (FPS); "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(f"  compiled start: first {first:.1f} s (export), second {second:.2f} s (cached)")
    for name in ("bare", "bare-compiled", "ultralytics", "shipped"):
        print(f"  {name:<13} {best[name]:6.2f}")
    print(f"  bare-compiled / bare : {best['bare-compiled'] / best['bare']:.2f}x (the runtime alone)")
    print(f"  shipped / bare       : {best['shipped'] / best['bare']:.2f}x (target >= 1.3x)")
    print(f"  shipped / ultralytics: {best['shipped'] / best['ultralytics']:.2f}x")


if __name__ == "__main__":
    main()
