"""Memory of one editor process serving several browser sessions on the flagship, models shared or not.

Each "browser session" is what the editor keeps per tab: an ``EditorSession`` that has run
``workflows/coffee_stones.yaml``'s graph on one frame (the model set up). Run in a fresh
process per mode, so each figure is one process's resident memory (VmRSS) after N sessions:

    python bench/editor_sessions.py [--sessions 7]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_mode(sessions: int, share: bool) -> dict[str, float]:
    import cv2

    from segflow.engine.execution.session import EditorSession
    from segflow.engine.node import RunContext
    from segflow.engine.registry import default_registry
    from segflow.engine.workflow.validate import validate_text

    text = (ROOT / "workflows" / "coffee_stones.yaml").read_text()
    context = RunContext(base_dir=ROOT, share_models=share)
    graph = validate_text(text, "coffee_stones.yaml", default_registry(), context=context).graph
    assert graph is not None
    cap = cv2.VideoCapture(str(ROOT / "assets/samples/conveyor.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    kept = []
    before = rss_mb()
    for _ in range(sessions):
        session = EditorSession(context, run_sinks=False)
        session.run_image(graph, frame)
        kept.append(session)
    after = rss_mb()
    for session in kept:
        session.close()
    return {"before_mb": round(before, 1), "after_mb": round(after, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=7)
    parser.add_argument("--mode", choices=["shared", "own"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(one_mode(args.sessions, args.mode == "shared")))
        return 0
    figures = {}
    for mode in ("own", "shared"):
        out = subprocess.run([sys.executable, __file__, "--sessions", str(args.sessions), "--mode", mode],
                             capture_output=True, text=True, check=True, cwd=ROOT)
        figures[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    own, shared = figures["own"], figures["shared"]
    print(f"{args.sessions} editor sessions on coffee_stones.yaml, one process each way:")
    for mode, fig in figures.items():
        print(f"  models {mode:6}  RSS {fig['after_mb']:7.1f} MB  ({fig['after_mb'] - fig['before_mb']:+.1f} MB "
              f"for the sessions)")
    print(f"  shared / own: {shared['after_mb'] / own['after_mb']:.2f}x the memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
