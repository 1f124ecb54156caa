"""When a frame step may simply continue the trackers, and when it must replay a warm-up first.

A tracker (any ``stateful`` node) shows frame k right only after the frames before
it. Replaying ten frames on every "Next" costs ten model calls (0.6 s on the coffee
graph); a step from k to k+1 is what a headless run does anyway, so the kept tracker
just goes on. A warm-up replay is needed only when the trackers' history is not the
frames just before this one: the first run, a jump, another input, or a change to a
stateful node or anything upstream of it. Pure logic on compiled graphs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from segflow.engine.workflow.graph import CompiledGraph


@dataclass(frozen=True)
class Shown:
    """The frame the kept trackers last saw: which input, which index, under which stateful graph."""

    input_key: str
    index: int
    signature: str


def stateful_signature(graph: CompiledGraph) -> str:
    """A digest of every stateful node and everything upstream of it (type, params, wiring)."""
    parts = []
    todo = [n for n, r in graph.nodes.items() if r.cls.stateful]
    seen: set[str] = set()
    while todo:
        node_id = todo.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        resolved = graph.nodes[node_id]
        inputs = sorted((port, [list(ref) for ref in refs]) for port, refs in resolved.inputs.items())
        parts.append([node_id, resolved.cls.type_name, resolved.params.model_dump(mode="json"), inputs])
        todo += [src for refs in resolved.inputs.values() for src, _port in refs]
        todo += [src for src, _port in resolved.param_refs.values()]
    text = json.dumps(sorted(parts, key=lambda p: p[0]), sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def has_stateful(graph: CompiledGraph) -> bool:
    return any(r.cls.stateful for r in graph.nodes.values())


def needs_warmup(graph: CompiledGraph, last: Shown | None, input_key: str, index: int) -> bool:
    """True when frame ``index`` of ``input_key`` must be preceded by a replay of the frames before it."""
    if not has_stateful(graph):
        return False
    if last is None or last.input_key != input_key or last.signature != stateful_signature(graph):
        return True
    return index not in (last.index, last.index + 1)  # the same frame again (cached) or the next one
