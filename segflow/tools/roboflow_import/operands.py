"""Roboflow's query language (statements, operands, operations) as segflow's one condition language.

Roboflow filters, gates, aggregations and message parameters share one
language of JSON statements (``BinaryStatement``, ``DynamicOperand`` with a
list of ``operations``); segflow has one text language for the same jobs
(docs/conditions.md). What has a counterpart becomes text here; what has
none raises :class:`Untranslatable` with the reason, which the caller reports
at the field (never a silent drop).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from segflow.tools.roboflow_import.selectors import Ref


class Untranslatable(Exception):
    """A part of the query language segflow's conditions cannot say; the message says which and why."""


DETECTION_FIELDS = {
    "class_name": "class", "class_id": "class_id", "confidence": "confidence", "tracker_id": "tracker_id",
    "x_min": "x1", "y_min": "y1", "x_max": "x2", "y_max": "y2", "size": "box_area",
    "center_x": "cx", "center_y": "cy", "area": "area_px",
}
IMAGE_FIELDS = {"size": "image_area", "width": "image_width", "height": "image_height"}
ARITHMETIC = {"Multiply": "*", "Divide": "/"}
COMPARATORS = {
    "(Number) >=": ">=", "(Number) >": ">", "(Number) <=": "<=", "(Number) <": "<",
    "(Number) ==": "==", "==": "==", "(Number) !=": "!=", "!=": "!=",
    "in (Sequence)": "in",
}
UNARY = {"(Boolean) is True": "== true", "(Boolean) is False": "== false",
         "(Sequence) is empty": "== 0", "(Sequence) is not empty": "> 0"}
WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_ -]*$")

Resolve = Callable[[str], Any]
"""An operand's name -> the Ref (or literal value) the step's parameters give it."""


def literal(value: Any) -> str:
    """A static value as condition text: numbers as they are, text quoted where a bare word would not do."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return value if WORD.match(value) and value not in ("true", "false", "and", "or", "not", "in") \
            else "'" + value.replace("'", "") + "'"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise Untranslatable(f"a static value {json.dumps(value)[:60]} has no form in segflow conditions")


def statement(node: dict[str, Any], resolve: Resolve) -> str:
    """A ``StatementGroup``, ``BinaryStatement`` or ``UnaryStatement`` as one condition."""
    kind = node.get("type")
    if kind == "StatementGroup":
        joiner = f" {node.get('operator', 'and')} "
        parts = [statement(s, resolve) for s in node.get("statements") or []]
        if not parts:
            raise Untranslatable("an empty statement group")
        text = joiner.join(f"({p})" if len(parts) > 1 else p for p in parts)
    elif kind == "BinaryStatement":
        comparator = (node.get("comparator") or {}).get("type")
        if comparator not in COMPARATORS:
            raise Untranslatable(f"the comparator '{comparator}' (segflow has ==, !=, <, <=, >, >=, in)")
        left = operand(node["left_operand"], resolve)
        right = operand(node["right_operand"], resolve)
        text = f"{left} {COMPARATORS[comparator]} {right}"
    elif kind == "UnaryStatement":
        operator = (node.get("operator") or {}).get("type")
        if operator not in UNARY:
            raise Untranslatable(f"the operator '{operator}'")
        text = f"{operand(node['operand'], resolve)} {UNARY[operator]}"
    else:
        raise Untranslatable(f"a statement of type '{kind}'")
    return f"not ({text})" if node.get("negate") else text


def operand(node: dict[str, Any], resolve: Resolve) -> str:
    """A ``StaticOperand`` or ``DynamicOperand`` (with its operations) as an expression."""
    if node.get("type") == "StaticOperand":
        return literal(node.get("value"))
    if node.get("type") != "DynamicOperand":
        raise Untranslatable(f"an operand of type '{node.get('type')}'")
    name = node.get("operand_name", "_")
    return operations(name, resolve(name), node.get("operations") or [])


def operations(name: str, base: Any, ops: list[dict[str, Any]]) -> str:
    """``base`` (a Ref, or ``_``: the detection a filter looks at) after Roboflow's ``operations``."""
    text: str | None = None
    kind: str = base.kind if isinstance(base, Ref) else ("detection" if name == "_" else "literal")
    if isinstance(base, Ref) and base.kind == "value":
        text = base.record_field
    elif kind == "literal":
        text = literal(base)
    for op in ops:
        what = op.get("type")
        if what == "SequenceLength" and kind == "detections":
            text, kind = "count", "number"
        elif what == "ExtractDetectionProperty" and kind == "detection":
            text, kind = _detection_field(op.get("property_name")), "number"
        elif what == "ExtractImageProperty" and kind == "image":
            prop = op.get("property_name")
            if prop not in IMAGE_FIELDS:
                raise Untranslatable(f"the image property '{prop}' (segflow has size, width, height)")
            text, kind = IMAGE_FIELDS[prop], "number"
        elif what in ARITHMETIC and text is not None:
            text = f"{text} {ARITHMETIC[what]} {literal(op.get('other'))}"
        elif what == "NumberRound" and text is not None:
            text = f"round({text}, {int(op.get('decimal_digits', 0))})"
        else:
            raise Untranslatable(f"the operation '{what}' on {_what(kind)} '{name}'")
    if text is None or kind in ("detections", "image", "detection"):
        raise Untranslatable(f"'{name}' is {_what(kind)}, not a value a condition can compare")
    return text


def _detection_field(prop: Any) -> str:
    if prop not in DETECTION_FIELDS:
        raise Untranslatable(f"the detection property '{prop}' (segflow has {', '.join(DETECTION_FIELDS)})")
    return DETECTION_FIELDS[prop]


def _what(kind: str) -> str:
    return {"detections": "a set of detections", "image": "an image", "detection": "a detection",
            "crops": "crops", "table": "a table"}.get(kind, "a value")
