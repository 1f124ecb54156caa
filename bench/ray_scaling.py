"""The ray executor: 1 vs 2 worker nodes, and what a Ray hop adds per packet.

    python bench/ray_scaling.py [--frames 60] [--call-ms 150]

Scaling: 8 test-pattern sources into `debug.simulated_model` (sleep-based, so
it costs wall time, not CPU) on a Ray cluster on this machine
(ray.cluster_utils.Cluster) with one worker node, then with two. Each worker
node carries one `accel` resource and the model asks for one with
`replicas: auto`, so each worker node hosts one model replica, as one GPU
each would. The model is made slow enough (150 ms + 5 ms an item, batches of
4: about 23 FPS a replica) to stay the bottleneck with two replicas: on 2
cores, the processes of a 3-node Ray cluster cap the whole run near 55-60 FPS.
Target: two nodes >= 1.8x the throughput of one.

Latency per hop: one packet (a 64x48 frame) through a zero-cost model, in
process and as a call to the model's Ray actor (the real ModelServer, with its
queue and batching thread); the median difference is what a hop adds. A packet
makes one such call per remote stage (model, sink). Target: <= 1 ms per hop.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from ray.cluster_utils import Cluster

from segflow.engine.api import loads

SCALING = """
version: 1
name: ray-scaling
settings:
  max_inflight: 16
  ray: {{shard_resources: {{cpu: 0.1}}}}
nodes:
{sources}
  model:
    type: debug.simulated_model
    params: {{batch_size: 4, call_ms: {call_ms}, item_ms: 5, max_wait_ms: 10}}
    resources: {{cpu: 0.1, accel: 1}}
    replicas: auto
    inputs: {{image: [{refs}]}}
  stats: {{type: debug.stats, inputs: {{image: model.image}}}}
  log: {{type: sink.jsonl, params: {{path: {log}}}, inputs: {{value: stats.value}}}}
"""

LATENCY = """
version: 1
name: ray-latency
nodes:
  cam: {type: source.test_pattern, params: {frames: 1, width: 64, height: 48}}
  model: {type: debug.simulated_model, params: {call_ms: 0, item_ms: 0}, inputs: {image: cam.image}}
"""


def scaling(workers: int, frames: int, call_ms: float, tmp: Path) -> float:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(workers):
        cluster.add_node(num_cpus=1, resources={"accel": 1})
    cluster.wait_for_nodes()
    try:
        sources = "\n".join(f"  cam{i}: {{type: source.test_pattern, params: {{frames: {frames}, seed: {i}, "
                            f"width: 64, height: 48}}}}" for i in range(8))
        refs = ", ".join(f"cam{i}.image" for i in range(8))
        text = SCALING.format(sources=sources, refs=refs, call_ms=call_ms, log=tmp / f"scaling-{workers}.jsonl")
        report = loads(text).run(executor="ray", address=cluster.address)
        assert report.frames == 8 * frames and report.exit_code == 0, report.table()
        return report.fps
    finally:
        cluster.shutdown()


def hop_latency(calls: int) -> tuple[float, float, float]:
    """Median seconds of one packet through a zero-cost model: in process, and as a call to its Ray actor."""
    import ray

    from segflow.engine.execution.executor import RunOptions
    from segflow.engine.execution.lifecycle import running_nodes
    from segflow.engine.execution.ray.servers import ModelServer
    from segflow.engine.execution.sequential import image_packet
    from segflow.engine.execution.steps import Step
    from segflow.engine.node import RunContext

    plan = loads(LATENCY).plan()
    spec = plan.nodes["model"]
    pixels = np.zeros((48, 64, 3), np.uint8)
    local, remote = [], []
    with running_nodes({"model": spec}, RunContext(plan.workflow_name)) as nodes:
        step = Step(spec, nodes["model"], lambda *a: None)
        for _ in range(calls):
            packet = image_packet(plan.source_ids, plan.workflow_name, pixels)
            start = time.perf_counter()
            step.run([packet])
            local.append(time.perf_counter() - start)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    ray.init(address=cluster.address)
    try:
        server = ray.remote(ModelServer).options(max_concurrency=8).remote(spec, RunOptions().context(plan))
        ray.get(server.ready.remote())
        for _ in range(calls):
            packet = image_packet(plan.source_ids, plan.workflow_name, pixels)
            start = time.perf_counter()
            ray.get(server.run.remote([packet]))
            remote.append(time.perf_counter() - start)
        echo = ray.remote(_Echo).remote()
        floor = []
        for _ in range(calls):
            start = time.perf_counter()
            ray.get(echo.run.remote(pixels))
            floor.append(time.perf_counter() - start)
    finally:
        ray.shutdown()
        cluster.shutdown()
    return statistics.median(local[10:]), statistics.median(remote[10:]), statistics.median(floor[10:])


class _Echo:
    """Ray's own floor: an actor that hands its argument back."""

    def run(self, value: object) -> object:
        return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=60, help="frames per source (scaling)")
    parser.add_argument("--call-ms", type=float, default=150.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = scaling(1, args.frames, args.call_ms, Path(tmp))
        two = scaling(2, args.frames, args.call_ms, Path(tmp))
    local_s, ray_s, floor_s = hop_latency(300)
    print(f"ray scaling: 8 sources x {args.frames} frames into a simulated model ({args.call_ms:g} ms a batch)")
    print(f"  1 worker node : {one:6.1f} FPS")
    print(f"  2 worker nodes: {two:6.1f} FPS")
    print(f"  2 / 1         : {two / one:.2f}x (target >= 1.8x)")
    print(f"one packet (64x48 frame) through a zero-cost model: in process {local_s * 1000:.3f} ms, "
          f"as a Ray actor call {ray_s * 1000:.3f} ms (median)")
    print(f"  added per hop : {(ray_s - local_s) * 1000:.2f} ms (target <= 1 ms); Ray's own floor here, an echo "
          f"actor with the same frame: {floor_s * 1000:.2f} ms")


if __name__ == "__main__":
    main()
