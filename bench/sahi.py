"""SAHI: small stones in a 3200 px frame, tiled vs the same model on the whole frame.

    python bench/sahi.py

The frame is the generated sample ``assets/samples/small_stones.jpg``
(3200 x 960 px at 0.5 mm/px, 30 stones of 10-20 px among 300 beans, blur and
noise; truth in ``small_stones.json``). Side by side in one run, the shipped
stone model:

- tiled: workflows/sahi_small_stones.yaml (640 px tiles, 10 % overlap, imgsz
  640, stitched and merged across tile borders);
- whole frame at imgsz 640 (the frame shrunk 5x: how a frame model is usually run);
- whole frame at imgsz 3200 (full resolution in one letterboxed pass, for reference).

Recall and precision at box IoU >= 0.3 against the truth, and the time of each
run (the model's setup excluded: one frame, run after the model is loaded).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from segflow.engine.api import load, loads

ROOT = Path(__file__).resolve().parents[1]
TRUTH = json.loads((ROOT / "assets/samples/small_stones.json").read_text())
MODEL = "assets/models/coffee-stones-seg.pt"

WHOLE = """
version: 1
name: whole-frame
nodes:
  line_camera: {{type: source.image, params: {{path: assets/samples/small_stones.jpg}}}}
  detect:
    type: detect.yolo
    params: {{model: {model}, confidence: 0.35, imgsz: {imgsz}, retina_masks: false}}
    inputs: {{image: line_camera.image}}
  log: {{type: sink.jsonl, params: {{path: {out}}}, inputs: {{detections: detect.detections}}}}
"""


def iou(a: list[float], b: list[float]) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def score(out: Path) -> tuple[float, float, int]:
    found = [json.loads(line)["box"] for line in out.read_text().splitlines()] if out.exists() else []
    truth = [s["box"] for s in TRUTH["stones"]]
    recall = sum(any(iou(f, t) >= 0.3 for f in found) for t in truth) / len(truth)
    precision = sum(any(iou(f, t) >= 0.3 for t in truth) for f in found) / len(found) if found else 0.0
    return recall, precision, len(found)


def timed(workflow) -> float:
    """Seconds of the run proper (``report.elapsed_s``: sources to sinks, after every node's setup)."""
    return workflow.run().elapsed_s


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        tiled_out = Path(tmp) / "tiled.jsonl"
        tiled = load(ROOT / "workflows/sahi_small_stones.yaml", base_dir=ROOT,
                     overrides=[f"log.path={tiled_out}"])
        rows.append(("tiled 640 px, imgsz 640", timed(tiled), *score(tiled_out)))
        for imgsz in (640, 3200):
            out = Path(tmp) / f"whole{imgsz}.jsonl"
            seconds = timed(loads(WHOLE.format(model=MODEL, imgsz=imgsz, out=out), base_dir=ROOT))
            rows.append((f"whole frame, imgsz {imgsz}", seconds, *score(out)))
    print(f"{TRUTH['width']}x{TRUTH['height']} px frame, {TRUTH['stone_count']} stones of 10-20 px "
          "(recall/precision at IoU >= 0.3):")
    for name, seconds, recall, precision, count in rows:
        print(f"  {name:<26}: recall {recall:.2f}, precision {precision:.2f}, {count:3d} found, {seconds:6.2f} s")
    tiled_recall, whole_recall = rows[0][2], rows[1][2]
    print(f"  tiled vs whole frame at imgsz 640: recall {tiled_recall:.2f} vs {whole_recall:.2f}, "
          f"time {rows[0][1] / rows[1][1]:.1f}x")


if __name__ == "__main__":
    main()
