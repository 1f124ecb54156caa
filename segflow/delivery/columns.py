"""A sink's ``fields:``: which columns its records have, under which names, in which order.

Each entry names a field (``class``), a field inside one (``value.mean``,
``counts.stone``, ``box.0``), or renames one (``{length: length_mm}``). The
record then holds those columns only, in that order; a field a frame lacks is
written empty (null), never skipped, so every row has the same columns.
Names are checked before the run against what the sink's records can hold:
the record's own fields and the fields the upstream nodes declare
(:meth:`segflow.engine.Node.added_fields`), with a "did you mean".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from segflow.delivery.records import BASE_FIELDS, DETECTION_FIELDS
from segflow.engine.node import ParamProblem
from segflow.engine.workflow.issues import closest

FieldEntry = str | dict[str, str]
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")
"""A record's field in a sink's text template: ``{count}``, ``{counts.stone}``, ``{value.mean}``."""
NESTED = ("value", "counts", "box", "detections", "mask")
"""Fields whose parts may be named with a dot (``value.mean``); any part is accepted."""


def columns(entries: list[FieldEntry]) -> list[tuple[str, str]]:
    """``(column, field)`` pairs in order, from the ``fields:`` entries."""
    out: list[tuple[str, str]] = []
    for entry in entries:
        out += list(entry.items()) if isinstance(entry, dict) else [(entry, entry)]
    return out


def select(row: Mapping[str, Any], chosen: list[tuple[str, str]]) -> dict[str, Any]:
    """The row's chosen columns, renamed and in order (a missing one is None)."""
    return {column: lookup(row, name) for column, name in chosen}


def lookup(row: Mapping[str, Any], name: str) -> Any:
    """``a.b.0`` in nested dicts and lists (a key that holds the dots itself first); None when absent.

    The one dotted walk: a sink's ``fields:`` entries and ``value.key.key`` in conditions use it.
    """
    if name in row:
        return row[name]
    value: Any = row
    for part in name.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def record_names(per: str, detections: bool, data: frozenset[str] | None, value: bool,
                 mask: bool) -> set[str] | None:
    """The top-level fields a sink's records can hold (None: unknown, any name goes)."""
    if detections and data is None:
        return None
    names = set(BASE_FIELDS) | ({"value"} if value else set())
    if detections and per == "frame":
        names |= {"count", "counts", "detections"}
    elif detections:
        names |= set(DETECTION_FIELDS) | (data or frozenset()) - {"class_name"} | ({"mask"} if mask else set())
    return names


def column_problems(entries: list[FieldEntry], known: set[str] | None, param: str = "fields") -> list[ParamProblem]:
    """Every entry naming a field the records cannot hold, located at its index, with a "did you mean"."""
    if known is None:
        return []
    problems: list[ParamProblem] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        for column, name in columns([entry]):
            head = name.split(".", 1)[0]
            if column in seen:
                problems.append(ParamProblem(f"{param}.{i}", f"column {column!r} is named twice",
                                             "rename one: {new_name: field}"))
            seen.add(column)
            if name in known or (head in known and head in NESTED):
                continue
            close = closest(name, sorted(known))
            hint = f"did you mean '{close}'?" if close else "fields here: " + ", ".join(sorted(known))
            if head == "value":
                hint = "wire `value: <node>.value` into this sink"
            problems.append(ParamProblem(f"{param}.{i}", f"no field {name!r} reaches this sink's records", hint))
    return problems


def placeholders(template: str) -> list[str]:
    """The field names a text template uses (``{{`` and ``}}`` are literal braces)."""
    return PLACEHOLDER.findall(template.replace("{{", "").replace("}}", ""))


def fill(template: str, record: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> str:
    """The template with each {name} replaced by the record's value (``extra`` first; empty when missing)."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = extra[name] if extra and name in extra else lookup(record, name)
        return "" if found is None else str(found)

    parts = template.split("{{")
    return "{".join(PLACEHOLDER.sub(value, part).replace("}}", "}") for part in parts)
