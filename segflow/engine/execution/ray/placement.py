"""Whether a Ray run's actors fit on the cluster, decided on paper before any is started.

A run asks Ray for one actor per shard (``settings.ray.shard_resources``)
and ``replicas`` actors per model node (its ``resources``); sinks ask for
nothing. Ray queues an actor no node can host and waits for ever, so the
driver first packs every actor onto the nodes' total resources (largest
first, first fit) and refuses a run that cannot fit, in one line: one actor
no node can host, or all of them together more than the nodes have. With
``replicas: auto`` a model gets one replica, then as many more (at most one
per shard) as still fit once everything else is placed.

Pure logic over plain dicts: tested without Ray.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from segflow.engine.execution.executor import ExecutorUnavailable

Resources = dict[str, float]
RAY_NAMES = {"cpu": "CPU", "gpu": "GPU", "memory": "memory"}


def demand(resources: Mapping[str, float]) -> Resources:
    """``resources:`` in Ray's names (cpu -> CPU, gpu -> GPU; other keys are custom); CPU 1 unless said."""
    wanted = {RAY_NAMES.get(k, k): float(v) for k, v in resources.items()}
    wanted.setdefault("CPU", 1.0)
    return wanted


def actor_options(wanted: Resources) -> dict[str, Any]:
    """``wanted`` as the keyword arguments of Ray's ``.options()``."""
    options: dict[str, Any] = {"num_cpus": wanted.get("CPU", 0.0), "num_gpus": wanted.get("GPU", 0.0)}
    if "memory" in wanted:
        options["memory"] = wanted["memory"]
    custom = {k: v for k, v in wanted.items() if k not in ("CPU", "GPU", "memory")}
    if custom:
        options["resources"] = custom
    return options


@dataclass(frozen=True)
class Ask:
    """``count`` actors of one kind, each reserving ``wanted``; ``auto``: count is the most worth having."""

    key: str  # the node id, or "" for the shard workers
    what: str  # for messages: "shard worker", "node 'detect' (detect.yolo)"
    wanted: Resources
    count: int
    auto: bool = False
    hint: str = ""


def _fits(wanted: Resources, free: Mapping[str, float]) -> bool:
    return all(free.get(k, 0.0) >= v - 1e-9 for k, v in wanted.items() if v > 0)


def _take(wanted: Resources, free: dict[str, float]) -> None:
    for k, v in wanted.items():
        free[k] = free.get(k, 0.0) - v


def _total(nodes: list[Resources], keys: Any) -> Resources:
    return {k: round(sum(n.get(k, 0.0) for n in nodes), 3) for k in keys}


def _shown(resources: Mapping[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in resources.items()) + "}"


def place(asks: list[Ask], nodes: list[Resources]) -> dict[str, int]:
    """How many actors of each ask to start (by ``key``); ExecutorUnavailable when they cannot all fit."""
    for ask in asks:
        if ask.count and not any(_fits(ask.wanted, n) for n in nodes):
            raise ExecutorUnavailable(
                f"{ask.what} asks for {_shown(ask.wanted)} per actor, which no Ray node has (the cluster has "
                f"{_shown(_total(nodes, ask.wanted))})", hint=ask.hint or "add a node that has them")
    totals = _total(nodes, {k for n in nodes for k in n})

    def size(wanted: Resources) -> float:
        return max((v / totals[k] for k, v in wanted.items() if v > 0 and totals.get(k)), default=0.0)

    free = [dict(n) for n in nodes]
    items = sorted(((ask, 1 if ask.auto else ask.count) for ask in asks), key=lambda item: -size(item[0].wanted))
    for ask, count in items:
        for _ in range(count):
            spot = next((f for f in free if _fits(ask.wanted, f)), None)
            if spot is None:
                raise _too_much(asks, nodes)
            _take(ask.wanted, spot)
    placed = {ask.key: (1 if ask.auto else ask.count) for ask in asks if ask.count}
    growing = [ask for ask in asks if ask.auto and ask.count > 1]
    while growing:
        for ask in list(growing):
            spot = next((f for f in free if _fits(ask.wanted, f)), None)
            if spot is None or placed[ask.key] >= ask.count:
                growing.remove(ask)
                continue
            _take(ask.wanted, spot)
            placed[ask.key] += 1
    return placed


def _too_much(asks: list[Ask], nodes: list[Resources]) -> ExecutorUnavailable:
    needed: Resources = {}
    parts = []
    for ask in asks:
        count = 1 if ask.auto else ask.count
        if not count:
            continue
        parts.append(f"{count} x {ask.what} at {_shown(ask.wanted)}")
        for k, v in ask.wanted.items():
            needed[k] = round(needed.get(k, 0.0) + count * v, 3)
    return ExecutorUnavailable(
        f"the run's Ray actors do not fit on the cluster together: {' + '.join(parts)} need {_shown(needed)}, "
        f"the cluster has {_shown(_total(nodes, needed))}",
        hint="lower settings.ray.shard_resources or the models' resources, use fewer shards (settings.ray.shards) "
             "or replicas, or add nodes")
