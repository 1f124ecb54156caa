"""``make demo``: run the coffee-stones workflow on the shipped video and print a short report.

    python -m segflow.tools.demo workflows/coffee_stones.yaml [--max-frames N] [--json] [--masks-of NODE]

The workflow runs through the Python API (``segflow.engine.api.load`` then
``Workflow.run``) with the progress bar as one hook and :class:`StoneTally` as a
second: the tally reads the detections the workflow logs straight off each
finished packet, so the figures are this run's even when the JSONL file and
the database already hold earlier runs (sinks append). A stone is one tracker
id; its length is the median max Feret diameter over the frames where it is
wholly in view (the generator's definition) and its colour the name it gets
most often. The ground truth is the JSON file beside the video: the demo
passes when the stone count is within ±10 % of it, and reports each stone's
length and area against it (:mod:`segflow.tools.flagship_truth`: median
length, worst stone, areas, each with its target).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segflow.engine.api import load
from segflow.engine.execution.lifecycle import SetupError
from segflow.engine.observe.exit_codes import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from segflow.engine.observe.hooks import HookList, RunHooks
from segflow.engine.observe.progress import Progress
from segflow.engine.text import path_part
from segflow.engine.workflow.graph import CompiledGraph, Ref
from segflow.engine.workflow.issues import WorkflowError
from segflow.tools.flagship_truth import FlagshipErrors, MaskCollector, Sighting, compare, mask_overlap

COUNT_TOLERANCE = 0.10
EDGE_PX = 2  # a box this close to the frame's edge may hide part of the stone
TRAIN_HINT = """\
It is made by this project from generated data, never downloaded. To make it
(about an hour on a 2-core CPU; the exact commands are in assets/models/MODEL_CARD.md):
    segflow generate dataset --out runs/data/coffee-stones --train 240 --val 60 --seed 0
    segflow train runs/data/coffee-stones/data.yaml --model yolov8n-seg.yaml --epochs 70 --imgsz 320 \\
        --out runs/coffee-stones
    cp runs/coffee-stones/weights/best.pt {path}
See docs/data-and-training.md."""
REFINER_HINT = """\
It is made by this project from generated data, never downloaded. To make it
(about 25 minutes on a 2-core CPU; the exact commands are in assets/models/coffee-stones-refine.md):
    segflow generate dataset --out runs/data/refine --train 1200 --val 100 --seed 2
    segflow train runs/data/refine/data.yaml --task refine --model assets/models/coffee-stones-seg.pt \\
        --epochs 24 --imgsz 320 --batch 32 --out runs/refine --seed 1 --fixed-light
    cp runs/refine/refiner.onnx {path}
and put its new sha256 (`sha256sum {path}`) in the workflow's refine node.
See docs/data-and-training.md."""


class ModelMissing(Exception):
    """A model file of the workflow is not there (the demo explains how to make it)."""

    def __init__(self, path: str, refiner: bool = False) -> None:
        super().__init__(f"the model file {path} does not exist")
        self.path = path
        self.refiner = refiner  # the mask refiner (segment.refine), not the detector


@dataclass
class _Track:
    lengths: list[float] = field(default_factory=list)
    colours: Counter[str] = field(default_factory=Counter)


def _stated(values: Any, i: int) -> float:
    """A record's stated uncertainty (a data field of the detections), NaN where none is stated."""
    if values is None or values[i] is None:
        return float("nan")
    return float(values[i])


