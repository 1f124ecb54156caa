"""The fast plan compiler gives exactly the plan of the plain one it replaced.

``reference_stages`` is the first, obviously-correct compiler (ancestors and
descendants walked per node, quadratic and worse): kept here as the oracle for
random DAGs and for every shipped workflow.
"""

import random

import networkx as nx
import pytest
from test_workflows import ENV, WORKFLOWS, overrides_for, sam_checkpoint  # noqa: F401 (a fixture)

from segflow.engine.api import loads
from segflow.engine.execution.plan import Plan, compile_plan
from segflow.engine.node import RunContext
from segflow.engine.workflow.validate import validate_file


def reference_stages(plan: Plan, graph: nx.DiGraph, order: list[str]) -> list[tuple]:
    """(kind, nodes, upstream, takes) per stage, computed the slow, direct way from the same graph."""
    nodes, keep = plan.nodes, set(plan.keep)
    heavy = {nid for nid, n in nodes.items() if n.role in ("model", "io")}
    units: dict[object, list[str]] = {}
    for nid in order:
        role = nodes[nid].role
        if role == "source":
            continue
        above = frozenset(a for a in nx.ancestors(graph, nid) if a in heavy)
        units.setdefault(("one", nid) if role != "cpu" else ("cpu", above), []).append(nid)
    unit_of = {nid: key for key, members in units.items() for nid in members}
    unit_graph = nx.DiGraph()
    unit_graph.add_nodes_from(units)
    unit_graph.add_edges_from((unit_of[s], unit_of[d]) for s, d in graph.edges
                              if s in unit_of and d in unit_of and unit_of[s] != unit_of[d])
    ordered = list(nx.lexicographical_topological_sort(unit_graph, key=lambda k: order.index(units[k][0])))
    stages = []
    for i, key in enumerate(ordered):
        later = [i] + [ordered.index(d) for d in nx.descendants(unit_graph, key)]
        inside_or_after = {n for j in later for n in units[ordered[j]]}
        read = {ref for j in later for n in units[ordered[j]] for refs in nodes[n].inputs.values() for ref in refs}
        takes = frozenset(r for r in read | keep if r[0] not in inside_or_after)
        upstream = tuple(sorted(ordered.index(u) for u in unit_graph.predecessors(key)))
        stages.append((nodes[units[key][0]].role, tuple(units[key]), upstream, takes))
    return stages


def reference_hops(plan: Plan) -> dict:
    """Every hop's cargo, downstream lists and terminal stages, walked stage by stage."""
    def available(index: int) -> set[str]:
        seen, todo = set(plan.source_ids), [index]
        while todo:
            stage = plan.stages[todo.pop()]
            seen.update(stage.nodes)
            todo.extend(stage.upstream)
        return seen

    hops = {}
    for src in [None, *range(len(plan.stages))]:
        for dst in [None, *range(len(plan.stages))]:
            wanted = plan.keep if dst is None else plan.stages[dst].takes
            there = set(plan.source_ids) if src is None else available(src)
            hops[src, dst] = frozenset(r for r in wanted if r[0] in there)
    downstream = {s.index: [t.index for t in plan.stages if s.index in t.upstream] for s in plan.stages}
    return {"hops": hops, "downstream": downstream,
            "terminal": [i for i, d in downstream.items() if not d]}


def hops(plan: Plan) -> dict:
    everything = [None, *range(len(plan.stages))]
    return {"hops": {(s, d): plan.carried(s, d) for s in everything for d in everything},
            "downstream": {s.index: plan.downstream_of(s.index) for s in plan.stages},
            "terminal": plan.terminal_stages}


def stages(plan: Plan) -> list[tuple]:
    return [(s.kind, s.nodes, s.upstream, s.takes) for s in plan.stages]


IMAGE_MAKERS = ("debug.invert", "debug.simulated_model", "source.test_pattern")


def random_workflow(rng: random.Random, size: int) -> str:
    """A random DAG of sources, cheap nodes, models, joins and sinks, written in a shuffled order."""
    made: list[tuple[str, str]] = []  # (node id, kind of its main output)
    lines: list[str] = []
    for i in range(size):
        nid = f"n{i}"
        images = [m for m, kind in made if kind == "image"]
        values = [m for m, kind in made if kind == "value"]
        pick = rng.random()
        if not images or pick < 0.08:
            lines.append(f"  {nid}: {{type: source.test_pattern, params: {{frames: 2, width: 16, height: 12}}}}")
            made.append((nid, "image"))
        elif pick < 0.35:
            lines.append(f"  {nid}: {{type: debug.invert, inputs: {{image: {rng.choice(images)}.image}}}}")
            made.append((nid, "image"))
        elif pick < 0.55:
            lines.append(f"  {nid}: {{type: debug.simulated_model, params: {{call_ms: 0}}, "
                         f"inputs: {{image: {rng.choice(images)}.image}}}}")
            made.append((nid, "image"))
        elif pick < 0.7 or not values:
            lines.append(f"  {nid}: {{type: debug.stats, inputs: {{image: {rng.choice(images)}.image}}}}")
            made.append((nid, "value"))
        elif pick < 0.85:
            lines.append(f"  {nid}: {{type: debug.merge, inputs: {{a: {rng.choice(values)}.value, "
                         f"b: {rng.choice(values)}.value}}}}")
            made.append((nid, "value"))
        else:
            lines.append(f"  {nid}: {{type: debug.record, params: {{path: out{i}.jsonl}}, "
                         f"inputs: {{value: {rng.choice(values)}.value, image: {rng.choice(images)}.image}}}}")
            made.append((nid, "sink"))
    rng.shuffle(lines)  # the written order breaks ties, so it must not be the build order
    return "version: 1\nname: random\nnodes:\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(40))
def test_random_dags_plan_as_the_reference_does(seed, tmp_path):
    rng = random.Random(seed)
    workflow = loads(random_workflow(rng, rng.randint(3, 40)), base_dir=tmp_path)
    graph = workflow.graph
    refs = [(n, p) for n, node in graph.nodes.items() for p in node.cls.outputs]
    keep = rng.sample(refs, k=min(len(refs), rng.randint(0, 3)))
    plan = workflow.plan(keep=keep)
    assert stages(plan) == reference_stages(plan, graph.graph, graph.order)
    assert hops(plan) == reference_hops(plan)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_shipped_workflows_plan_as_the_reference_does(path, request, monkeypatch, tmp_path):
    for key, value in ENV.get(path.name, {}).items():
        monkeypatch.setenv(key, value)
    (tmp_path / "assets").symlink_to(path.parents[1] / "assets", target_is_directory=True)
    graph = validate_file(path, overrides=overrides_for(path.name, request),
                          context=RunContext(base_dir=tmp_path)).graph
    assert graph is not None
    plan = compile_plan(graph, keep=[(graph.sink_ids[0], "image")])  # a kept value no stage makes
    assert stages(plan) == reference_stages(plan, graph.graph, graph.order)
    assert hops(plan) == reference_hops(plan)
