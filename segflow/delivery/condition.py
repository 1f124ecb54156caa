"""Evaluating the condition language over one frame's detections.

The language itself (grammar, names, checks before the run) is
:mod:`segflow.engine.workflow.conditions`; this is the other half, run on every
frame. A detection field is a column (one value per detection), a frame name a
single value, and the tree is evaluated column-wise with numpy, so a filter
over a hundred detections costs one pass, not a hundred.

Three ways to ask: :meth:`Condition.per_detection` (filter, relabel: which
detections pass), :meth:`Condition.holds` (a sink's gate: does the frame
pass) and :meth:`Condition.column` (``compute.fields``: the value itself, per
detection). For the frame, a part that names detection fields holds when it holds
for at least one detection; it is decided at the point where it meets a frame
value (``count == 0 or class == stone`` is true on an empty frame), so
``class == stone and confidence > 0.5`` asks for one detection with both.

A missing value (no tracker id, NaN) fails every comparison but ``!=`` and
``not in``. Text compared by order, or with a number, is a type mismatch: it
raises :class:`NodeError`, which the engine counts as the node's failure on
that frame.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import numpy as np

from segflow.delivery.columns import lookup
from segflow.delivery.records import class_names
from segflow.engine import NodeError, PacketInfo
from segflow.engine.workflow.conditions import (
    ARITHMETIC,
    BOX_NAMES,
    ELEMENTWISE,
    IMAGE_NAMES,
    ORDERING,
    Binary,
    Call,
    ConditionError,
    Expr,
    ListLit,
    Lit,
    Name,
    Neg,
    Not,
    parse,
)

_NUMERIC = "biuf"
_COMPARE = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater,
            ">=": np.greater_equal}
_SCALAR_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
                   ">=": operator.ge}


class Condition:
    """A compiled condition; ``param`` names where it was written, for run-time errors."""

    def __init__(self, text: str, param: str = "condition") -> None:
        self.text = text
        self.param = param
        self.tree = parse(text)

    def per_detection(self, detections: Any, packet: PacketInfo, value: Any = None, image: Any = None) -> np.ndarray:
        """Which of the detections pass (a boolean array, one per detection)."""
        n = 0 if detections is None else len(detections)
        if self.tree is None:
            return np.ones(n, dtype=bool)
        result = self._run(_Frame(detections, packet, value, reduce=False, image=image))
        return np.broadcast_to(_truth(result), (n,)).copy()

    def column(self, detections: Any, packet: PacketInfo, value: Any = None, image: Any = None) -> np.ndarray:
        """The expression's value for each detection (a frame value repeated), numbers as float, NaN missing."""
        n = len(detections)
        result = self._run(_Frame(detections, packet, value, reduce=False, image=image))
        if not isinstance(result, np.ndarray):
            result = np.array([result] * n, dtype=object)
        return _normal(np.broadcast_to(result, (n,)).copy())

    def holds(self, packet: PacketInfo, detections: Any, value: Any = None, image: Any = None) -> bool:
        """Whether the frame passes: a part over detection fields holds for at least one detection."""
        if self.tree is None:
            return True
        result = _truth(self._run(_Frame(detections, packet, value, reduce=True, image=image)))
        return bool(result.any()) if isinstance(result, np.ndarray) else bool(result)

    def value(self, packet: PacketInfo, detections: Any, value: Any = None) -> Any:
        """The condition read as one frame value (a line output's write): plain Python, None if missing."""
        if self.tree is None:
            return None
        result = self._run(_Frame(detections, packet, value, reduce=True))
        if isinstance(result, np.ndarray) and result.ndim:
            raise NodeError(f"{self.param} {self.text!r} is a value per detection, and a frame may have several",
                            hint="write max(field), min(...), mean(...), sum(...) or first(...)")
        return _plain(result)

    def _run(self, frame: _Frame) -> Any:
        try:
            return frame.eval(self.tree)  # type: ignore[arg-type]
        except ConditionError as exc:
            raise NodeError(f"{self.param} {self.text!r}: {exc}", hint=exc.hint) from exc