class StoneTally(RunHooks):
    """Collect each tracked stone's lengths, sightings and colour names from the packets a run finishes.

    A sighting (frame, box, length, area) is kept for every frame where the
    stone is wholly in view, for the comparison with the ground truth.
    """

    def __init__(self, detections: Ref, image: Ref, length_field: str = "feret_max_mm") -> None:
        self.detections, self.image, self.length_field = detections, image, length_field
        self.tracks: dict[tuple[str, int], _Track] = defaultdict(_Track)
        self.sightings: dict[tuple[str, int], list[Sighting]] = defaultdict(list)
        self._lock = threading.Lock()  # packets may finish on different worker threads

    def on_packet_done(self, *, info: Any, values: dict[Any, Any], **future_kwargs: Any) -> None:
        dets, frame = values.get(self.detections), values.get(self.image)
        if dets is None or len(dets) == 0 or dets.tracker_id is None:
            return
        height, width = frame.pixels.shape[:2] if frame is not None else (None, None)
        lengths = dets.data.get(self.length_field)
        areas = dets.data.get("area_mm2")
        length_u, area_u = dets.data.get(f"{self.length_field}_u"), dets.data.get("area_mm2_u")
        colours = dets.data.get("colour_name")
        with self._lock:
            for i, tracker_id in enumerate(dets.tracker_id):
                if tracker_id < 0:
                    continue
                track = self.tracks[(info.source_id, int(tracker_id))]
                if colours is not None:
                    track.colours[str(colours[i])] += 1
                x0, y0, x1, y1 = dets.xyxy[i]
                inside = width is not None and min(x0, y0) >= EDGE_PX and x1 <= width - EDGE_PX \
                    and y1 <= height - EDGE_PX
                if lengths is not None and inside and lengths[i] == lengths[i]:  # not NaN
                    track.lengths.append(float(lengths[i]))
                    area = float(areas[i]) if areas is not None else float("nan")
                    self.sightings[(info.source_id, int(tracker_id))].append(
                        Sighting(info.frame_index, (float(x0), float(y0), float(x1), float(y1)),
                                 float(lengths[i]), area, _stated(length_u, i), _stated(area_u, i)))

    def stones(self) -> int:
        return len(self.tracks)

    def median_length_mm(self) -> float | None:
        per_stone = [statistics.median(t.lengths) for t in self.tracks.values() if t.lengths]
        return statistics.median(per_stone) if per_stone else None

    def colour_counts(self) -> Counter[str]:
        """How many stones have each colour (each stone votes once, with its most frequent name)."""
        return Counter(t.colours.most_common(1)[0][0] for t in self.tracks.values() if t.colours)


@dataclass
class DemoReport:
    workflow: str
    frames: int
    fps: float
    elapsed_s: float
    failures: int
    stones: int
    median_length_mm: float | None
    colours: dict[str, int]
    outputs: dict[str, str]
    truth: dict[str, Any] | None = None
    errors: FlagshipErrors | None = None  # each stone against the ground truth (whole video only)
    sightings: dict[Any, list[Sighting]] = field(default_factory=dict)
    masks: MaskCollector | None = None  # a node's masks per frame, when asked for (``masks_of``)

    @property
    def most_common_colour(self) -> str | None:
        return max(self.colours, key=lambda name: self.colours[name]) if self.colours else None

    @property
    def truth_stones(self) -> int | None:
        return int(self.truth["stone_count"]) if self.truth else None

    @property
    def count_error(self) -> float | None:
        """Relative error of the stone count against the ground truth (0.05 = 5 % too many)."""
        if not self.truth_stones:
            return None
        return (self.stones - self.truth_stones) / self.truth_stones

    @property
    def passed(self) -> bool:
        return self.failures == 0 and (self.count_error is None or abs(self.count_error) <= COUNT_TOLERANCE)

    def lines(self) -> list[str]:
        truth = self.truth or {}
        out = [f"segflow demo: {self.workflow}",
               f"  frames            {self.frames} in {self.elapsed_s:.1f} s ({self.fps:.1f} FPS)"]
        if self.failures:
            out.append(f"  failures          {self.failures} (see the log above)")
        stones = f"  stones found      {self.stones} (unique track ids)"
        if self.count_error is not None:
            verdict = "OK" if abs(self.count_error) <= COUNT_TOLERANCE else "OUTSIDE"
            stones += (f" vs {self.truth_stones} in the ground truth: {self.count_error:+.0%} "
                       f"({verdict}, tolerance ±{COUNT_TOLERANCE:.0%})")
        out.append(stones)
        length = "n/a" if self.median_length_mm is None else f"{self.median_length_mm:.2f} mm"
        if truth.get("median_stone_length_mm") is not None:
            length += f" (ground truth {truth['median_stone_length_mm']:.2f} mm)"
        out.append(f"  median length     {length}  (max Feret diameter, stones wholly in view)")
        if self.errors is not None:
            out.extend(self.errors.lines())
        colour = self.most_common_colour or "n/a"
        if self.colours:
            colour += f" ({self.colours[colour]} of {sum(self.colours.values())} stones)"
        if truth.get("most_common_stone_colour"):
            colour += f"; ground truth {truth['most_common_stone_colour']}"
        out.append(f"  commonest colour  {colour}")
        for kind, path in self.outputs.items():
            out.append(f"  {kind:<17} {path}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"workflow": self.workflow, "frames": self.frames, "fps": round(self.fps, 2),
                "elapsed_s": round(self.elapsed_s, 2), "failures": self.failures, "stones": self.stones,
                "truth_stones": self.truth_stones, "median_length_mm": self.median_length_mm,
                "most_common_colour": self.most_common_colour, "colours": self.colours,
                "outputs": self.outputs, "passed": self.passed,
                "truth_errors": self.errors.to_dict() if self.errors is not None else None}


