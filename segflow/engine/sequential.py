"""The plain reference run: one frame at a time, node after node, no threads.

The streaming executor must give the same results; tests compare the two.
It also serves single-image runs (the editor's "run on this picture").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from segflow.engine.frame import Frame, PacketInfo
from segflow.engine.graph import CompiledGraph
from segflow.engine.metrics import RunReport
from segflow.engine.node import Node, SourceNode
from segflow.engine.steps import Packet, Step


def make_steps(graph: CompiledGraph, nodes: dict[str, Node],
               on_failure: Callable[[Step, PacketInfo, BaseException], None]) -> dict[str, Step]:
    return {nid: Step(graph.nodes[nid], nodes[nid], on_failure, graph.nodes) for nid in graph.order}


def run_packet(steps: dict[str, Step], packet: Packet) -> Packet:
    for step in steps.values():
        if not step.node.is_source:
            step.run_batch([packet])
    return packet


def run_sequential(graph: CompiledGraph, nodes: dict[str, Node], max_frames: int | None = None) -> RunReport:
    report = RunReport(graph.name)

    def failed(step: Step, info: PacketInfo, exc: BaseException) -> None:
        report.failures += 1
        report.failure_log.append({"node": step.id, "source": info.source_id, "frame": info.frame_index,
                                   "error": f"{type(exc).__name__}: {exc}"})

    steps = make_steps(graph, nodes, failed)
    for source_id in graph.source_ids:
        source = nodes[source_id]
        assert isinstance(source, SourceNode)
        for count, frame in enumerate(source.frames()):
            if max_frames is not None and count >= max_frames:
                break
            info = PacketInfo(source_id, frame.index, frame.timestamp, graph.name)
            run_packet(steps, Packet(info, {(source_id, "image"): frame}))
            report.frames += 1
    report.nodes = [s.metrics for s in steps.values()]
    return report


def image_packet(graph: CompiledGraph, pixels: Any, source_id: str | None = None, index: int = 0) -> Packet:
    """A packet carrying ``pixels`` as if ``source_id`` (default: the first source) had produced them."""
    source_id = source_id or graph.source_ids[0]
    frame = Frame(pixels, source_id, index, 0.0)
    return Packet(PacketInfo(source_id, index, 0.0, graph.name), {(source_id, "image"): frame})
