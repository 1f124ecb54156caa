"""The plain reference run: one frame at a time, node after node, no threads.

Executors must give the same results; tests compare them. It runs the same
per-packet step (:func:`segflow.engine.execution.steps.run_packet`) with the same error
policy (:class:`FailureBook`) as the executors, and so does a single-image run.
"""

from __future__ import annotations

from typing import Any

from segflow.engine.execution.failures import FailureBook
from segflow.engine.execution.plan import Plan
from segflow.engine.execution.steps import NodeCrash, OnFailure, Packet, Step, run_packet
from segflow.engine.frame import Frame, PacketInfo
from segflow.engine.node import Node, SourceNode, StopFlag
from segflow.engine.observe.metrics import RunReport


def make_steps(plan: Plan, nodes: dict[str, Node], on_failure: OnFailure) -> list[Step]:
    """The non-source steps in the plan's stage order (a topological order)."""
    return [Step(plan.nodes[n], nodes[n], on_failure) for stage in plan.stages for n in stage.nodes]


def run_sequential(plan: Plan, nodes: dict[str, Node], max_frames: int | None = None) -> RunReport:
    report = RunReport(plan.workflow_name)
    stopped = StopFlag()
    book = FailureBook(report, lambda _reason: stopped.set())
    steps = make_steps(plan, nodes, lambda s, i, e: book.failed(s.id, s.type, s.spec.on_error, i, e))
    for source_id in plan.source_ids:
        source = nodes[source_id]
        assert isinstance(source, SourceNode)
        for count, frame in enumerate(source.frames()):
            if stopped.is_set() or (max_frames is not None and count >= max_frames):
                break
            info = PacketInfo.of(source_id, frame, plan.workflow_name)
            try:
                run_packet(steps, Packet(info, {(source_id, "image"): frame}))
            except NodeCrash as exc:
                node = plan.nodes[exc.node_id]
                book.crashed(node.id, node.type_name, str(exc), exc.info)
            report.frames += 1
    report.nodes = [s.metrics for s in steps]
    return report


def image_packet(source_ids: tuple[str, ...] | list[str], workflow_name: str, pixels: Any,
                 source_id: str | None = None, index: int = 0) -> Packet:
    """A packet carrying ``pixels`` as if ``source_id`` (default: the first source) had produced them."""
    source_id = source_id or source_ids[0]
    frame = Frame(pixels, source_id, index, 0.0)
    return Packet(PacketInfo(source_id, index, 0.0, workflow_name), {(source_id, "image"): frame})
