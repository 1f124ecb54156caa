"""An editor session: node instances kept set up across runs, results cached by key.

``Workflow.run_image`` sets up and closes every node per call, which is right
for a one-off run and wrong for an editor, where the user changes one
threshold and runs again: the models should stay loaded and the nodes upstream
of the change should not run again.

A node's cache key (as in ComfyUI) is its type, its params and the keys of the
nodes feeding it; a source's key also covers the digest of the input image.
On each run a node whose key is unchanged hands back its cached outputs; the
others run. A node whose type or params changed is re-created (old instance
closed, new one set up); a node that left the graph is closed. Only successful
results are cached, so a node that failed or did not run is tried again.

Cached values are deep-copied in and out of the cache, because a node may
enrich the detections it received in place, and a cached result must be what
its node produced, not what later nodes made of it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, Literal

from segflow.engine.execution.failures import describe_error
from segflow.engine.execution.lifecycle import SetupError
from segflow.engine.execution.plan import plan_node
from segflow.engine.execution.sequential import image_packet
from segflow.engine.execution.steps import NodeCrash, Packet, Step
from segflow.engine.masking import mask
from segflow.engine.node import Node, RunContext
from segflow.engine.workflow.graph import CompiledGraph, ResolvedNode

log = logging.getLogger("segflow")

Status = Literal["ran", "cached", "failed", "skipped", "off"]


@dataclass
class NodeRun:
    """What happened to one node in one run, and how long its call took."""

    node_id: str
    node_type: str
    status: Status
    seconds: float = 0.0
    setup_seconds: float = 0.0
    error: str = ""

    def __post_init__(self) -> None:
        self.error = mask(self.error)  # shown on the editor's page, which may be open to the network


@dataclass
class SessionResult:
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, NodeRun] = field(default_factory=dict)

    def with_status(self, *statuses: Status) -> list[str]:
        return [n for n, r in self.runs.items() if r.status in statuses]

    @property
    def ran(self) -> list[str]:
        return self.with_status("ran")

    @property
    def cached(self) -> list[str]:
        return self.with_status("cached")

    @property
    def errors(self) -> dict[str, str]:
        return {n: r.error for n, r in self.runs.items() if r.status == "failed"}


@dataclass
class _Kept:
    identity: str
    node: Node


@dataclass
class _Cached:
    key: str
    outputs: dict[str, Any]


class EditorSession:
    """Runs one image at a time through a graph that changes between runs.

    ``run_sinks=False`` leaves sinks out (a preview that writes no files).
    Use as a context manager, or call :meth:`close`, to release every node.
    """

    def __init__(self, context: RunContext | None = None, run_sinks: bool = True) -> None:
        self.context = context or RunContext()
        self.run_sinks = run_sinks
        self._kept: dict[str, _Kept] = {}
        self._cache: dict[str, _Cached] = {}

    def __enter__(self) -> EditorSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def live_nodes(self) -> dict[str, Node]:
        return {node_id: kept.node for node_id, kept in self._kept.items()}

    def run_image(self, graph: CompiledGraph, pixels: Any, source_id: str | None = None,
                  index: int = 0) -> SessionResult:
        """Push ``pixels`` through ``graph`` as frame ``index`` of ``source_id`` (default: first source)."""
        self._forget_missing(graph)
        self._follow_settings(graph)
        packet = image_packet(graph.source_ids, graph.name, pixels, source_id, index)
        source_id = packet.info.source_id
        image_key = _digest(["image", source_id, index, _pixels_digest(pixels)])
        keys: dict[str, str] = {}
        result = SessionResult()
        for node_id in graph.order:
            resolved = graph.nodes[node_id]
            key = keys[node_id] = self._key(resolved, keys, image_key if node_id == source_id else "")
            if resolved.cls.is_source:
                result.runs[node_id] = NodeRun(node_id, resolved.cls.type_name,
                                               "ran" if node_id == source_id else "skipped")
                continue
            result.runs[node_id] = self._run_node(graph, resolved, key, packet)
        for (node_id, port), value in packet.values.items():
            result.outputs.setdefault(node_id, {})[port] = value
        return result

    def run_sequence(self, graph: CompiledGraph, frames: Iterable[tuple[Any, int]],
                     source_id: str | None = None) -> SessionResult:
        """Run ``(pixels, index)`` frames in order; the result of the last one.

        Nodes that keep state across frames (``stateful``: trackers, line counters)
        start afresh first, and every other kept node forgets what earlier frames left
        (``Node.reset``: an annotator's traces), so a frame shown after a jump sees the
        same history as in a run: the frames just before it, not whatever was stepped
        through last. Cached results go too: a cache key names a frame, not its history.
        """
        for node_id, resolved in graph.nodes.items():
            if resolved.cls.stateful:
                self._drop(node_id)
        for node_id, kept in self._kept.items():
            try:
                kept.node.reset()
            except Exception as exc:  # one node failing to forget must not stop the replay
                log.error("node '%s' (%s) failed to reset: %s: %s", node_id, kept.node.type_name,
                          type(exc).__name__, exc)
        self._cache.clear()
        result = SessionResult()
        for pixels, index in frames:
            result = self.run_image(graph, pixels, source_id, index)
        return result

    def close(self) -> None:
        """Close every kept node (sinks flush); the session may be used again afterwards."""
        for node_id in list(self._kept):
            self._drop(node_id)
        self._cache.clear()

    def _run_node(self, graph: CompiledGraph, resolved: ResolvedNode, key: str, packet: Packet) -> NodeRun:
        node_id, type_name = resolved.id, resolved.cls.type_name
        if resolved.cls.is_sink and not self.run_sinks:
            return NodeRun(node_id, type_name, "off")
        cached = self._cache.get(node_id)
        if cached is not None and cached.key == key:
            for port, value in cached.outputs.items():
                packet.values[(node_id, port)] = copy.deepcopy(value)
            return NodeRun(node_id, type_name, "cached")
        self._cache.pop(node_id, None)
        start = perf_counter()
        try:
            node = self._instance(resolved)
        except SetupError as exc:
            return NodeRun(node_id, type_name, "failed", error=str(exc))
        setup_s = perf_counter() - start
        failures: list[str] = []
        step = Step(plan_node(graph, node_id), node, lambda _s, _i, e: failures.append(describe_error(e)))
        if step.inputs_for(packet) is None:
            return NodeRun(node_id, type_name, "skipped", setup_seconds=setup_s)
        start = perf_counter()
        try:
            step.run([packet])
        except NodeCrash as exc:  # in a headless run this ends the run; here it is this node's error
            failures.append(str(exc))
        seconds = perf_counter() - start
        if failures:
            return NodeRun(node_id, type_name, "failed", seconds, setup_s, failures[0])
        produced = {port: packet.values[(node_id, port)] for port in resolved.cls.outputs
                    if (node_id, port) in packet.values}
        self._cache[node_id] = _Cached(key, copy.deepcopy(produced))
        return NodeRun(node_id, type_name, "ran", seconds, setup_s)

    def _instance(self, resolved: ResolvedNode) -> Node:
        """The kept instance of this node, re-created when its type or params changed."""
        identity = _digest([resolved.cls.type_name, _params_json(resolved)])
        kept = self._kept.get(resolved.id)
        if kept is not None and kept.identity == identity:
            return kept.node
        if kept is not None and type(kept.node) is resolved.cls and self._update(kept.node, resolved):
            kept.identity = identity  # changed in place: the model stays loaded
            return kept.node
        if kept is not None:
            self._drop(resolved.id)
        node = resolved.cls(resolved.id, resolved.params, self.context)
        try:
            node.setup()
        except Exception as exc:
            _close(resolved.id, node)
            raise SetupError(resolved.id, resolved.cls.type_name, exc) from exc
        self._kept[resolved.id] = _Kept(identity, node)
        return node

    @staticmethod
    def _update(node: Node, resolved: ResolvedNode) -> bool:
        try:
            return node.update_params(resolved.params)
        except Exception:  # the new params do not fit the loaded model: a fresh setup will say why
            return False

    def _key(self, resolved: ResolvedNode, keys: dict[str, str], image_key: str) -> str:
        wiring = [*resolved.inputs.items(), *((f"$params.{p}", [r]) for p, r in resolved.param_refs.items())]
        upstream = sorted((port, [(src, src_port, keys.get(src, "")) for src, src_port in refs])
                          for port, refs in wiring)
        return _digest([resolved.cls.type_name, _params_json(resolved), upstream, image_key])

    def _follow_settings(self, graph: CompiledGraph) -> None:
        """The context a headless run of ``graph`` would give its nodes (its name, its ``models_dir``).

        Kept nodes hold the context they were made with, so a renamed workflow or a new model
        folder closes them: the next run sets them up again with the new one.
        """
        wanted = self.context.for_settings(graph.name, graph.settings.models_dir)
        if (wanted.workflow_name, wanted.models_dir) != (self.context.workflow_name, self.context.models_dir):
            self.close()
            self.context = wanted

    def _forget_missing(self, graph: CompiledGraph) -> None:
        for node_id in [n for n in self._kept if n not in graph.nodes]:
            self._drop(node_id)
        for node_id in [n for n in self._cache if n not in graph.nodes]:
            del self._cache[node_id]

    def _drop(self, node_id: str) -> None:
        kept = self._kept.pop(node_id, None)
        self._cache.pop(node_id, None)
        if kept is not None:
            _close(node_id, kept.node)


def _close(node_id: str, node: Node) -> None:
    try:
        node.close()
    except Exception as exc:  # one node failing to close must not keep the others open
        log.error("node '%s' (%s) failed to close: %s: %s", node_id, node.type_name, type(exc).__name__, exc)


def _params_json(resolved: ResolvedNode) -> str:
    return json.dumps(resolved.params.model_dump(mode="json"), sort_keys=True, default=str)


def _pixels_digest(pixels: Any) -> str:
    shape = getattr(pixels, "shape", None)
    dtype = getattr(pixels, "dtype", None)
    data = pixels.tobytes() if hasattr(pixels, "tobytes") else repr(pixels).encode()
    return hashlib.blake2b(data + repr((shape, str(dtype))).encode(), digest_size=16).hexdigest()


def _digest(parts: Any) -> str:
    return hashlib.blake2b(json.dumps(parts, default=str).encode(), digest_size=16).hexdigest()


__all__ = ["EditorSession", "NodeRun", "SessionResult"]
