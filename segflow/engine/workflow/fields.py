"""Names in conditions, checked before the run against the fields that reach the node.

Each node type declares the per-detection fields it adds (``Node.added_fields``);
the fields that reach a node are what its upstream nodes add along its
detections inputs. A condition naming anything else is a validation error with
a "did you mean". A node that declares nothing (a third-party node, say) makes
the set unknown downstream, and then any name is accepted: better to let a
rule through than to refuse a field that is really there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel

from segflow.engine.ports import Kind
from segflow.engine.workflow.conditions import (
    ARITHMETIC,
    DETECTION_NAMES,
    FRAME_NAMES,
    FUNCTIONS,
    ORDERING,
    Binary,
    Call,
    ConditionError,
    ConditionParam,
    Expr,
    Level,
    ListLit,
    Lit,
    Name,
    Neg,
    Not,
    ParamKind,
    parse,
)
from segflow.engine.workflow.graph import CompiledGraph
from segflow.engine.workflow.issues import Issue, Location, closest

Fields = frozenset[str] | None  # None: not declared, any name may be there


@dataclass(frozen=True)
class Scope:
    """What a condition may name: the frame's names, and the detections' when a detections input is wired."""

    fields: Fields = frozenset()
    detections: bool = True
    value: bool = False

    def known(self) -> list[str]:
        names = [*FRAME_NAMES, *FUNCTIONS, *(["value"] if self.value else [])]
        if self.detections:
            names += [*DETECTION_NAMES, *sorted(self.fields or ())]
        return names


def check(tree: Expr, scope: Scope, kind: ParamKind = "condition") -> list[ConditionError]:
    """Every unknown name and type mismatch in ``tree``, or none."""
    analysis = _Analysis(scope)
    level, _ = analysis.visit(tree)
    if kind == "value" and level == "detection" and not analysis.errors:
        field_ = tree.name if isinstance(tree, Name) else "length_mm"
        analysis.errors.append(ConditionError(
            "this is a value per detection, and a frame may have several detections", tree.col,
            f"write max({field_}), min({field_}), mean({field_}), sum({field_}) or first({field_})"))
    return analysis.errors


@dataclass
class _Analysis:
    scope: Scope
    errors: list[ConditionError] = field(default_factory=list)

    def fail(self, message: str, col: int, hint: str = "") -> tuple[Level, str]:
        self.errors.append(ConditionError(message, col, hint))
        return "frame", "any"

    def visit(self, node: Expr) -> tuple[Level, str]:
        """The level (one value per frame or per detection) and type (number, text, bool, list, any)."""
        if isinstance(node, Lit):
            value = node.value
            return "frame", "bool" if isinstance(value, bool) else "text" if isinstance(value, str) else "number"
        if isinstance(node, ListLit):
            return "frame", "list"
        if isinstance(node, Name):
            return self.name(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, (Neg, Not)):
            level, type_ = self.visit(node.operand)
            if isinstance(node, Neg) and type_ == "text":
                return self.fail("'-' works on numbers, not text", node.col)
            return level, "bool" if isinstance(node, Not) else type_
        return self.binary(node)

    def name(self, node: Name) -> tuple[Level, str]:
        name, scope = node.name, self.scope
        head = name.split(".", 1)[0]
        if name in FRAME_NAMES:
            return "frame", FRAME_NAMES[name]
        if head == "value":
            if scope.value:
                return "frame", "any"
            return self.fail("'value' needs the value input, and none is wired", node.col,
                             "wire `value: <node>.value` in this node's inputs")
        if name in DETECTION_NAMES or (scope.fields is not None and name in scope.fields):
            if not scope.detections:
                return self.fail(f"{name!r} is a detection field, but no detections are wired", node.col,
                                 "wire `detections: <node>.detections` in this node's inputs")
            return "detection", DETECTION_NAMES.get(name, "any")
        if scope.fields is None and scope.detections:
            return "detection", "any"
        close = closest(name, scope.known())
        hint = f"did you mean '{close}'?" if close else ""
        if not close and scope.detections:
            hint = "add the node that adds it (measure.masks, analyze.colour) upstream; names here: " + ", ".join(
                scope.known())
        return self.fail(f"unknown name {name!r}", node.col, hint)

    def call(self, node: Call) -> tuple[Level, str]:
        if node.fn not in FUNCTIONS:
            close = closest(node.fn, list(FUNCTIONS))
            return self.fail(f"unknown function '{node.fn}'", node.col,
                             f"did you mean '{close}'?" if close else f"functions: {', '.join(FUNCTIONS)}")
        if node.arg is None:
            if node.fn == "count":
                return "frame", "number"
            return self.fail(f"{node.fn}() needs a detection field, e.g. {node.fn}(length_mm)", node.col)
        before = len(self.errors)
        if node.fn == "count" and isinstance(node.arg, Name) and self._unknown(node.arg.name):
            return self.fail(f"unknown name {node.arg.name!r}", node.arg.col,
                             f"to count a class, write count(class == {node.arg.name})")
        level, type_ = self.visit(node.arg)
        if len(self.errors) > before:
            return "frame", "any"
        if level == "frame":
            example = "count(class == stone)" if node.fn == "count" else f"{node.fn}(length_mm)"
            return self.fail(f"{node.fn}() goes over the detections, and this is one value per frame",
                             node.col, f"name a detection field in it, e.g. {example}")
        if node.fn in ("max", "min", "mean", "sum") and type_ == "text":
            return self.fail(f"{node.fn}() works on numbers, not text", node.col, "first() takes text")
        return "frame", type_ if node.fn == "first" else "number"

    def _unknown(self, name: str) -> bool:
        probe = _Analysis(self.scope)
        probe.name(Name(name, 0))
        return bool(probe.errors) and probe.errors[0].message.startswith("unknown")

    def binary(self, node: Binary) -> tuple[Level, str]:
        left_level, left = self.visit(node.left)
        right_level, right = self.visit(node.right)
        level: Level = "detection" if "detection" in (left_level, right_level) else "frame"
        op = node.op
        if op in ARITHMETIC:
            if "text" in (left, right):
                return self.fail(f"'{op}' works on numbers, not text", node.col)
            return level, "number"
        if op in ORDERING and "text" in (left, right):
            return self.fail(f"'{op}' compares numbers; text compares with == or != (or in [...])", node.col)
        if op in ("==", "!=") and {left, right} == {"text", "number"}:
            hint = "class is the class name (text); compare class_id with a number" if "class" in (
                _name_of(node.left), _name_of(node.right)) else "quote the number to compare text: '3'"
            return self.fail(f"'{op}' compares text with a number", node.col, hint)
        return level, "bool"


def _name_of(node: Expr) -> str:
    return node.name if isinstance(node, Name) else ""


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


def condition_params(params: BaseModel, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str, ParamKind]]:
    """``(path, text, kind)`` of every condition in ``params``, nested rules and writes included."""
    for name, info in type(params).model_fields.items():
        value, where = getattr(params, name, None), (*path, name)
        marker = _marker(info.annotation, info.metadata)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for i, item in items:
            at = where if i is None else (*where, i)
            if marker is not None and isinstance(item, str):
                yield at, item, marker.kind
            elif isinstance(item, BaseModel) and has_conditions(type(item)):
                yield from condition_params(item, at)


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


def condition_issues(graph: CompiledGraph, where: Callable[..., Location], unchecked: set[str]) -> list[Issue]:
    """Every unknown name and type mismatch in every node's conditions, located at its param."""
    issues: list[Issue] = []
    into: dict[str, Fields] | None = None
    for node_id in graph.order:
        node = graph.nodes[node_id]
        if node_id in unchecked or not has_conditions(type(node.params)):
            continue
        into = into if into is not None else reaching_fields(graph, unchecked)
        wired = {p for p, refs in node.inputs.items() if refs}
        has_detections = any(node.cls.inputs[p].kind == Kind.DETECTIONS for p in wired)
        scope = Scope(into[node_id], has_detections, any(node.cls.inputs[p].kind == Kind.VALUE for p in wired))
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

