"""Crops under the ray executor: the model actor batches crops from every shard by crop count.

A head (hosting the model actor) and two workers (hosting the shards) on this
machine; the result must equal the sequential reference, source by source.
"""

import json
from collections import defaultdict
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from segflow.engine.api import loads  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WORKFLOW = """
version: 1
name: ray-crops
settings:
  max_inflight: 16
  ray: {{shard_resources: {{cpu: 0.25, shard_slot: 1}}}}
nodes:
  cam1: {{type: source.test_pattern, params: {{frames: 12, width: 160, height: 120, seed: 1, shapes: 10}}}}
  cam2: {{type: source.test_pattern, params: {{frames: 12, width: 160, height: 120, seed: 2, shapes: 10}}}}
  cam3: {{type: source.test_pattern, params: {{frames: 12, width: 160, height: 120, seed: 3, shapes: 10}}}}
  find:
    type: detect.threshold
    params: {{channel: r, method: fixed, threshold: 100, min_area: 20}}
    inputs: {{image: [cam1.image, cam2.image, cam3.image]}}
  cut:
    type: crop.detections
    params: {{size: 32}}
    inputs: {{image: [cam1.image, cam2.image, cam3.image], detections: find.detections}}
  classify:
    type: debug.simulated_model
    params: {{batch_size: 16, call_ms: 5, item_ms: 0.2, max_wait_ms: 30}}
    resources: {{cpu: 0.25, model_slot: 1}}
    inputs: {{crops: cut.crops}}
  stitch: {{type: crop.stitch, params: {{mode: attach}}, inputs: {{crops: classify.crops}}}}
  log: {{type: sink.jsonl, params: {{path: {path}}}, inputs: {{detections: stitch.detections}}}}
"""


def records(path: Path) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = defaultdict(list)
    for line in path.read_text().splitlines():
        r = json.loads(line)
        out[r["source"]].append((r["frame"], r["det_index"], r["class"], r["box"]))
    return dict(out)


@pytest.fixture(scope="module")
def cluster():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"model_slot": 1}})
    for _ in range(2):
        cluster.add_node(num_cpus=1, resources={"shard_slot": 2})
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


def test_ray_batches_crops_across_shards_and_equals_sequential(cluster, tmp_path):
    report = loads(WORKFLOW.format(path=tmp_path / "ray.jsonl")).run(executor="ray", address=cluster.address)
    assert report.exit_code == 0 and report.frames == 36 and report.failures == 0
    loads(WORKFLOW.format(path=tmp_path / "plain.jsonl")).run_sequential()
    got, want = records(tmp_path / "ray.jsonl"), records(tmp_path / "plain.jsonl")
    assert got == want  # same classes on the same parents, same per-source order
    assert len({p["ray_node"] for p in report.placement}) == 2  # the shards are on two machines
    crops = sum(len(rows) for rows in got.values())
    model = next(m for m in report.nodes if m.node_id == "classify")
    assert model.items == crops > 100  # batch_size counted crops in the actor
    assert sum(model.batch_counts[5:]) == 0  # never more than 16 crops in a call
    assert model.calls < 36  # fewer calls than frames: crops of several frames (and shards) per call
