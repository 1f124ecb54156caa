"""The flagship's accuracy on conveyor videos it has never seen: each stone against the generator's truth.

    python bench/flagship_heldout.py [--seeds 11 12 13 14] [--set NODE.PARAM=VALUE ...]

The shipped sample (`assets/samples/conveyor.mp4`, seed 7) is the one video
`make demo` is judged on, and every choice made for the flagship was looked at
on it. This renders more conveyor videos the same way (`write_conveyor`: same
generator, size, belt speed, stone count and H.264 settings; other seeds, so
other stones), runs `workflows/coffee_stones.yaml` on each as `make demo` does,
and reports issue 18's targets per video and over all their stones: the median
length within 2 %, every stone within 0.3 mm, every area within 5 %; then the
held-out stones' length errors by colour (the darkest stones on the dark belt
are where the misses gather). A change
meant to mend the sample's worst stones should hold here too.

`--set` overrides a param of the workflow, as `make demo --set` (e.g. another
refiner: `--set refine.model=runs/refine/refiner.onnx --set refine.sha256=...`).
`--misses` also says, for each stone beyond 0.3 mm, where the refined masks miss
the stone rendered again from the truth (the pixels of the stone outside the
mask: how many, which way from the stone's centre) and how visible those pixels
are in the decoded video: their mean grey level above the belt's around the
stone, over the stone's own interior level above it (1: as bright as the
stone; 0: belt). A miss that no picture shows is the truth's, not the mask's.
Figures are accuracy, not speed: they do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segflow.tools.flagship_truth import Coverage

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "workflows" / "coffee_stones.yaml"
SAMPLE = ROOT / "assets" / "samples" / "conveyor.mp4"
SAMPLE_SEED = 7
TARGET_STONE_MM = 0.3
TARGET_AREA = 0.05


def stone_rows(video: Path, workdir: Path, overrides: list[str], misses: bool = False) -> tuple[list[dict], dict]:
    """Each matched stone's errors (``FlagshipErrors.to_dict()['per_stone']``) and the run's summary."""
    from segflow.engine.observe.hooks import RunHooks
    from segflow.tools.demo import run_demo

    demo = run_demo(WORKFLOW, base_dir=workdir, progress=RunHooks(),
                    overrides=[f"belt.path={video}", *overrides], masks_of="refine" if misses else None)
    if demo.errors is None:
        raise SystemExit(f"no stone of {video} was matched to its truth")
    figures = demo.errors.to_dict()
    colours = {int(stone["id"]): stone["colour_name"] for stone in demo.truth["stones"]}
    for stone in figures["per_stone"]:
        stone["colour"] = colours[int(stone["stone"])]
    figures["truth_stones"] = demo.truth_stones
    figures["length_coverage"] = demo.errors.length_coverage
    if misses:
        figures["misses"] = miss_lines(demo, video, figures["per_stone"])
    return figures["per_stone"], figures


def miss_lines(demo: Any, video: Path, stones: list[dict]) -> list[str]:
    """For each stone beyond the target: the stone's pixels the refined masks left out, and how visible they are."""
    import cv2
    import numpy as np

    from segflow.tools.flagship_truth import rendered_again, stone_masks

    truth = demo.truth
    rendered = rendered_again(truth)
    capture = cv2.VideoCapture(str(video))
    frames = []
    while (read := capture.read())[0]:
        frames.append(cv2.cvtColor(read[1], cv2.COLOR_BGR2GRAY).astype(np.float64))
    capture.release()
    errors = {s["stone"]: s["length_error_mm"] for s in stones}
    ring_out, ring_in, core = (np.ones((k, k), np.uint8) for k in (9, 5, 5))
    out = []
    for index, stone in enumerate(truth["stones"]):
        error = errors.get(int(stone["id"]))
        if error is None or abs(error) <= TARGET_STONE_MM:
            continue
        counts, shares, angles = [], [], []
        for frame, true, mine in stone_masks(demo.masks, truth, rendered, index):
            missed = true & ~mine
            if not missed.any():
                counts.append(0)
                continue
            grey, as_u8 = frames[frame], true.astype(np.uint8)
            around = cv2.dilate(as_u8, ring_out).astype(bool) & ~cv2.dilate(as_u8, ring_in).astype(bool)
            belt = float(np.median(grey[around]))  # the belt 3-4 px outside the stone
            inner = cv2.erode(as_u8, core).astype(bool)
            level = float(np.median(grey[inner if inner.any() else true]))
            counts.append(int(missed.sum()))
            shares.append((float(grey[missed].mean()) - belt) / (level - belt))
            ys, xs = np.nonzero(true)
            my, mx = np.nonzero(missed)
            angles.append(math.degrees(math.atan2(my.mean() - ys.mean(), mx.mean() - xs.mean())))
        where_to = f"{statistics.median(angles):+4.0f} deg" if angles else "   -    "
        seen = f"{statistics.median(shares):+.2f}" if shares else "  -  "
        out.append(f"    stone {int(stone['id']):>2} ({stone['length_mm']:5.2f} mm) {error:+.2f} mm: "
                   f"{statistics.median(counts) if counts else 0:>4.0f} px of it left out, towards {where_to} "
                   f"(0 right, 90 down), as visible as {seen} of the stone")
    return out


