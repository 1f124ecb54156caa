"""Running one node on packets: input gathering, the call, timing, failure capture.

A :class:`Step` belongs to exactly one worker thread, so its metrics need no
lock. Failures are handed to a callback that applies the error policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from segflow.engine.frame import PacketInfo
from segflow.engine.graph import Ref, ResolvedNode
from segflow.engine.metrics import NodeMetrics
from segflow.engine.node import Inputs, Node

_MISSING = object()


@dataclass(slots=True)
class Packet:
    """One frame of one source and every output computed for it so far."""

    info: PacketInfo
    values: dict[Ref, Any] = field(default_factory=dict)
    enqueued: float = 0.0


OnFailure = Callable[["Step", PacketInfo, BaseException], None]


class Step:
    def __init__(self, resolved: ResolvedNode, node: Node, on_failure: OnFailure,
                 graph_nodes: dict[str, ResolvedNode] | None = None) -> None:
        self.id = resolved.id
        self.resolved = resolved
        self.node = node
        self.sources = resolved.sources
        # A wired input is needed for a packet whenever its upstream runs for that packet's
        # source: if the upstream failed on it, this node skips the packet rather than run half-fed.
        self.bindings = [(port, refs, self._fed_by(port, refs, graph_nodes)) for port, refs in resolved.inputs.items()]
        self.outputs = [(port, (resolved.id, port)) for port in node.outputs]
        self.metrics = NodeMetrics(resolved.id, resolved.cls.type_name)
        self.on_failure = on_failure
        overrides_process = type(node).process is not Node.process
        self._call_one = node.process if overrides_process else (lambda x: node.process_batch([x])[0])

    def _fed_by(self, port: str, refs: list[Ref], graph_nodes: dict[str, ResolvedNode] | None) -> frozenset[str]:
        if graph_nodes is None:  # without the graph, fall back to the port's declaration
            return self.sources if self.node.inputs[port].required else frozenset()
        return frozenset().union(*(graph_nodes[src].sources for src, _ in refs))

    @property
    def batch_size(self) -> int:
        return int(getattr(self.node.params, "batch_size", 1)) if self.node.batchable else 1

    @property
    def max_wait_s(self) -> float:
        return float(getattr(self.node.params, "max_wait_ms", 0.0)) / 1000.0 if self.node.batchable else 0.0

    def inputs_for(self, packet: Packet) -> Inputs | None:
        """The inputs for the packet, or None when the node does not run for it."""
        if packet.info.source_id not in self.sources:
            return None
        values = packet.values
        source = packet.info.source_id
        gathered: dict[str, Any] = {}
        for port, refs, fed_by in self.bindings:
            for ref in refs:
                value = values.get(ref, _MISSING)
                if value is not _MISSING:
                    gathered[port] = value
                    break
            else:
                if source in fed_by:
                    return None
        return Inputs(gathered, packet.info)

    def run_one(self, packet: Packet) -> None:
        inputs = self.inputs_for(packet)
        if inputs is None:
            return
        start = perf_counter()
        try:
            out = self._call_one(inputs)
            elapsed = perf_counter() - start
            if out:
                self._store(packet, out)
        except Exception as exc:
            self.metrics.errors += 1
            self.on_failure(self, packet.info, exc)
            return
        self.metrics.record(1, elapsed)

    def run_batch(self, packets: list[Packet]) -> None:
        active = [(p, i) for p in packets if (i := self.inputs_for(p)) is not None]
        if not active:
            return
        start = perf_counter()
        try:
            outs = self.node.process_batch([i for _, i in active])
            if len(outs) != len(active):
                raise RuntimeError(f"process_batch returned {len(outs)} results for {len(active)} inputs")
        except Exception as exc:
            if len(active) == 1:
                self.metrics.errors += 1
                self.on_failure(self, active[0][0].info, exc)
                return
            for packet, _ in active:  # isolate the packet that failed; the others still count
                self.run_one(packet)
            return
        self.metrics.record(len(active), perf_counter() - start)
        for (packet, _), out in zip(active, outs, strict=True):
            try:
                if out:
                    self._store(packet, out)
            except Exception as exc:
                self.metrics.errors += 1
                self.on_failure(self, packet.info, exc)

    def _store(self, packet: Packet, out: dict[str, Any]) -> None:
        if not isinstance(out, dict):
            raise TypeError(f"{self.resolved.cls.type_name} returned {type(out).__name__}, expected a dict of outputs")
        for port, ref in self.outputs:
            if port in out:
                packet.values[ref] = out[port]
