"""Roboflow selectors (``$inputs.NAME``, ``$steps.STEP.OUTPUT``) and what they become in segflow.

A Roboflow step names its data by selector; a segflow node names it by
``node.port`` (a wired input) or ``$inputs.NAME`` (a param). A :class:`Ref` is
the segflow side of one Roboflow output: where it is, what kind of data it is,
and, for a value that holds several things (``line.count``'s ``{in, out}``),
which part of it the Roboflow output meant.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

INPUT = re.compile(r"^\$inputs\.([A-Za-z_][A-Za-z0-9_-]*)$")
STEP = re.compile(r"^\$steps\.([^.\s]+)(?:\.([A-Za-z_*][A-Za-z0-9_]*))?$")

Kind = Literal["image", "detections", "value", "crops", "table"]


@dataclasses.dataclass(frozen=True)
class Ref:
    """One Roboflow output as segflow has it: ``node.port`` (or ``$inputs.NAME``), its kind, a part of a value.

    ``field`` is how a record or condition names it (``value.in``, ``count``); a
    ``table`` ref is a csv_formatter's columns (and the ContinueIf gate over it), which only a
    sink can hold.
    """

    ref: str
    kind: Kind
    path: tuple[str, ...] = ()
    field: str | None = None
    columns: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)
    step: str = ""
    gate: Any = dataclasses.field(default=None, compare=False)

    @property
    def record_field(self) -> str:
        """The name a sink's record gives it: ``value.in`` for a part of a wired value."""
        if self.field:
            return self.field
        return ".".join(("value", *self.path)) if self.kind == "value" else self.kind


def step_selector(text: Any) -> tuple[str, str | None] | None:
    """``(step, output)`` of ``$steps.step.output`` (output None for ``$steps.step``), else None."""
    if not isinstance(text, str):
        return None
    match = STEP.match(text)
    return (match.group(1), match.group(2)) if match else None


def input_selector(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    match = INPUT.match(text)
    return match.group(1) if match else None


def steps_named(value: Any) -> set[str]:
    """Every step a field's value (a selector, or a dict/list holding them) reads from."""
    found: set[str] = set()
    if isinstance(value, dict):
        for item in value.values():
            found |= steps_named(item)
    elif isinstance(value, list):
        for item in value:
            found |= steps_named(item)
    else:
        sel = step_selector(value)
        if sel:
            found.add(sel[0])
    return found
