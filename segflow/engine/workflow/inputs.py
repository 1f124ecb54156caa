"""Workflow inputs: runtime values declared under ``inputs:`` and referenced as ``$inputs.NAME``.

A workflow declares what a caller may give it each run (a confidence, a zone,
an image); params name them with the whole value ``$inputs.NAME``. Values
arrive from ``segflow run --input``, the Python API, the editor's form or an
HTTP request. This module checks them against their declaration (kind and
constraints) and puts them into the params before the node types validate
them, so a bad value is reported like a bad param: located, before the run.

``$NODE.PORT`` in a param is the other reference: a value another node makes
per packet, for params whose node type allows it (see :func:`takes_node_value`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from segflow.engine.workflow.spec import NAME, NODE_ID

INPUT_NAME_PATTERN = rf"^{NAME}$"
INPUT_REF = re.compile(rf"^\$inputs\.({NAME})$")
NODE_REF = re.compile(rf"^\$({NODE_ID})\.({NAME})$")
INPUT_REF_PATTERN = INPUT_REF.pattern
NODE_REF_PATTERN = NODE_REF.pattern
FROM_NODE = "x-segflow-from-node"  # json_schema_extra key: this param may be ``$node.port``

InputKind = Literal["number", "integer", "string", "bool", "image", "polygon", "line", "enum"]
NUMERIC = ("number", "integer")
POINTS = ("polygon", "line")


class InputSpec(BaseModel):
    """One entry under ``inputs:``; no ``default`` makes the input required."""

    model_config = ConfigDict(extra="forbid")

    kind: InputKind = Field(..., description="number, integer, string, bool, image, polygon, line or enum.")
    default: Any = Field(None, description="The value when none is given; absent: the input is required. "
                         "An image's default is a file path.")
    description: str = Field("", description="What the input means, for forms and docs.")
    min: float | None = Field(None, description="number/integer: the smallest value allowed.")
    max: float | None = Field(None, description="number/integer: the largest value allowed.")
    choices: list[str | int | float] | None = Field(None, min_length=1, description="enum: the values allowed.")
    min_points: int | None = Field(None, ge=2, description="polygon: the fewest points (default 3).")
    max_points: int | None = Field(None, ge=2, description="polygon: the most points.")

    @property
    def required(self) -> bool:
        return "default" not in self.model_fields_set

    @model_validator(mode="after")
    def _constraints_fit_the_kind(self) -> InputSpec:
        if (self.min is not None or self.max is not None) and self.kind not in NUMERIC:
            raise ValueError(f"min/max apply to number and integer inputs, not to {self.kind}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        if (self.choices is None) != (self.kind != "enum"):
            raise ValueError("an enum input needs `choices`" if self.kind == "enum"
                             else f"`choices` applies to enum inputs, not to {self.kind}")
        if (self.min_points is not None or self.max_points is not None) and self.kind != "polygon":
            raise ValueError(f"min_points/max_points apply to polygon inputs, not to {self.kind}")
        return self

    def point_range(self) -> tuple[int, int | None]:
        if self.kind == "line":
            return 2, 2
        return self.min_points or 3, self.max_points


class TextValue(str):
    """A value typed by a person (``--input name=value``, a form field): parsed by the declared kind."""


def coerce(spec: InputSpec, value: Any, base_dir: Path | None = None) -> Any:
    """The value as the input's kind expects it, or ValueError saying why it is not one.

    ``TextValue`` is parsed first (a number from its digits, a polygon from YAML or
    JSON, ``@file`` read from disk); an image is a path or an array of pixels.
    """
    if isinstance(value, TextValue):
        value = _parse_text(spec, str(value), base_dir)
    kind = spec.kind
    if kind in NUMERIC:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected {'an integer' if kind == 'integer' else 'a number'}, got {_what(value)}")
        if kind == "integer" and value != int(value):
            raise ValueError(f"expected an integer, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        if spec.min is not None and value < spec.min:
            raise ValueError(f"{value:g} is below the minimum {spec.min:g}")
        if spec.max is not None and value > spec.max:
            raise ValueError(f"{value:g} is above the maximum {spec.max:g}")
        return int(value) if kind == "integer" else value
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {_what(value)}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {_what(value)}")
        return value
    if kind == "enum":
        assert spec.choices is not None
        if value not in spec.choices:
            raise ValueError(f"{value!r} is not one of {', '.join(map(str, spec.choices))}")
        return value
    if kind in POINTS:
        return _points(spec, value)
    return _image(value, base_dir)


def _parse_text(spec: InputSpec, text: str, base_dir: Path | None) -> Any:
    import yaml

    if text.startswith("@") and spec.kind in POINTS + ("string",):
        path = _resolve(text[1:], base_dir)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {text[1:]}: {getattr(exc, 'strerror', None) or exc}") from exc
        if spec.kind == "string":
            return text
    kind = spec.kind
    try:
        if kind == "number":
            return float(text)
        if kind == "integer":
            return int(text)
    except ValueError:
        raise ValueError(f"expected {'an integer' if kind == 'integer' else 'a number'}, got {text!r}") from None
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if kind == "enum":
        assert spec.choices is not None
        return next((c for c in spec.choices if str(c) == text), text)
    if kind in POINTS:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"expected a YAML or JSON list of [x, y] points: {str(exc).splitlines()[0]}") from None
    if kind == "image":
        return text[1:] if text.startswith("@") else text
    return text


def _points(spec: InputSpec, value: Any) -> list[list[float]]:
    low, high = spec.point_range()
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list of [x, y] points, got {_what(value)}")
    points = []
    for i, point in enumerate(value):
        if (not isinstance(point, (list, tuple)) or len(point) != 2
                or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c)
                           for c in point)):
            raise ValueError(f"point {i} is not [x, y] numbers: {_what(point)}")
        points.append([float(point[0]), float(point[1])])
    if len(points) < low or (high is not None and len(points) > high):
        want = f"exactly {low}" if low == high else f"at least {low}" + (f" and at most {high}" if high else "")
        raise ValueError(f"a {spec.kind} needs {want} points, got {len(points)}")
    return points


def _image(value: Any, base_dir: Path | None) -> Any:
    """Pixels (a HxW or HxWx3 uint8 array, BGR) from an array or an image file."""
    import numpy as np

    if isinstance(value, (str, Path)):
        import cv2

        path = _resolve(str(value), base_dir)
        if not path.is_file():
            raise ValueError(f"no image file {value}")
        pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if pixels is None:
            raise ValueError(f"cannot decode {value} as an image")
        return pixels
    if not isinstance(value, np.ndarray) or value.ndim not in (2, 3) or value.size == 0:
        raise ValueError(f"expected an image (a path or an HxW[x3] array), got {_what(value)}")
    return value


def _resolve(path: str, base_dir: Path | None) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() or base_dir is None else base_dir / p


def _what(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"an array of shape {tuple(shape)}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


SAMPLES: dict[str, Any] = {"number": 0.5, "integer": 1, "string": "text", "bool": False,
                           "polygon": [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], "line": [[0.0, 0.0], [1.0, 1.0]]}


def sample(spec: InputSpec) -> Any:
    """A value of the input's kind, to check a param's type while the real value is not known yet."""
    if spec.kind == "enum":
        assert spec.choices is not None
        return spec.choices[0]
    return SAMPLES[spec.kind]


def is_kind_error(pydantic_type: str) -> bool:
    """Whether a pydantic error type says the value is of the wrong kind (not merely out of range)."""
    return pydantic_type.endswith(("_type", "_parsing")) or pydantic_type in ("literal_error", "enum")


def takes_node_value(what: str) -> dict[str, Any]:
    """``json_schema_extra`` for a param that may be ``$node.port`` (a value another node makes per packet).

    The node type then reads the param from ``inputs.params`` (validated per packet),
    not from ``self.params``.
    """
    return {FROM_NODE: what}


def node_value_field(model: type[BaseModel], name: str) -> str | None:
    """What a param takes from another node (``takes_node_value``), or None when it takes no reference."""
    info = model.model_fields.get(name)
    extra = info.json_schema_extra if info is not None else None
    return str(extra[FROM_NODE]) if isinstance(extra, dict) and FROM_NODE in extra else None


def describe_inputs(specs: dict[str, InputSpec]) -> list[str]:
    """One line per declared input, for ``segflow graph --plan`` and ``segflow run --help``-like listings."""
    lines = []
    for name, spec in specs.items():
        facts: list[str] = [spec.kind]
        facts.append("required" if spec.required else f"default {spec.default!r}")
        if spec.min is not None or spec.max is not None:
            low, high = ("" if v is None else f"{v:g}" for v in (spec.min, spec.max))
            facts.append(f"{low}..{high}")
        if spec.choices:
            facts.append("one of " + "|".join(map(str, spec.choices)))
        lines.append(f"input {name} ({', '.join(facts)})" + (f": {spec.description}" if spec.description else ""))
    return lines
