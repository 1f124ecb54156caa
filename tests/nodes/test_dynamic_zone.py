"""Dynamic zones: a polygon another node draws each frame feeds zone.count's `polygon` param.

Checked end to end on generated trays (the tray moves from frame to frame):
the count of parts on the tray equals the generator's truth under the
sequential reference, the local executor and run_image alike, and every
mistake in a `$node.port` param is located before the run.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from segflow.engine.api import load, loads
from segflow.engine.workflow.validate import validate_text
from segflow.tools.synth.tray import render_tray

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "workflows" / "dynamic_zone.yaml"
SEEDS = (1, 2, 3, 4)


@pytest.fixture(scope="module")
def trays(tmp_path_factory) -> tuple[Path, list[dict]]:
    folder = tmp_path_factory.mktemp("trays")
    truths = []
    for i, seed in enumerate(SEEDS):
        image, truth = render_tray(seed)
        cv2.imwrite(str(folder / f"tray{i}.png"), image)
        truths.append(truth)
    assert len({t["on_tray"] for t in truths}) > 1, "the trays should hold different counts"
    return folder, truths


def _counts(path: Path) -> list[int]:
    """Parts on the tray per frame, from the JSONL log (one record per part, on_tray true/false)."""
    per_frame: dict[int, int] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        per_frame.setdefault(record["frame"], 0)
        per_frame[record["frame"]] += bool(record.get("on_tray"))
    return [per_frame.get(i, 0) for i in range(len(SEEDS))]


@pytest.mark.parametrize("how", ["local", "sequential"])
def test_parts_on_a_moving_tray_are_counted_as_the_generator_placed_them(trays, tmp_path, how):
    folder, truths = trays
    wf = load(WORKFLOW, overrides=[f"camera.path={folder}", f"log.path={tmp_path / 'parts.jsonl'}"],
              base_dir=tmp_path)
    report = wf.run() if how == "local" else wf.run_sequential()
    assert report.failures == 0 and report.frames == len(SEEDS)
    assert _counts(tmp_path / "parts.jsonl") == [t["on_tray"] for t in truths]


def test_run_image_takes_the_zone_from_the_frame(trays, tmp_path):
    folder, truths = trays
    wf = load(WORKFLOW, overrides=[f"log.path={tmp_path / 'p.jsonl'}"], base_dir=ROOT)
    for i, truth in enumerate(truths):
        out = wf.run_image(cv2.imread(str(folder / f"tray{i}.png")))
        assert out["on_tray"]["value"]["count"] == truth["on_tray"]
        assert 4 <= len(out["tray_outline"]["polygon"]) <= 8  # a rotated rectangle, simplified


def test_a_frame_without_a_tray_skips_the_zone_and_says_so_nowhere_else(tmp_path):
    import numpy as np

    wf = load(WORKFLOW, base_dir=ROOT)
    out = wf.run_image(np.full((120, 160, 3), 30, np.uint8))
    assert "polygon" not in out["tray_outline"] and "on_tray" not in out and "_errors" not in out


BASE = """version: 1
name: t
nodes:
  cam: {type: source.test_pattern, params: {frames: 2}}
  find: {type: detect.threshold, inputs: {image: cam.image}}
  outline: {type: polygon.from_mask, inputs: {detections: find.detections}}
  zone:
    type: zone.count
    params: {polygon: $outline.polygon}
    inputs: {detections: find.detections}
  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {image: cam.image}}
"""


@pytest.mark.parametrize(
    ("replace", "code", "words"),
    [
        (("$outline.polygon", "$outlin.polygon"), "param.ref_node", "did you mean '$outline.polygon'"),
        (("$outline.polygon", "$outline.polygn"), "param.ref_port", "value outputs: polygon, polygons"),
        (("$outline.polygon", "$find.detections"), "param.ref_kind", "gives detections"),
        (("{polygon: $outline.polygon}", "{polygon: [[0, 0], [9, 0], [9, 9]], anchors: $outline.polygon}"),
         "param.ref", "params of zone.count that do: polygon"),
    ],
)
def test_a_bad_node_value_reference_is_located(replace, code, words):
    result = validate_text(BASE.replace(*replace), "wf.yaml")
    issue = next(i for i in result.issues if i.code == code)
    assert (issue.location.file, issue.location.line, issue.node) == ("wf.yaml", 9, "zone"), issue.format()
    assert words in issue.format()


SPLIT = """version: 1
name: t
nodes:
  cam: {type: source.test_pattern, params: {frames: 4, shapes: 4, seed: 3}}
  big: {type: detect.threshold, params: {channel: b, method: fixed, threshold: 120}, inputs: {image: cam.image}}
  outline: {type: polygon.from_mask, params: {tolerance: 1}, inputs: {detections: big.detections}}
  model: {type: debug.simulated_model, params: {batch_size: 2}, inputs: {image: cam.image}}
  find: {type: detect.threshold, params: {channel: g, method: fixed, threshold: 100}, inputs: {image: model.image}}
  zone:
    type: zone.count
    params: {polygon: $outline.polygon, anchors: [center]}
    inputs: {detections: find.detections}
  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {image: cam.image, value: zone.value}}
"""


def test_the_plan_carries_the_value_across_stages_and_executors_agree(tmp_path):
    wf = loads(SPLIT.replace("out.jsonl", str(tmp_path / "out.jsonl")), "wf.yaml", base_dir=tmp_path)
    plan = wf.plan()
    stage_of = {n: s.index for s in plan.stages for n in s.nodes}
    assert stage_of["outline"] != stage_of["zone"], plan.describe()
    assert ("outline", "polygon") in plan.stages[stage_of["zone"]].takes
    assert plan.nodes["zone"].param_refs == {"polygon": ("outline", "polygon")}

    def values() -> list:
        lines = (tmp_path / "out.jsonl").read_text().splitlines()
        (tmp_path / "out.jsonl").unlink()
        return [json.loads(line).get("value") for line in lines]

    reference = wf.run_sequential()
    expected = values()
    assert reference.failures == 0 and any(v and v["count"] for v in expected), expected
    assert wf.run().failures == 0
    assert values() == expected


def test_the_drawing_shows_the_value_wired_into_the_param():
    from segflow.engine.workflow.diagram import to_mermaid

    assert "outline -->|polygon → params.polygon| zone" in to_mermaid(loads(BASE, "wf.yaml").graph)
