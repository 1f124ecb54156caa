"""Readable text of a node type's params from their JSON Schema, nested models in full.

``segflow nodes NODE`` prints this: one line per field with its type, bounds,
default and help, and under a field that holds a model (``scale`` of
``measure.masks``) or a choice of models (one per ``mode``) each model's own
fields, indented, so nothing is visible only in ``segflow schema``.
"""

from __future__ import annotations

import json
from typing import Any

_BOUNDS = (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))
_LENGTHS = (("minLength", "length >="), ("maxLength", "length <="), ("minItems", "items >="), ("maxItems", "items <="))


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return defs.get(ref.rsplit("/", 1)[-1], node) if isinstance(ref, str) else node


def _models(node: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The object models a field can hold (several for a union), with null left out."""
    node = _resolve(node, defs)
    if node.get("type") == "object" and "properties" in node:
        return [node]
    out: list[dict[str, Any]] = []
    for key in ("anyOf", "oneOf"):
        for option in node.get(key, []):
            out.extend(_models(option, defs))
    return out


def _type_text(node: dict[str, Any], defs: dict[str, Any]) -> str:
    node = _resolve(node, defs)
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return " | ".join(json.dumps(v) for v in node["enum"])
    for key in ("anyOf", "oneOf"):
        if key in node:
            parts = [_type_text(option, defs) for option in node[key]]
            return " | ".join(dict.fromkeys(p for p in parts if p))
    kind = node.get("type", "")
    if kind == "array" and "prefixItems" in node:  # a tuple such as an [x, y] point
        return "[" + ", ".join(_type_text(item, defs) for item in node["prefixItems"]) + "]"
    if kind == "array":
        inner = _type_text(node.get("items", {}), defs)
        kind = f"list of {inner}" if inner else "list"
    elif kind == "object":
        kind = node.get("title", "object") if "properties" in node else "mapping"
    bounds = [f"{word} {node[key]}" for key, word in _BOUNDS + _LENGTHS if key in node]
    return " ".join([kind or "any", *bounds])


def param_lines(schema: dict[str, Any], indent: int = 4) -> list[str]:
    """One line per param (and per nested model's field) of a Params model's JSON Schema."""
    defs = schema.get("$defs", {})
    return _fields(schema, defs, indent)


def _fields(model: dict[str, Any], defs: dict[str, Any], indent: int, skip: str = "") -> list[str]:
    lines: list[str] = []
    required = set(model.get("required", []))
    pad = " " * indent
    for name, field in model.get("properties", {}).items():
        if name == skip:
            continue
        items = _resolve(field, defs).get("items")
        listed = _models(items, defs) if isinstance(items, dict) else []
        models = listed or _models(field, defs)
        if name in required:
            state = "required"
        elif "default" in field:
            state = f"default {json.dumps(field['default'])}"
        else:
            state = "optional"
        if listed:
            bounds = [f"{word} {field[key]}" for key, word in _LENGTHS if key in field]
            kind = "a list of mappings with the fields below" + (f" ({', '.join(bounds)})" if bounds else "")
        elif models:
            kind = "one of the mappings below" if len(models) > 1 else "a mapping with the fields below"
            options = field.get("anyOf", [])
            if any(option.get("type") == "array" for option in options):
                kind += ", or a list of them"
            if any(option.get("type") == "null" for option in options):
                kind += ", or null"
        else:
            kind = _type_text(field, defs)
        help_text = field.get("description", "")
        lines.append(f"{pad}{name}: {kind} ({state})" + (f" - {help_text}" if help_text else ""))
        for sub in models:
            if len(models) > 1:
                tag, help_text = _discriminator(sub)
                lines.append(f"{pad}  {tag}" + (f" - {help_text}" if help_text else ""))
                lines.extend(_fields(sub, defs, indent + 4, skip=tag.split(":")[0]))
            else:
                lines.extend(_fields(sub, defs, indent + 2))
    return lines


def _discriminator(model: dict[str, Any]) -> tuple[str, str]:
    """(``mode: fixed``, its help) for a model told apart by a constant field, else (title, docstring)."""
    for name, field in model.get("properties", {}).items():
        if "const" in field or (isinstance(field.get("enum"), list) and len(field["enum"]) == 1):
            value = field.get("const", (field.get("enum") or [None])[0])
            return f"{name}: {value}", field.get("description") or model.get("description", "")
    return str(model.get("title", "model")), model.get("description", "")
