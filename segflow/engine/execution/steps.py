"""The per-packet step: one node on packets — input gathering, the call, timing, failure capture.

This is the one code path every way of running a graph shares: the
executors' stages, the sequential reference, ``run_image`` and the editor
session all call :meth:`Step.run`. A :class:`Step` belongs to exactly one
worker thread, so its metrics need no lock. Failures of one packet go to a
callback that applies the error policy; anything that is not an
``Exception`` (``SystemExit``, ``KeyboardInterrupt``, ``GeneratorExit`` from a
library) becomes a :class:`NodeCrash`, which ends the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from pydantic import ValidationError

from segflow.engine.execution.plan import PlanNode
from segflow.engine.frame import PacketInfo
from segflow.engine.node import Inputs, Node, NodeError
from segflow.engine.observe.metrics import NodeMetrics
from segflow.engine.workflow.graph import Ref

_MISSING = object()


@dataclass(slots=True)
class Packet:
    """One frame of one source and the values computed for it that later nodes still need.

    ``seq`` is the packet's place in the run's admission order: every stage sees
    packets in that order, which is how a stage joins branches.
    """

    info: PacketInfo
    values: dict[Ref, Any] = field(default_factory=dict)
    enqueued: float = 0.0
    seq: int = 0

    def pruned(self, keep: frozenset[Ref]) -> Packet:
        return Packet(self.info, {r: v for r, v in self.values.items() if r in keep}, self.enqueued, self.seq)


class NodeCrash(Exception):
    """A node raised something that is not an ``Exception``: no error policy applies, the run ends."""

    def __init__(self, node_id: str, node_type: str, info: PacketInfo | None, exc: BaseException) -> None:
        where = f" on source '{info.source_id}' frame {info.frame_index}" if info else ""
        super().__init__(f"node '{node_id}' ({node_type}) raised {type(exc).__name__}{where}: {exc}".rstrip(": "))
        self.node_id = node_id
        self.info = info


OnFailure = Callable[["Step", PacketInfo, BaseException], None]


class Step:
    def __init__(self, spec: PlanNode, node: Node, on_failure: OnFailure) -> None:
        self.id = spec.id
        self.type = spec.type_name
        self.spec = spec
        self.node = node
        self.sources = spec.sources
        # A wired input is needed for a packet whenever its upstream runs for that packet's
        # source: if the upstream failed on it, this node skips the packet rather than run half-fed.
        self.bindings = [(port, refs, spec.fed_by.get(port, frozenset())) for port, refs in spec.inputs.items()]
        self.param_bindings = list(spec.param_refs.items())
        self.outputs = [(port, (spec.id, port)) for port in node.outputs]
        self.metrics = NodeMetrics(spec.id, spec.type_name)
        self.on_failure = on_failure
        self.batches = spec.role == "model"
        overrides_process = type(node).process is not Node.process
        self._call_one = node.process if overrides_process else (lambda x: node.process_batch([x])[0])

    def run(self, packets: list[Packet]) -> None:
        """Run the node on ``packets``: as one batch for a model, one by one for the rest."""
        if self.batches:
            self._run_batch(packets)
        else:
            for packet in packets:
                self._run_one(packet)

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
        if not self.param_bindings:
            return Inputs(gathered, packet.info, self.node.params)
        given = {}
        for param, ref in self.param_bindings:
            value = values.get(ref, _MISSING)
            if value is _MISSING:
                return None  # the node that makes this param's value made none for this packet
            given[param] = value
        return Inputs(gathered, packet.info, _packet_params(self.spec, given))

    def _run_one(self, packet: Packet) -> None:
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
        except BaseException as exc:
            self.metrics.errors += 1
            raise NodeCrash(self.id, self.type, packet.info, exc) from exc
        self.metrics.record(1, elapsed)

    def _run_batch(self, packets: list[Packet]) -> None:
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
                self._run_one(packet)
            return
        except BaseException as exc:
            self.metrics.errors += 1
            raise NodeCrash(self.id, self.type, active[0][0].info, exc) from exc
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
            raise TypeError(f"{self.type} returned {type(out).__name__}, expected a dict of outputs")
        for port, ref in self.outputs:
            if port in out:
                packet.values[ref] = out[port]


def _packet_params(spec: PlanNode, given: dict[str, Any]) -> Any:
    """The node's params with the values other nodes gave for this packet, validated like params."""
    try:
        return spec.cls.Params.model_validate({**spec.raw_params, **given})
    except ValidationError as exc:
        refs = ", ".join(f"{p} <- {spec.param_refs[p][0]}.{spec.param_refs[p][1]}" for p in given)
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise NodeError(f"node '{spec.id}': the params given by other nodes ({refs}) do not validate: {problems}",
                        hint="check the node that makes the value") from None


def run_packet(steps: Iterable[Step], packet: Packet) -> Packet:
    """Every step, in order, on one packet: a CPU stage's loop, and the sequential run's."""
    for step in steps:
        step.run([packet])
    return packet
