"""The execution plan: which stage each node runs in, and what each hop carries.

Compiled once from a :class:`CompiledGraph`, before any node is set up. A
node's stage follows from what the node *is*, never from how its id is
spelled:

- a model (``batchable``) owns a stage: its worker does nothing but the model;
- a sink or a ``threaded`` node (blocking I/O) owns a stage too;
- cheap CPU nodes are grouped by the set of model and I/O nodes above them,
  so the post-processing of a detector runs in a CPU stage *behind* the
  detector, never on its thread, and independent branches get separate
  stages that run side by side.

Stages form a DAG. Every packet visits every stage (a stage that has nothing
to do for a packet's source passes it on), so all stages see packets in the
same order and a stage with several upstream stages joins them by zipping.
Each hop carries only the values that some node at or after its target still
reads (``Plan.keep`` adds values the caller wants when a packet is done).

The plan is plain, picklable data: executors in other processes or on other
machines get the same plan and rebuild nodes from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from segflow.engine.node import Node, Role
from segflow.engine.ports import Kind
from segflow.engine.workflow.graph import CompiledGraph, Ref, topological_order
from segflow.engine.workflow.limits import gc_paused
from segflow.engine.workflow.spec import Settings


@dataclass(frozen=True)
class PlanNode:
    """A node as the executors need it: what it is, its params, where its inputs come from."""

    id: str
    type_name: str
    role: Role
    cls: type[Node]  # pickled by reference: workers import the node's module
    params: Any  # the node type's validated pydantic Params
    inputs: dict[str, tuple[Ref, ...]]
    on_error: str
    sources: frozenset[str]  # the sources whose packets this node runs for
    fed_by: dict[str, frozenset[str]]  # per input port: the sources whose packets carry it
    batch_size: int = 1
    max_wait_s: float = 0.0
    resources: dict[str, float] = field(default_factory=dict)
    replicas: int | Literal["auto"] = 1
    param_refs: dict[str, Ref] = field(default_factory=dict)  # params another node gives per packet
    raw_params: dict[str, Any] = field(default_factory=dict)  # the params as written, less those

    def reads(self) -> Iterable[Ref]:
        """Every value the node reads from a packet: its wired inputs and its params given by other nodes."""
        for refs in self.inputs.values():
            yield from refs
        yield from self.param_refs.values()


@dataclass(frozen=True)
class PlanStage:
    index: int
    kind: Literal["model", "io", "cpu"]
    nodes: tuple[str, ...]  # in run order; a model or I/O stage has exactly one
    upstream: tuple[int, ...]  # stages whose packets it joins; () means the sources
    takes: frozenset[Ref]  # values it receives (its own nodes' inputs and what later stages need)

    @property
    def head(self) -> str:
        return self.nodes[0]


@dataclass(frozen=True)
class _Index:
    """A plan's wiring as tables, for lookups in constant time.

    Each stage's downstream stages, each node's stage, and per stage a bitset of itself
    and every stage above it (bit j: stage j).
    """

    sources: frozenset[str]
    stage_of: dict[str, int]
    downstream: tuple[tuple[int, ...], ...]
    ancestry: tuple[int, ...]

    @staticmethod
    def of(plan: Plan) -> _Index:
        downstream: list[list[int]] = [[] for _ in plan.stages]
        ancestry: list[int] = []
        for stage in plan.stages:  # in topological order: every upstream stage comes first
            bits = 1 << stage.index
            for up in stage.upstream:
                downstream[up].append(stage.index)
                bits |= ancestry[up]
            ancestry.append(bits)
        stage_of = {nid: stage.index for stage in plan.stages for nid in stage.nodes}
        return _Index(frozenset(plan.source_ids), stage_of, tuple(map(tuple, downstream)), tuple(ancestry))


@dataclass(frozen=True)
class Plan:
    workflow_name: str
    settings: Settings
    nodes: dict[str, PlanNode]
    source_ids: tuple[str, ...]
    stages: tuple[PlanStage, ...]
    keep: frozenset[Ref] = frozenset()

    _index: _Index | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def workflow(self) -> str:
        """The old name of ``workflow_name`` (it held the name, never the workflow): kept for plugins."""
        return self.workflow_name

    def downstream_of(self, index: int) -> list[int]:
        return list(self._lookup().downstream[index])

    @property
    def entry_stages(self) -> list[int]:
        return [s.index for s in self.stages if not s.upstream]

    @property
    def terminal_stages(self) -> list[int]:
        downstream = self._lookup().downstream
        return [s.index for s in self.stages if not downstream[s.index]]

    def carried(self, src: int | None, dst: int | None) -> frozenset[Ref]:
        """What the hop from stage ``src`` (None: the sources) to ``dst`` (None: the end) carries.

        A value travels if some node at or after ``dst`` reads it and it exists after ``src``:
        made by a source, or in ``src`` or a stage above it.
        """
        wanted = self.keep if dst is None else self.stages[dst].takes
        index = self._lookup()
        sources = index.sources
        if src is None:
            return frozenset(r for r in wanted if r[0] in sources)
        above = index.ancestry[src]
        stage_of = index.stage_of
        return frozenset(r for r in wanted
                         if r[0] in sources or (r[0] in stage_of and above >> stage_of[r[0]] & 1))

    def _lookup(self) -> _Index:
        """Stage wiring as tables, built on first use: executors ask for every hop of big plans."""
        if self._index is None:
            object.__setattr__(self, "_index", _Index.of(self))
        assert self._index is not None
        return self._index

    def describe(self) -> str:
        """The stages as text, for ``segflow graph --plan``."""
        lines = [f"plan for '{self.workflow_name}': {len(self.stages)} stages, sources {', '.join(self.source_ids)}"]
        for stage in self.stages:
            after = ", ".join(f"stage {u}" for u in stage.upstream) or "sources"
            what = ", ".join(f"{n} ({self.nodes[n].type_name})" for n in stage.nodes)
            extra = ""
            if stage.kind == "model":
                node = self.nodes[stage.head]
                crops = [f"{src}.{port}" for name, refs in node.inputs.items()
                         if node.cls.inputs[name].kind is Kind.CROPS for src, port in refs]
                unit = f" crops (of every frame and source in flight, from {', '.join(crops)})" if crops else ""
                extra = f"  [batch {node.batch_size}{unit}, wait {node.max_wait_s * 1000:g} ms]"
            lines.append(f"  stage {stage.index} {stage.kind:<5} after {after}: {what}{extra}")
            lines.append(f"      receives: {', '.join(sorted(f'{n}.{p}' for n, p in stage.takes)) or '-'}")
        if self.keep:
            lines.append(f"  kept to the end: {', '.join(sorted(f'{n}.{p}' for n, p in self.keep))}")
        return "\n".join(lines)

    def shape(self) -> list[tuple[str, tuple[str, ...], tuple[int, ...]]]:
        """The plan without node ids: stage kinds, node types and wiring (renaming nodes keeps it)."""
        return [(s.kind, tuple(self.nodes[n].type_name for n in s.nodes), s.upstream) for s in self.stages]


def compile_plan(graph: CompiledGraph, keep: Iterable[Ref] = ()) -> Plan:
    """The stages of ``graph`` and what each receives; O((nodes + edges) log nodes) on shapes without joins.

    Sets of nodes are Python ints used as bitsets, so grouping by "the model and I/O nodes
    above" and "is this node at or after that stage" cost a few machine words, never a walk
    of the graph per node (that walk made an 800-model chain take seconds).
    """
    with gc_paused():
        return _compile(graph, frozenset(keep))


def _compile(graph: CompiledGraph, kept: frozenset[Ref]) -> Plan:
    nodes = {nid: plan_node(graph, nid) for nid in graph.order}
    units, unit_of = _units(graph, nodes)
    unit_edges = {(unit_of[src], unit_of[dst]) for src, dst in graph.graph.edges
                  if src in unit_of and dst in unit_of and unit_of[src] != unit_of[dst]}
    # Units are numbered in the order their first node is written: that number breaks ties.
    ordered = topological_order(range(len(units)), unit_edges, int)
    index_of = {unit: i for i, unit in enumerate(ordered)}
    upstream: list[list[int]] = [[] for _ in ordered]
    downstream: list[list[int]] = [[] for _ in ordered]
    for src, dst in unit_edges:
        upstream[index_of[dst]].append(index_of[src])
        downstream[index_of[src]].append(index_of[dst])
    members = [tuple(units[unit]) for unit in ordered]
    needs = _needs(nodes, members, downstream, kept)
    stages = tuple(PlanStage(i, nodes[group[0]].role, group, tuple(sorted(upstream[i])), needs[i])  # type: ignore[arg-type]
                   for i, group in enumerate(members))
    return Plan(graph.name, graph.settings, nodes, tuple(graph.source_ids), stages, kept)


def _units(graph: CompiledGraph, nodes: dict[str, PlanNode]) -> tuple[list[list[str]], dict[str, int]]:
    """Nodes grouped into would-be stages (a model or I/O node alone, cheap nodes by what is above them).

    Each node's model and I/O ancestors are one int (bit k: the k-th heavy node), built from
    its parents' in topological order, so equal sets are equal ints; each such int is hashed
    once, to find its group. Returns the groups, numbered as first met, and each node's group.
    """
    bit: dict[str, int] = {}
    at_or_above: dict[str, int] = {}
    cpu_group: dict[int, int] = {}
    units: list[list[str]] = []
    unit_of: dict[str, int] = {}
    for nid in graph.order:
        above = 0
        for parent in graph.graph.predecessors(nid):
            above |= at_or_above[parent]
        role = nodes[nid].role
        if role in ("model", "io"):
            bit[nid] = 1 << len(bit)
            at_or_above[nid] = above | bit[nid]
        else:
            at_or_above[nid] = above
        if role == "source":
            continue
        unit = cpu_group.setdefault(above, len(units)) if role == "cpu" else len(units)
        if unit == len(units):
            units.append([])
        units[unit].append(nid)
        unit_of[nid] = unit
    return units, unit_of


def _needs(nodes: dict[str, PlanNode], members: list[tuple[str, ...]], downstream: list[list[int]],
           keep: frozenset[Ref]) -> list[frozenset[Ref]]:
    """Per stage: the values it must receive (read by it or after it, made neither in it nor after it).

    Built from the last stage back: a stage needs what it reads, what is kept, and what its
    downstream stages need, less what it or a stage after it makes. Stage indices are a
    topological order, so a value made in an earlier stage is never made "after"; only a
    value made in a later stage asks the reachability bitsets, built on first use.
    """
    stage_of = {nid: i for i, group in enumerate(members) for nid in group}
    reach: list[int] = []

    def made_at_or_after(index: int, ref: Ref) -> bool:
        made = stage_of.get(ref[0])
        if made is None or made < index:
            return False
        if made == index:
            return True
        if not reach:
            reach.extend(_descendants(downstream))
        return bool(reach[index] >> made & 1)

    needs: list[frozenset[Ref]] = [frozenset()] * len(members)
    for i in reversed(range(len(members))):
        wanted = set(keep)
        for nid in members[i]:
            wanted.update(nodes[nid].reads())
        for d in downstream[i]:
            wanted |= needs[d]
        needs[i] = frozenset(r for r in wanted if not made_at_or_after(i, r))
    return needs


def _descendants(downstream: list[list[int]]) -> list[int]:
    """Per stage (in topological order): a bitset of itself and every stage after it."""
    reach = [0] * len(downstream)
    for i in reversed(range(len(downstream))):
        bits = 1 << i
        for d in downstream[i]:
            bits |= reach[d]
        reach[i] = bits
    return reach


def plan_node(graph: CompiledGraph, node_id: str) -> PlanNode:
    resolved = graph.nodes[node_id]
    cls, params = resolved.cls, resolved.params
    role = cls.role()
    fed_by = {port: _sources_of(graph, refs) for port, refs in resolved.inputs.items()}
    batch_size = int(getattr(params, "batch_size", 1)) if role == "model" else 1
    max_wait_s = float(getattr(params, "max_wait_ms", 0.0)) / 1000.0 if role == "model" else 0.0
    return PlanNode(
        id=node_id, type_name=cls.type_name, role=role, cls=cls, params=params,
        inputs={port: tuple(refs) for port, refs in resolved.inputs.items()},
        on_error=resolved.on_error or graph.settings.on_error, sources=resolved.sources, fed_by=fed_by,
        batch_size=batch_size, max_wait_s=max_wait_s, resources=dict(resolved.resources),
        replicas=resolved.replicas, param_refs=dict(resolved.param_refs), raw_params=dict(resolved.raw_params),
    )


def _sources_of(graph: CompiledGraph, refs: list[Ref]) -> frozenset[str]:
    """The sources whose packets carry an input: its one node's own set (shared, not copied), or the union."""
    if len(refs) == 1:
        return graph.nodes[refs[0][0]].sources
    return frozenset().union(*(graph.nodes[src].sources for src, _ in refs))