def _first(graph: CompiledGraph, type_name: str) -> str | None:
    return next((n for n in graph.order if graph.nodes[n].cls.type_name == type_name), None)


def logged_detections(graph: CompiledGraph) -> Ref:
    """The detections the workflow logs: the input of its JSONL sink (else of any sink)."""
    sinks = [n for n in graph.sink_ids if "detections" in graph.nodes[n].inputs]
    sinks.sort(key=lambda n: graph.nodes[n].cls.type_name != "sink.jsonl")
    if not sinks:
        raise ValueError(f"workflow '{graph.name}' logs no detections: the demo needs a sink with a detections input")
    return graph.nodes[sinks[0]].inputs["detections"][0]


def output_paths(graph: CompiledGraph, base_dir: Path) -> dict[str, str]:
    """Where the annotated video, the JSONL log and the database go, resolved against ``base_dir``."""
    source = graph.source_ids[0] if graph.source_ids else ""
    wanted = {"sink.video": ("annotated video", "path"), "sink.jsonl": ("JSONL log", "path"),
              "sink.sql": ("database", "database")}
    found: dict[str, str] = {}
    for node_id in sorted(graph.sink_ids, key=lambda n: list(wanted).index(graph.nodes[n].cls.type_name)
                          if graph.nodes[n].cls.type_name in wanted else len(wanted)):
        kind = wanted.get(graph.nodes[node_id].cls.type_name)
        if kind is None or kind[0] in found:
            continue
        raw = str(getattr(graph.nodes[node_id].params, kind[1]))
        if "://" in raw:  # a PostgreSQL URL: show it as given
            found[kind[0]] = raw
            continue
        raw = raw.format(source=source, workflow=path_part(graph.name, "workflow"), node=node_id) if "{" in raw else raw
        path = Path(raw) if Path(raw).is_absolute() else base_dir / raw
        found[kind[0]] = str(path.resolve())
    return found


def ground_truth(graph: CompiledGraph, base_dir: Path) -> dict[str, Any] | None:
    """The generator's JSON beside the video (``conveyor.json`` for ``conveyor.mp4``), if any."""
    video = _first(graph, "source.video")
    if video is None:
        return None
    path = Path(str(graph.nodes[video].params.path))
    path = (path if path.is_absolute() else base_dir / path).with_suffix(".json")
    try:
        truth = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return truth if "stone_count" in truth else None


