"""What a line output writes: a constant or one number taken from the frame's findings.

A PLC register or an OPC UA variable holds one value, so each write names
one: ``true``, ``42``, ``count``, ``count(stone)``, ``frame``, ``value.mean``,
or an aggregate of a detection field over the frame's detections,
``max(length_mm)``, ``min(...)``, ``mean(...)``, ``sum(...)``, ``first(...)``.
A bare detection field (``length_mm``) is refused: with several detections it
would be ambiguous. No Python is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from segflow.delivery.condition import FRAME_NAMES

AGGREGATES: dict[str, Callable[[list[Any]], Any]] = {
    "max": max,
    "min": min,
    "sum": sum,
    "mean": lambda xs: sum(xs) / len(xs),
    "first": lambda xs: xs[0],
}
_CALL = re.compile(r"^(?P<fn>[a-z]+)\(\s*(?P<arg>[^()]*?)\s*\)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?$")
Env = Mapping[str, Any]
Getter = Callable[[Env, Sequence[Env]], Any]


def _lookup(env: Env, name: str) -> Any:
    value: Any = env
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _constant(value: Any) -> Getter:
    return lambda frame, dets: value


def _aggregate(fn: str, field: str) -> Getter:
    reduce = AGGREGATES[fn]

    def get(frame: Env, dets: Sequence[Env]) -> Any:
        values = [d.get(field) for d in dets]
        present = [v for v in values if v is not None]
        return reduce(present) if present else None

    return get


def compile_value(spec: bool | int | float | str) -> Getter:
    """A getter ``(frame_env, detection_envs) -> value or None``; ValueError says what is allowed."""
    if isinstance(spec, (bool, int, float)):
        return _constant(spec)
    text = spec.strip()
    if text in ("true", "false"):
        return _constant(text == "true")
    if _NUMBER.match(text):
        return _constant(float(text) if any(c in text for c in ".eE") else int(text))
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return _constant(text[1:-1])
    call = _CALL.match(text)
    if call:
        fn, arg = call["fn"], call["arg"].strip("'\"")
        if fn == "count":
            return lambda frame, dets: sum(1 for c in frame.get("_classes", ()) if c == arg)
        if fn not in AGGREGATES:
            raise ValueError(f"{text!r}: unknown function {fn!r}; use count, {', '.join(AGGREGATES)}")
        if not _NAME.match(arg):
            raise ValueError(f"{text!r}: {fn}() takes a detection field such as length_mm")
        return _aggregate(fn, arg)
    if _NAME.match(text):
        if text.split(".", 1)[0] not in FRAME_NAMES:
            raise ValueError(
                f"{text!r} is a detection field, and a frame may have several detections: "
                f"write max({text}), min({text}), mean({text}), sum({text}) or first({text})"
            )
        return lambda frame, dets: _lookup(frame, text)
    raise ValueError(
        f"{text!r} is not a value; use a constant (true, 1, 2.5), count, count(stone), frame, "
        "value.key, or max(field) / min / mean / sum / first"
    )


def check_value(spec: bool | int | float | str) -> bool | int | float | str:
    """Pydantic validator body: the spec, once it compiles."""
    compile_value(spec)
    return spec
