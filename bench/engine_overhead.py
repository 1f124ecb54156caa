"""Engine overhead per node per frame: a 20-node chain vs a hand-written loop, side by side.

    python bench/engine_overhead.py [--frames 5000] [--nodes 20]

Both runs call the same node objects on the same test-pattern frames; the
difference is what the engine adds (thread hand-off, input gathering, timing,
bookkeeping). Target: at most 20 µs per node per frame.
"""

from __future__ import annotations

import argparse
import time

from segflow.engine.api import loads
from segflow.engine.execution.lifecycle import running_nodes
from segflow.engine.frame import PacketInfo
from segflow.engine.node import Inputs


def chain(frames: int, nodes: int) -> str:
    lines = ["version: 1", "name: overhead", "nodes:",
             f"  cam: {{type: source.test_pattern, params: {{frames: {frames}, width: 32, height: 24, shapes: 1}}}}"]
    previous = "cam"
    for i in range(nodes):
        lines.append(f"  n{i}: {{type: debug.noop, inputs: {{image: {previous}.image}}}}")
        previous = f"n{i}"
    return "\n".join(lines) + "\n"


def hand_loop(workflow, frames: int) -> float:
    graph = workflow.graph
    with running_nodes(graph.nodes, workflow.context()) as nodes:
        source = nodes["cam"]
        chain_nodes = [nodes[n] for n in graph.order if n != "cam"]
        start = time.perf_counter()
        for frame in source.frames():
            info = PacketInfo("cam", frame.index, frame.timestamp, graph.name)
            value = frame
            for node in chain_nodes:
                value = node.process(Inputs({"image": value}, info))["image"]
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    workflow = loads(chain(args.frames, args.nodes))
    loop_s, engine_s = [], []
    for _ in range(args.repeats):  # interleaved, best of N: the machine is shared
        loop_s.append(hand_loop(workflow, args.frames))
        engine_s.append(workflow.run().elapsed_s)
    loop, engine = min(loop_s), min(engine_s)
    per_node_us = (engine - loop) / (args.frames * args.nodes) * 1e6
    print(f"engine overhead: {args.nodes} cheap nodes x {args.frames} frames")
    print(f"  hand-written loop : {loop:.3f} s ({loop / args.frames * 1e6:.1f} µs/frame)")
    print(f"  segflow engine    : {engine:.3f} s ({engine / args.frames * 1e6:.1f} µs/frame)")
    print(f"  ratio engine/loop : {engine / loop:.2f}x")
    print(f"  added per node per frame: {per_node_us:.2f} µs (target <= 20 µs) -> "
          f"{'PASS' if per_node_us <= 20 else 'FAIL'}")


if __name__ == "__main__":
    main()