def run_demo(workflow: str | Path, max_frames: int | None = None, base_dir: str | Path | None = None,
             overrides: list[str] | None = None, progress: RunHooks | None = None,
             masks_of: str | None = None) -> DemoReport:
    """Run ``workflow`` and return the report's figures; raise ModelMissing or WorkflowError before running.

    ``masks_of``: a node id whose detections' masks are kept too (for their IoU with the truth).
    """
    base = Path(base_dir) if base_dir else Path.cwd()
    try:
        wf = load(workflow, overrides=overrides or [], base_dir=base)
    except WorkflowError as exc:
        for issue in exc.issues:
            if issue.is_error and issue.field == "model" and "does not exist" in issue.message:
                written = _node_in_file(workflow, issue.node or "")
                raise ModelMissing(str(written.get("params", {}).get("model") or issue.message),
                                   written.get("type") == "segment.refine") from exc
        raise
    graph = wf.graph
    tally = StoneTally(logged_detections(graph), (graph.source_ids[0], "image"))
    if masks_of and masks_of not in graph.nodes:
        raise ValueError(f"workflow '{graph.name}' has no node '{masks_of}' to take masks from")
    masks = MaskCollector((masks_of, "detections")) if masks_of else None
    hooks: list[RunHooks] = [progress or Progress(), tally, *([masks] if masks else [])]
    report = wf.run(max_frames=max_frames, hooks=HookList(hooks),
                    keep=[tally.detections, tally.image, *([masks.detections] if masks else [])])
    truth = ground_truth(graph, base) if max_frames is None else None
    return DemoReport(
        workflow=graph.name, frames=report.frames, fps=report.fps, elapsed_s=report.elapsed_s,
        failures=report.failures, stones=tally.stones(), median_length_mm=tally.median_length_mm(),
        colours=dict(tally.colour_counts().most_common()), outputs=output_paths(graph, base),
        truth=truth, errors=compare(tally.sightings, truth) if truth else None,
        sightings=dict(tally.sightings), masks=masks,
    )


def _node_in_file(workflow: str | Path, node: str) -> dict:
    """The node as written in the workflow (its model path as the user wrote it, not as resolved); {} if unreadable."""
    import yaml

    try:
        spec = yaml.safe_load(Path(workflow).read_text())
        written = spec["nodes"][node]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return {}
    return written if isinstance(written, dict) else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segflow.tools.demo", description=__doc__.splitlines()[0])
    parser.add_argument("workflow", nargs="?", default="workflows/coffee_stones.yaml")
    parser.add_argument("--max-frames", type=int, default=None,
                        help="stop after N frames (the ground-truth check needs the whole video)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                        help="override a param, as `segflow run --set` (e.g. detect.retina_masks=false)")
    parser.add_argument("--masks-of", metavar="NODE",
                        help="also compare this node's masks with the stones rendered again from the truth (IoU; "
                        "e.g. detect, the model as it is, or refine, the refined masks), and split each stone's "
                        "length error into the measurement's share (on the exact masks) and the masks'")
    args = parser.parse_args(argv)
    try:
        demo = run_demo(args.workflow, max_frames=args.max_frames, overrides=args.set, masks_of=args.masks_of)
    except ModelMissing as exc:
        what = "mask refiner" if exc.refiner else "model"
        print(f"segflow demo: the coffee-stones {what} is missing: {exc.path}", file=sys.stderr)
        print((REFINER_HINT if exc.refiner else TRAIN_HINT).format(path=exc.path), file=sys.stderr)
        return EXIT_INVALID
    except (WorkflowError, ValueError) as exc:
        print(f"segflow demo: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except SetupError as exc:  # e.g. a corrupt model file: named, no traceback
        print(f"segflow demo: {exc}", file=sys.stderr)
        return EXIT_FAILED
    overlap = mask_overlap(demo.masks, demo.truth) if demo.masks is not None and demo.truth is not None else None
    if args.json:
        if overlap:
            overlap["per_stone"] = [s.to_dict() for s in overlap.get("per_stone", [])]
        print(json.dumps({**demo.to_dict(), **({"masks_vs_truth": overlap} if overlap else {})}, indent=2))
    else:
        print("\n".join(demo.lines()))
        if overlap:
            split = overlap.pop("per_stone", [])
            print(f"  masks of {args.masks_of:<8} vs truth: " + ", ".join(f"{k} {v}" for k, v in overlap.items()))
            print("\n".join(s.line() for s in split))
    return EXIT_OK if demo.passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