class _Frame:
    """One evaluation: the frame's detections, columns read once and only when named."""

    def __init__(self, detections: Any, packet: PacketInfo, value: Any, reduce: bool, image: Any = None) -> None:
        self.image = image  # a Frame or its pixels: only its size is read
        self.detections = detections
        self.n = 0 if detections is None else len(detections)
        self.packet = packet
        self.value = value
        self.reduce = reduce
        self.columns: dict[str, np.ndarray] = {}

    def eval(self, node: Expr) -> Any:
        if isinstance(node, Lit):
            return node.value
        if isinstance(node, ListLit):
            return node.values
        if isinstance(node, Name):
            return self.name(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Neg):
            return np.negative(_numbers(self.eval(node.operand), "'-'", node.col))
        if isinstance(node, Not):
            return np.logical_not(_truth(self.eval(node.operand)))
        return self.binary(node)

    def name(self, node: Name) -> Any:
        name = node.name
        if name == "count":
            return self.n
        if name == "frame":
            return self.packet.frame_index
        if name == "timestamp":
            return float(self.packet.timestamp)
        if name == "source":
            return self.packet.source_id
        if name in IMAGE_NAMES:
            return self.image_size(name, node.col)
        if name == "value":
            return self.value
        if name.startswith("value."):  # the same dotted walk as a sink's ``fields:`` entries
            return lookup(self.value, name[len("value."):]) if isinstance(self.value, Mapping) else None
        if name not in self.columns:
            self.columns[name] = self.column(name, node.col)
        return self.columns[name]

    def column(self, name: str, col: int) -> np.ndarray:
        d = self.detections
        if d is None:
            raise ConditionError(f"{name!r} is a detection field, but this frame has no detections input", col)
        data = d.data
        if name == "class":
            return np.asarray(class_names(d), dtype=str)
        if name in ("class_id", "confidence", "tracker_id"):
            values = getattr(d, name)
            return np.full(self.n, np.nan) if values is None else np.asarray(values, dtype=np.float64)
        if name in BOX_NAMES:
            return _box(np.asarray(d.xyxy, dtype=np.float64).reshape(-1, 4), name)
        if name in data:
            return _normal(np.asarray(data[name]))
        if self.n == 0:
            return np.empty(0)
        raise ConditionError(
            f"no field {name!r} in these detections; they have: {', '.join(sorted(data)) or 'no fields'}", col,
            "put the node that adds it (measure.masks, analyze.colour) upstream")

    def image_size(self, name: str, col: int) -> float:
        shape = getattr(self.image, "shape", None)
        if shape is None:
            raise ConditionError(f"{name!r} needs the image, and this node got none", col,
                                 "wire `image: <source>.image` in this node's inputs")
        height, width = float(shape[0]), float(shape[1])
        return {"image_width": width, "image_height": height, "image_area": width * height}[name]

    def call(self, node: Call) -> Any:
        if node.fn in ELEMENTWISE or node.more:
            return self.elementwise(node)
        if node.arg is None:
            return self.n
        values = self.eval(node.arg)
        if not isinstance(values, np.ndarray):  # a frame value where a field belongs: the same for each
            values = _normal(np.array([values] * self.n, dtype=object))
        if node.fn == "count":
            return int(np.count_nonzero(_truth(values)))
        if node.fn == "first":
            return _plain(values[0]) if self.n else None
        numbers = _numbers(values, f"{node.fn}()", node.col)
        present = numbers[~np.isnan(numbers)]
        if not present.size:
            return None
        reduce = {"max": np.max, "min": np.min, "mean": np.mean, "sum": np.sum}[node.fn]
        return float(reduce(present))

    def elementwise(self, node: Call) -> Any:
        """abs, round and min/max of several values: value by value, NaN (missing) where any is missing."""
        first = _numbers(self.eval(node.arg), f"{node.fn}()", node.col)  # type: ignore[arg-type]
        if node.fn == "abs":
            return np.abs(first)
        if node.fn == "round":
            digits = int(node.more[0].value) if node.more and isinstance(node.more[0], Lit) else 0
            return np.round(first, digits) if isinstance(first, np.ndarray) else round(first, digits)
        values = [first, *(_numbers(self.eval(arg), f"{node.fn}()", arg.col) for arg in node.more)]
        combine = np.maximum if node.fn == "max" else np.minimum  # NaN wins: a missing value stays missing
        result = values[0]
        for other in values[1:]:
            result = combine(result, other)
        return result if isinstance(result, np.ndarray) else float(result)

    def binary(self, node: Binary) -> Any:
        op = node.op
        left, right = self.eval(node.left), self.eval(node.right)
        if op in ("and", "or"):
            left, right = _truth(left), _truth(right)
            if self.reduce and isinstance(left, np.ndarray) != isinstance(right, np.ndarray):
                left, right = _any(left), _any(right)  # a detection part meets a frame value
            return np.logical_and(left, right) if op == "and" else np.logical_or(left, right)
        if op in ARITHMETIC:
            a, b = _numbers(left, f"'{op}'", node.col), _numbers(right, f"'{op}'", node.col)
            with np.errstate(all="ignore"):
                return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide}[op](a, b)
        if op in ("in", "not_in"):
            found = _member(left, right)
            return np.logical_not(found) if op == "not_in" else found
        return _compare(op, left, right, node.col)


def _box(xyxy: np.ndarray, name: str) -> np.ndarray:
    x1, y1, x2, y2 = xyxy.T
    if name in ("x1", "y1", "x2", "y2"):
        return {"x1": x1, "y1": y1, "x2": x2, "y2": y2}[name]
    if name in ("cx", "cy"):
        return (x1 + x2) / 2 if name == "cx" else (y1 + y2) / 2
    width, height = x2 - x1, y2 - y1
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"box_width": width, "box_height": height, "box_area": width * height, "aspect": width / height}[name]