def row(name: str, stones: list[dict], truth: int, extra: int, median_length_error: float | None,
        within_2u: Coverage) -> str:
    lengths = [s["length_error_mm"] for s in stones]
    areas = [s["area_error"] for s in stones]
    outside = sum(abs(x) > TARGET_STONE_MM for x in lengths)
    area_outside = sum(abs(x) > TARGET_AREA for x in areas)
    median = f"{median_length_error:+6.1%}" if median_length_error is not None else "      "
    return (f"{name:<22} {len(stones):>3}/{truth:<3} {extra:>5} {median} {statistics.median(lengths):+8.2f} "
            f"{max(lengths, key=abs):+7.2f} {outside:>9} {statistics.median(areas):+7.1%} "
            f"{max(areas, key=abs):+7.1%} {area_outside:>8} {within_2u.share:>9.1%}")


def colour_lines(stones: list[dict]) -> list[str]:
    """The held-out stones' length errors by the stone's colour: where the misses gather.

    Each stone's error is nearly all its own, not its sightings' noise (a stone is seen
    in some 60 frames), so a colour whose spread is wide is one the masks misjudge.
    """
    out = [f"{'by colour':<22} {'stones':>7} {'>0.3 mm':>9} {'mean':>7} {'spread':>7} {'worst':>7}  (lengths, mm)"]
    for colour in sorted({s["colour"] for s in stones}):
        errors = [s["length_error_mm"] for s in stones if s["colour"] == colour]
        outside = sum(abs(x) > TARGET_STONE_MM for x in errors)
        out.append(f"  {colour:<20} {len(errors):>7} {outside:>9} {statistics.mean(errors):+7.2f} "
                   f"{statistics.pstdev(errors):7.2f} {max(errors, key=abs):+7.2f}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13, 14],
                        help=f"the held-out videos' seeds (not {SAMPLE_SEED}, the sample's)")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE")
    parser.add_argument("--misses", action="store_true",
                        help="for each stone beyond 0.3 mm: what the refined masks left out, and how visible it is")
    args = parser.parse_args(argv)
    if SAMPLE_SEED in args.seeds:
        parser.error(f"seed {SAMPLE_SEED} is the sample's: it is not held out")
    from segflow.tools.flagship_truth import Coverage
    from segflow.tools.synth.video import write_conveyor

    header = (f"{'video':<22} {'stones':>7} {'extra':>5} {'median':>6} {'stone md':>8} {'worst':>7} {'>0.3 mm':>9} "
              f"{'area md':>7} {'worst':>7} {'>5 %':>8} {'within 2u':>9}")
    print("stones: matched to the truth / in it; 'extra': tracks no stone explains (a bean taken for a stone); "
          "lengths in mm against the truth; 'median': the median length's "
          "relative error (over the stones found, against the truth's over all); 'within 2u': the sightings whose "
          "length lies within twice its stated uncertainty of the truth (target >= 95 %)")
    print(header)
    pooled: list[dict] = []
    truth = extra = 0
    covered = Coverage(0, 0)
    with tempfile.TemporaryDirectory(prefix="segflow-heldout-") as tmp:
        work = Path(tmp)
        (work / "assets").symlink_to(ROOT / "assets", target_is_directory=True)
        runs = [(f"sample (seed {SAMPLE_SEED})", SAMPLE)]
        for seed in args.seeds:
            video = work / "videos" / f"belt{seed}.mp4"
            write_conveyor(video, seed=seed)
            runs.append((f"held out (seed {seed})", video))
        for name, video in runs:
            stones, figures = stone_rows(video, work, args.set, args.misses)
            within = figures["length_coverage"]
            print(row(name, stones, figures["truth_stones"], figures["unmatched_tracks"],
                      figures["median_length_error"], within), flush=True)
            for line in figures.get("misses", []):
                print(line, flush=True)
            if video != SAMPLE:
                pooled += stones
                truth += figures["truth_stones"]
                extra += figures["unmatched_tracks"]
                covered = Coverage(covered.within + within.within, covered.stated + within.stated)
    print(row(f"held out, all {len(args.seeds)}", pooled, truth, extra, None, covered))
    print("\n".join(colour_lines(pooled)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
