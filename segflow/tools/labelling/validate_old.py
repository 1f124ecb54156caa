"""Validate a model on a dataset's val split and write the figures as JSON (run by the Train mode).

A separate process, like training itself, so the editor stays responsive and
the figures come from the same ``segflow.tools.train.validate`` that writes
``summary.json``: the old and new numbers are measured alike.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from segflow.tools.train import offline_ultralytics, validate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segflow.tools.labelling.validate_old")
    parser.add_argument("weights")
    parser.add_argument("data")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    offline_ultralytics()
    figures = validate(Path(args.weights), args.data, args.imgsz, args.batch, "cpu")
    Path(args.out).write_text(json.dumps({"weights": args.weights, **figures}, indent=2) + "\n")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
