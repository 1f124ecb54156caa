"""What a condition may name, and the mistakes found before it runs: unknown names, mixed types.

A condition is checked in a :class:`Scope`: the frame's names, the fields of
the detections that reach the node (None: not declared, so any name is
accepted), and whether a value input is wired. The params model checks what
needs no graph (syntax, text compared by order, ``max(class)``) when it is
built; validation checks the names against the graph's fields
(:mod:`segflow.engine.workflow.fields`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator

from segflow.engine.workflow.conditions import (
    ARITHMETIC,
    DETECTION_NAMES,
    ELEMENTWISE,
    FRAME_NAMES,
    FUNCTIONS,
    IMAGE_NAMES,
    ORDERING,
    Binary,
    Call,
    ConditionError,
    Expr,
    Level,
    ListLit,
    Lit,
    Name,
    Neg,
    Not,
    parse,
)
from segflow.engine.workflow.issues import closest

ParamKind = Literal["condition", "value", "field"]
Fields = frozenset[str] | None  # None: not declared, any name may be there


@dataclass(frozen=True)
class Scope:
    """What a condition may name: the frame's names, and the detections' when a detections input is wired.

    The image's size (``image_width``...) needs an image input wired.
    """

    fields: Fields = frozenset()
    detections: bool = True
    value: bool = False
    image: bool = False

    def known(self) -> list[str]:
        frame = [n for n in FRAME_NAMES if self.image or n not in IMAGE_NAMES]
        names = [*frame, *FUNCTIONS, *(["value"] if self.value else [])]
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

    def known(self, name: str) -> bool:
        """Whether ``name`` may exist here (even if it needs an input that is not wired)."""
        fields = self.scope.fields
        return (name in FRAME_NAMES or name.split(".", 1)[0] == "value" or name in DETECTION_NAMES
                or fields is None or name in fields)

    def name(self, node: Name) -> tuple[Level, str]:
        name, scope = node.name, self.scope
        if name in IMAGE_NAMES and not scope.image:
            return self.fail(f"{name!r} needs the image, and no image input is wired", node.col,
                             "wire `image: <source>.image` in this node's inputs")
        if name in FRAME_NAMES:
            return "frame", FRAME_NAMES[name]
        if name.split(".", 1)[0] == "value":
            if scope.value:
                return "frame", "any"
            return self.fail("'value' needs the value input, and none is wired", node.col,
                             "a sink has one: wire `value: <node>.value` in its inputs")
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
            what = "a number" if node.fn in ELEMENTWISE else "a detection field"
            return self.fail(f"{node.fn}() needs {what}, e.g. {node.fn}(length_mm)", node.col)
        if node.fn in ELEMENTWISE or (node.fn in ("min", "max") and node.more):
            return self.elementwise(node)
        if node.more:
            return self.fail(f"{node.fn}() takes one argument", node.more[0].col,
                             "min(a, b) and max(a, b) compare values; the other functions take one")
        before = len(self.errors)
        if node.fn == "count" and isinstance(node.arg, Name) and not self.known(node.arg.name):
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

    def elementwise(self, node: Call) -> tuple[Level, str]:
        """abs(x), round(x[, digits]), min(a, b, ...), max(a, b, ...): one number per detection or frame."""
        if node.fn == "abs" and node.more or node.fn == "round" and len(node.more) > 1:
            return self.fail(f"{node.fn}() takes {'one argument' if node.fn == 'abs' else 'a number and digits'}",
                             node.more[-1].col)
        if node.fn == "round" and node.more:
            digits = node.more[0]
            if not (isinstance(digits, Lit) and isinstance(digits.value, int) and not isinstance(digits.value, bool)):
                return self.fail("round(x, digits): digits is a whole number", digits.col, "e.g. round(area_mm2, 1)")
        args = (node.arg, *node.more) if node.fn != "round" else (node.arg,)
        level: Level = "frame"
        for arg in args:
            if arg is None:
                continue
            arg_level, type_ = self.visit(arg)
            if type_ == "text":
                return self.fail(f"{node.fn}() works on numbers, not text", arg.col)
            level = "detection" if arg_level == "detection" else level
        return level, "number"

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
        bare = next((n for n in (node.left, node.right) if isinstance(n, Lit) and n.bare), None)
        if bare is not None and self.scope.fields is not None and bare.value in self.scope.fields:
            return self.fail(f"after '{op}', {bare.value} is read as text, yet it is a field here", bare.col,
                             f"write ({bare.value}) to compare with the field, or '{bare.value}' for the text")
        if op in ("==", "!=") and {left, right} == {"text", "number"}:
            hint = "class is the class name (text); compare class_id with a number" if "class" in (
                _name_of(node.left), _name_of(node.right)) else "quote the number to compare text: '3'"
            return self.fail(f"'{op}' compares text with a number", node.col, hint)
        return level, "bool"


def _name_of(node: Expr) -> str:
    return node.name if isinstance(node, Name) else ""


ANY_NAME = Scope(fields=None, detections=True, value=True, image=True)
"""The scope of a params model on its own: every name may exist, so only names-free mistakes show."""


def check_syntax(text: str, kind: ParamKind = "condition") -> str:
    """A pydantic validator's body: ``text`` when it parses and its types agree, else a located ValueError."""
    try:
        tree = parse(text)
        errors = check(tree, ANY_NAME, kind) if tree is not None else []
    except ConditionError as exc:
        errors = [exc]
    if errors:
        hint = f"; {errors[0].hint}" if errors[0].hint else ""
        raise ValueError(f"condition {text!r}: {errors[0]}{hint}")
    return text


def check_value_syntax(spec: Any) -> Any:
    """Like :func:`check_syntax` for a line output's value: a constant, or one frame value as text."""
    return check_syntax(spec, "value") if isinstance(spec, str) else spec


@dataclass(frozen=True)
class ConditionParam:
    """Marks a text param as written in this language, so validation checks its names.

    ``kind`` ``condition``: true or false, per detection where the node works on detections;
    ``value``: one frame value (a line output's register), so a bare detection field is refused.
    """

    kind: ParamKind = "condition"


ConditionText = Annotated[str, ConditionParam("condition"), AfterValidator(check_syntax)]
LineValue = Annotated[bool | int | float | str, ConditionParam("value"), AfterValidator(check_value_syntax)]
FrameValue = Annotated[str, ConditionParam("value"), AfterValidator(check_value_syntax)]
"""One value per frame in the language, as text (``count(class == stone)``, ``value.in``)."""
FieldValue = Annotated[str, ConditionParam("field"), AfterValidator(check_syntax)]
"""A new detection field's expression (``compute.fields``): any value, per detection or per frame."""
