"""The layout tells how segflow works: checked, so it cannot drift back.

- no import circle anywhere in ``segflow`` (imports inside functions count too:
  a lazy import back into a caller is still a circle);
- every module under ``segflow/nodes`` defines a node type (library maths lives
  in ``segflow/vision``, sink machinery in ``segflow/delivery``);
- ``segflow/vision`` never reaches into execution, nodes, tools or the UI.
"""

from __future__ import annotations

import ast
import pathlib

import networkx as nx

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "segflow"


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: pathlib.Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("segflow")}


def import_graph() -> nx.DiGraph:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for target in imports_of(path):
            if target in modules and target != name:
                graph.add_edge(name, target)
    return graph


def test_the_walk_sees_the_whole_package():
    graph = import_graph()
    assert len(graph) > 120
    assert "segflow.engine.execution.local.executor" in graph


def test_no_import_circle():
    graph = import_graph()
    # A package's __init__ re-exporting its own submodules is not a circle a reader trips on.
    for name in list(graph):
        for target in list(graph.successors(name)):
            if name.startswith(target + "."):
                graph.remove_edge(name, target)
    cycles = [c for c in nx.simple_cycles(graph) if len(c) > 1]
    assert cycles == []


def test_every_nodes_module_defines_a_node_type():
    from segflow.engine.registry import default_registry

    registry = default_registry()
    with_types = set(registry.origins.values())
    nodes_root = PACKAGE / "nodes"
    modules = {module_name(p) for p in nodes_root.rglob("*.py") if p.name != "__init__.py"}
    assert len(modules) > 20
    assert sorted(modules - with_types) == []


def test_vision_is_engine_free_maths():
    allowed_engine = {"segflow.engine", "segflow.engine.paths", "segflow.engine.node"}
    offenders = {}
    for path in (PACKAGE / "vision").rglob("*.py"):
        bad = {
            t
            for t in imports_of(path)
            if not t.startswith("segflow.vision")
            and t not in allowed_engine
            and not any(t == f"{a}.{n}" for a in allowed_engine for n in ("Params", "node_type", "write_atomic"))
            and not (t.startswith("segflow.engine.paths."))
        }
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_the_old_python_api_path_still_works_and_says_where_to_go():
    import importlib
    import sys
    import warnings

    sys.modules.pop("segflow.engine.runner", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = importlib.import_module("segflow.engine.runner")
    from segflow.engine import api

    assert old.load is api.load and old.loads is api.loads
    assert any("segflow.engine.api" in str(w.message) for w in caught)
