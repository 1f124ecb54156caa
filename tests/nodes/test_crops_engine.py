"""Crops through the engine: validation, batching by crop count, order and results as the sequential reference."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from segflow.engine.api import loads
from segflow.engine.workflow.validate import validate_text

TWO_STAGE = """
version: 1
name: two-stage
settings: {{max_inflight: 16}}
nodes:
{cams}
  find:
    type: detect.threshold
    params: {{method: fixed, threshold: 60, min_area: 20}}
    inputs: {{image: [{images}]}}
  cut:
    type: crop.detections
    params: {{size: 32, margin_ratio: 0.2}}
    inputs: {{image: [{images}], detections: find.detections}}
  classify:
    type: debug.simulated_model
    params: {{batch_size: {batch}, call_ms: 1, item_ms: 0.1, max_wait_ms: 20}}
    inputs: {{crops: cut.crops}}
  stitch:
    type: crop.stitch
    params: {{mode: attach}}
    inputs: {{crops: classify.crops}}
  log:
    type: sink.jsonl
    params: {{path: {path}}}
    inputs: {{detections: stitch.detections}}
"""


def two_stage(path, batch=16, cams=4, frames=15) -> str:
    names = [f"cam{i}" for i in range(cams)]
    lines = "\n".join(f"  {n}: {{type: source.test_pattern, params: {{frames: {frames}, seed: {i}, width: 160, "
                      f"height: 120, shapes: 6}}}}" for i, n in enumerate(names))
    return TWO_STAGE.format(cams=lines, images=", ".join(f"{n}.image" for n in names), batch=batch, path=path)


def records(path) -> dict[str, list[tuple]]:
    out = defaultdict(list)
    for line in path.read_text().splitlines():
        r = json.loads(line)
        out[r["source"]].append((r["frame"], r["det_index"], r["class"], round(r["confidence"], 4), r["box"]))
    return dict(out)


def test_crops_batch_by_count_and_results_equal_the_sequential_reference(tmp_path):
    report = loads(two_stage(tmp_path / "stream.jsonl")).run()
    loads(two_stage(tmp_path / "plain.jsonl")).run_sequential()
    stream, plain = records(tmp_path / "stream.jsonl"), records(tmp_path / "plain.jsonl")
    assert stream == plain  # same classes on the same parents, same per-source order
    assert set(stream) == {"cam0", "cam1", "cam2", "cam3"}
    for rows in stream.values():
        frames = [r[0] for r in rows]
        assert frames == sorted(frames)
    classes = {r[2] for rows in stream.values() for r in rows}
    assert classes <= {"bright", "dark"} and "bright" in classes  # every parent got its crop's class
    model = next(m for m in report.nodes if m.node_id == "classify")
    crops = sum(len(rows) for rows in stream.values())
    assert model.items == crops > 60  # batch_size counts crops: items are crops, not packets
    assert sum(model.batch_counts[5:]) == 0  # no call above 16 crops (a batch of 16 packets would be ~90)
    assert model.calls < crops / 4  # most calls carried the crops of several frames


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ("    inputs: {crops: cut.crops, image: cam0.image}", "input.one_of", "exactly one of image or crops"),
        ("    inputs: {crops: tiles.crops}\n  tiles: {type: crop.tiles, inputs: {image: cam0.image}}",
         "input.wiring", "no parent detections"),
    ],
)
def test_crop_wiring_mistakes_are_located(tmp_path, change, code, words):
    text = two_stage(tmp_path / "x.jsonl", cams=1).replace("    inputs: {crops: cut.crops}", change)
    issues = [i for i in validate_text(text, "w.yaml").issues if i.is_error]
    assert [i.code for i in issues] == [code], [i.format() for i in issues]
    assert words in issues[0].format() and issues[0].location.line > 1
    assert "hint:" in issues[0].format()


def test_crops_fed_to_a_node_that_cannot_take_them(tmp_path):
    text = two_stage(tmp_path / "x.jsonl", cams=1).replace(
        "    inputs: {detections: stitch.detections}", "    inputs: {detections: classify.crops}")
    issues = [i for i in validate_text(text, "w.yaml").issues if i.is_error]
    assert [i.code for i in issues] == ["input.kind"]
    assert "expects detections but 'classify.crops' gives crops" in issues[0].format()
    assert "crop.stitch" in issues[0].hint


def test_plan_says_where_crop_batches_form(tmp_path):
    plan = loads(two_stage(tmp_path / "x.jsonl", cams=2)).plan()
    text = plan.describe()
    assert "classify (debug.simulated_model)" in text and "[batch 16 crops" in text
    assert "find (detect.threshold)" in text and "[batch 1," not in text.split("classify")[1].split("\n")[0]


@pytest.mark.parametrize(
    ("inputs", "words"),
    [
        ("{crops: tiles.crops}", "have no parent detections (tiles)"),
        ("{image: cam.image}", "needs the boxes to segment"),
        ("{crops: cut.crops, detections: find.detections}", "boxes come from each crop's parent"),
    ],
)
def test_sam2_wiring_mistakes_are_located(inputs, words):
    text = f"""
version: 1
name: sam-wiring
nodes:
  cam: {{type: source.test_pattern, params: {{frames: 2}}}}
  find: {{type: detect.threshold, inputs: {{image: cam.image}}}}
  cut: {{type: crop.detections, inputs: {{image: cam.image, detections: find.detections}}}}
  tiles: {{type: crop.tiles, inputs: {{image: cam.image}}}}
  sam:
    type: segment.sam2
    params: {{checkpoint: sam.pt}}
    inputs: {inputs}
"""
    issues = [i for i in validate_text(text, "w.yaml").issues if i.code == "input.wiring"]
    assert len(issues) == 1 and words in issues[0].message
    assert issues[0].node == "sam" and issues[0].location.line == 12  # the inputs line