def _any(value: Any) -> Any:
    return bool(value.any()) if isinstance(value, np.ndarray) else value


def _normal(array: np.ndarray) -> np.ndarray:
    """A column as float (numbers, None as NaN), bool, unicode text, or objects (a list per detection)."""
    if array.ndim > 1:  # e.g. three Lab values per detection: one value each, a list
        rows = np.empty(len(array), dtype=object)
        rows[:] = [row.tolist() for row in array]
        return rows
    if array.dtype.kind in _NUMERIC:
        return array if array.dtype.kind == "b" else array.astype(np.float64)
    if array.dtype.kind in "US":
        return array.astype(str)
    present = [v for v in array.ravel() if v is not None]
    if present and all(isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_)) for v in present):
        return np.array([np.nan if v is None else v for v in array.ravel()], dtype=np.float64).reshape(array.shape)
    return array


def _kind(value: Any) -> str:
    """number, bool, text, missing or other: the type a comparison sees."""
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind in _NUMERIC:
            return "bool" if kind == "b" else "number"
        if kind in "US":
            return "text"
        present = [v for v in value if v is not None]
        if not present:
            return "missing"
        return "text" if all(isinstance(v, str) for v in present) else "other"
    if value is None:
        return "missing"
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, float, np.number)):
        return "number"
    return "text" if isinstance(value, str) else "other"


def _numbers(value: Any, what: str, col: int) -> Any:
    kind = _kind(value)
    if kind in ("number", "bool"):
        return np.asarray(value, dtype=np.float64) if isinstance(value, np.ndarray) else float(value)
    if kind == "missing":
        return np.full(len(value), np.nan) if isinstance(value, np.ndarray) else np.nan
    raise ConditionError(f"{what} works on numbers, got {_shown(value)}", col)


def _truth(value: Any) -> Any:
    """True or false, per detection for a column: zero, NaN, empty text and missing are false."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "b":
            return value
        if value.dtype.kind in _NUMERIC:
            return (value != 0) & ~np.isnan(value.astype(np.float64))
        if value.dtype.kind in "US":
            return value != ""
        return np.array([_truth(v) for v in value], dtype=bool)
    if isinstance(value, (float, np.floating)):
        return bool(value == value and value != 0)
    return bool(value) if value is not None else False


def _compare(op: str, left: Any, right: Any, col: int) -> Any:
    kinds = {_kind(left), _kind(right)} - {"missing"}
    if kinds <= {"number", "bool"}:
        a, b = _numbers(left, op, col), _numbers(right, op, col)
        if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
            return _SCALAR_COMPARE[op](a, b)  # a frame value: no numpy call on the hot path
        with np.errstate(invalid="ignore"):
            return _COMPARE[op](a, b)
    if op in ORDERING:
        raise ConditionError(f"'{op}' compares numbers, got {_shown(left)} and {_shown(right)}", col,
                             "text compares with == or != (or in [...])")
    if "text" in kinds and kinds & {"number", "bool"}:
        raise ConditionError(f"'{op}' compares text with a number: {_shown(left)} and {_shown(right)}", col,
                             "quote the number to compare text ('3'), or compare a numeric field")
    equal = _equal(left, right)
    return equal if op == "==" else np.logical_not(equal)


def _equal(left: Any, right: Any) -> Any:
    if _kind(left) == _kind(right) == "text" and all(
            isinstance(v, str) or (isinstance(v, np.ndarray) and v.dtype.kind == "U") for v in (left, right)):
        return left == right  # unicode columns: one vectorised pass
    if isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
        a, b = np.broadcast_arrays(np.asarray(left, dtype=object), np.asarray(right, dtype=object))
        return np.array([x is not None and y is not None and bool(x == y) for x, y in zip(a, b, strict=True)],
                        dtype=bool)
    return left is not None and right is not None and bool(left == right)


def _member(left: Any, options: tuple[Any, ...]) -> Any:
    if isinstance(left, np.ndarray) and left.dtype.kind == "U" and all(isinstance(o, str) for o in options):
        return np.isin(left, list(options))
    if isinstance(left, np.ndarray):
        return np.array([_member(_plain(v), options) for v in left], dtype=bool)
    return left is not None and left == left and any(_plain(left) == o for o in options)


def _plain(value: Any) -> Any:
    """Python's own value for a numpy one; NaN as None (missing)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _shown(value: Any) -> str:
    """A value as an error shows it: its type and an example, never a whole column."""
    if isinstance(value, np.ndarray):
        sample = next((v for v in value if v is not None), None)
        return f"a detection field holding {type(_plain(sample)).__name__} ({_plain(sample)!r})"
    return f"{type(value).__name__} {value!r}"
