"""The execution plan: placement by what a node is, lean hops, plain picklable data."""

import pickle
import re
from pathlib import Path

import pytest

from segflow.engine.api import load, loads
from segflow.engine.execution.batching import END
from segflow.engine.execution.steps import Packet
from segflow.engine.frame import PacketInfo
from segflow.engine.node import RunContext

ROOT = Path(__file__).resolve().parents[2]

BRANCHES = """
version: 1
name: branches
nodes:
  cam: {type: source.test_pattern, params: {frames: 4, width: 32, height: 24}}
  pre: {type: debug.invert, inputs: {image: cam.image}}
  det_a: {type: debug.simulated_model, params: {call_ms: 0}, inputs: {image: pre.image}}
  det_b: {type: debug.simulated_model, params: {call_ms: 0}, inputs: {image: cam.image}}
  post_a: {type: debug.stats, inputs: {image: det_a.image}}
  post_b: {type: debug.stats, inputs: {image: det_b.image}}
  join: {type: debug.merge, inputs: {a: post_a.value, b: post_b.value}}
  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {value: join.value}}
"""


def rename(text: str, mapping: dict[str, str]) -> str:
    for old, new in mapping.items():
        text = re.sub(rf"\b{old}\b(?=[:.])", new, text)
    return text


def stage_of(plan, node_id):
    return next(s for s in plan.stages if node_id in s.nodes)


def test_models_own_their_stage_and_cheap_nodes_run_behind_them(tmp_path):
    plan = loads(BRANCHES, base_dir=tmp_path).plan()
    for model in ("det_a", "det_b"):
        assert stage_of(plan, model).nodes == (model,) and stage_of(plan, model).kind == "model"
    assert stage_of(plan, "pre").kind == "cpu"
    # Each detector's post-processing is a CPU stage of its own: the branches run side by side.
    assert stage_of(plan, "post_a") is not stage_of(plan, "post_b")
    assert stage_of(plan, "post_a").upstream == (stage_of(plan, "det_a").index,)
    # The join waits for both branches; the sink has its own worker.
    join = stage_of(plan, "join")
    assert set(join.upstream) == {stage_of(plan, "post_a").index, stage_of(plan, "post_b").index}
    assert stage_of(plan, "rec").kind == "io" and stage_of(plan, "rec").nodes == ("rec",)


def test_renaming_every_node_keeps_the_plan_shape(tmp_path):
    mapping = {"cam": "zz_cam", "pre": "a_pre", "det_a": "zdet", "det_b": "adet", "post_a": "b_post",
               "post_b": "y_post", "join": "a_join", "rec": "z_rec"}
    plan = loads(BRANCHES, base_dir=tmp_path).plan()
    renamed = loads(rename(BRANCHES, mapping), base_dir=tmp_path).plan()
    assert renamed.shape() == plan.shape()
    assert [tuple(mapping[n] for n in s.nodes) for s in plan.stages] == [s.nodes for s in renamed.stages]


@pytest.mark.parametrize("first", ["a_raw", "z_raw"])
def test_a_cheap_node_never_lands_on_the_models_thread_whatever_its_name(tmp_path, first):
    text = f"""
version: 1
name: names
nodes:
  cam: {{type: source.test_pattern, params: {{frames: 2}}}}
  model: {{type: debug.simulated_model, inputs: {{image: cam.image}}}}
  {first}: {{type: debug.stats, inputs: {{image: model.image}}}}
"""
    plan = loads(text, base_dir=tmp_path).plan()
    assert stage_of(plan, "model").nodes == ("model",)
    assert stage_of(plan, first).kind == "cpu"


def test_each_hop_carries_only_what_later_nodes_read():
    plan = load(ROOT / "workflows" / "coffee_stones.yaml", base_dir=ROOT).plan()
    detect, refine, post = stage_of(plan, "detect"), stage_of(plan, "refine"), stage_of(plan, "measure")
    assert plan.carried(None, detect.index) == {("belt", "image")}
    assert plan.carried(detect.index, refine.index) == {("belt", "image"), ("detect", "detections")}
    assert plan.carried(refine.index, post.index) == {("belt", "image"), ("refine", "detections")}
    assert plan.carried(post.index, stage_of(plan, "video").index) == {("label", "image")}
    assert plan.carried(post.index, stage_of(plan, "log").index) == {("colour", "detections")}
    assert plan.carried(stage_of(plan, "log").index, None) == frozenset()  # nothing kept to the end
    kept = load(ROOT / "workflows" / "coffee_stones.yaml", base_dir=ROOT).plan(keep=[("colour", "detections")])
    assert kept.carried(stage_of(kept, "log").index, None) == {("colour", "detections")}


def test_plan_packets_markers_and_context_are_plain_picklable_data(tmp_path):
    plan = loads(BRANCHES, base_dir=tmp_path).plan()
    assert pickle.loads(pickle.dumps(plan)).shape() == plan.shape()
    packet = Packet(PacketInfo("cam", 3, 0.1, "branches"), {("cam", "image"): [1, 2]}, seq=7)
    back = pickle.loads(pickle.dumps(packet))
    assert (back.info, back.values, back.seq) == (packet.info, packet.values, 7)
    assert pickle.loads(pickle.dumps(END)) is END  # compared by identity in every queue
    context = RunContext("w", tmp_path)
    context.stop_event.set()
    copy = pickle.loads(pickle.dumps(context))
    assert copy.workflow_name == "w" and not copy.stop_event.is_set()  # a fresh flag for the other process


def test_graph_plan_command_prints_the_stages():
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "segflow.engine.cli", "graph", "workflows/coffee_stones.yaml",
                          "--plan"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "stage 0 model after sources: detect (detect.yolo)" in res.stdout
    assert re.search(r"stage 1 io\s+after stage 0: refine \(segment.refine\)", res.stdout)
    assert re.search(r"stage 2 cpu\s+after stage 1: track .*label", res.stdout)
