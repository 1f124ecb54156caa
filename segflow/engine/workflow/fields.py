"""Names in conditions, checked before the run against the fields that reach the node.

A node may also need a field to work at all (``Node.needed_fields``:
``line.count`` needs ``tracker_id``); a graph where nothing upstream adds it
is refused here, with the node's hint at what to put before it.

Each node type declares the per-detection fields it adds (``Node.added_fields``);
the fields that reach a node are what its upstream nodes add along its
detections inputs. A condition naming anything else is a validation error with
a "did you mean". A node that declares nothing (a third-party node, say) makes
the set unknown downstream, and then any name is accepted: better to let a
rule through than to refuse a field that is really there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel

from segflow.engine.node import Node
from segflow.engine.ports import Kind
from segflow.engine.workflow.condition_check import ConditionParam, Fields, ParamKind, Scope, check
from segflow.engine.workflow.conditions import ConditionError, parse
from segflow.engine.workflow.graph import CompiledGraph
from segflow.engine.workflow.issues import Issue, Location


# -- finding the condition params of a node --------------------------------------------------------
def _marker(annotation: Any, metadata: Any = ()) -> ConditionParam | None:
    for item in metadata:
        if isinstance(item, ConditionParam):
            return item
    if get_origin(annotation) is Annotated:
        found = _marker(None, get_args(annotation)[1:])
        return found or _marker(get_args(annotation)[0])
    return next((m for a in get_args(annotation) if (m := _marker(a)) is not None), None)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _models_in(arg)


@cache
def has_conditions(model: type[BaseModel]) -> bool:
    """Whether a params model holds a condition anywhere (most do not: skip them fast)."""
    return any(
        _marker(info.annotation, info.metadata) is not None
        or any(has_conditions(m) for m in _models_in(info.annotation))
        for info in model.model_fields.values()
    )


@cache
def _markers(model: type[BaseModel]) -> tuple[tuple[str, ConditionParam | None], ...]:
    """Each field of a params model and its condition marker, read from the annotations once per model."""
    return tuple((name, _marker(info.annotation, info.metadata)) for name, info in model.model_fields.items())


def condition_params(params: BaseModel, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str, ParamKind]]:
    """``(path, text, kind)`` of every condition in ``params``, nested rules and writes included."""
    for name, marker in _markers(type(params)):
        value, where = getattr(params, name, None), (*path, name)
        items = (list(enumerate(value)) if isinstance(value, list)
                 else list(value.items()) if isinstance(value, dict) else [(None, value)])
        for i, item in items:
            at = where if i is None else (*where, i)
            if marker is not None and isinstance(item, str):
                yield at, item, marker.kind
            elif isinstance(item, BaseModel) and has_conditions(type(item)):
                yield from condition_params(item, at)


_BASE_CHECK_FIELDS = getattr(Node.check_fields, "__func__", None)  # a node type that overrides it names fields


# -- the validation pass ------------------------------------------------------------------------
def reaching_fields(graph: CompiledGraph, unchecked: set[str]) -> dict[str, Fields]:
    """Per node, the fields of the detections on its inputs (None: unknown); one pass in graph order."""
    out: dict[str, Fields] = {}
    into: dict[str, Fields] = {}
    for node_id in graph.order:
        node = graph.nodes[node_id]
        found: Fields = frozenset()
        for port, refs in node.inputs.items():
            if node.cls.inputs[port].kind != Kind.DETECTIONS:
                continue
            for src, _ in refs:
                upstream = out.get(src)
                found = None if found is None or upstream is None else found | upstream
        into[node_id] = found
        added = None if node_id in unchecked else node.cls.added_fields(node.params)
        out[node_id] = None if added is None or found is None else found | added
    return into


def field_issues(graph: CompiledGraph, where: Callable[..., Location], unchecked: set[str]) -> list[Issue]:
    """Every unknown name in every node's conditions, and every field a node needs that nothing upstream adds."""
    into: dict[str, Fields] | None = None
    issues: list[Issue] = []
    for node_id in graph.order:
        node = graph.nodes[node_id]
        if node_id in unchecked:
            continue
        needed = node.cls.needed_fields(node.params)
        named = getattr(node.cls.check_fields, "__func__", None) is not _BASE_CHECK_FIELDS
        if not needed and not named and not has_conditions(type(node.params)):
            continue
        into = into if into is not None else reaching_fields(graph, unchecked)
        issues += _missing(graph, node_id, into[node_id], needed, where)
        issues += _condition_issues(graph, node_id, into[node_id], where)
        if named:
            issues += _named_issues(graph, node_id, into[node_id], where)
    return issues


def _missing(graph: CompiledGraph, node_id: str, fields: Fields, needed: dict[str, str],
             where: Callable[..., Location]) -> list[Issue]:
    node = graph.nodes[node_id]
    port = next((p for p, refs in node.inputs.items() if refs and node.cls.inputs[p].kind == Kind.DETECTIONS), None)
    if fields is None or port is None:
        return []
    upstream = ", ".join(f"'{src}'" for src, _ in node.inputs[port])
    return [Issue("input.field", f"{node.cls.type_name} needs '{name}' on its detections, and no node upstream "
                  f"({upstream}) adds it", where(("nodes", node_id, "inputs", port)), node_id, port, hint)
            for name, hint in needed.items() if name not in fields]


def _named_issues(graph: CompiledGraph, node_id: str, fields: Fields, where: Callable[..., Location]) -> list[Issue]:
    """The node's own check of params that name fields (a sink's ``fields:``), located at the entry."""
    node = graph.nodes[node_id]
    wired = frozenset(p for p, refs in node.inputs.items() if refs)
    issues = []
    for problem in node.cls.check_fields(node.params, fields, wired):
        path = tuple(int(p) if p.isdigit() else p for p in problem.field.split("."))
        issues.append(Issue("param.field", f"param '{problem.field}': {problem.message}",
                            where(("nodes", node_id, "params", *path)), node_id, problem.field, problem.hint))
    return issues


def _condition_issues(graph: CompiledGraph, node_id: str, fields: Fields,
                      where: Callable[..., Location]) -> list[Issue]:
    """Every unknown name and type mismatch in one node's conditions, located at its param."""
    node = graph.nodes[node_id]
    if not has_conditions(type(node.params)):
        return []
    issues: list[Issue] = []
    wired = {p for p, refs in node.inputs.items() if refs}
    has_detections = any(node.cls.inputs[p].kind == Kind.DETECTIONS for p in wired)
    kinds = {node.cls.inputs[p].kind for p in wired}
    scope = Scope(fields, has_detections, Kind.VALUE in kinds, Kind.IMAGE in kinds)
    for path, text, kind in condition_params(node.params):
        try:
            tree = parse(text)
        except ConditionError:
            continue  # the params model refused it already
        if tree is None:
            continue
        for error in check(tree, scope, kind):
            name = ".".join(str(p) for p in path)
            issues.append(Issue("param.condition", f"param '{name}': {text!r}: {error}",
                                where(("nodes", node_id, "params", *path)), node_id, name, error.hint))
    return issues
