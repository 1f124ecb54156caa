"""Parameter forms generated from a node type's pydantic ``Params`` model.

``field_specs`` turns each field into a widget choice (checkbox, integer,
number, choice, text, or YAML for lists and nested settings) with its default,
bounds, options and help text; ``check`` validates what the user entered with
pydantic and returns its messages, so the form refuses exactly what the
engine would. Pure logic: the app renders the specs with Streamlit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

from segflow.engine.workflow.inputs import INPUT_REF, NODE_REF
from segflow.engine.workflow.yaml_source import load_yaml

Widget = Literal["checkbox", "int", "float", "choice", "text", "yaml"]


@dataclass
class FieldSpec:
    name: str
    widget: Widget
    help: str = ""
    default: Any = None
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    options: list[Any] = field(default_factory=list)
    optional: bool = False  # None is allowed (shown as an empty YAML field)

    def bounds_text(self) -> str:
        """The declared range, for the help text (the field itself accepts anything: see ``check``)."""
        if self.minimum is not None and self.maximum is not None:
            return f"from {self.minimum:g} to {self.maximum:g}"
        if self.minimum is not None:
            return f"at least {self.minimum:g}"
        return f"at most {self.maximum:g}" if self.maximum is not None else ""

    def display(self, value: Any) -> Any:
        """The widget's initial value for a param value (or the default when unset)."""
        if self.widget == "yaml":
            return "" if value is None else yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
        if self.widget == "text":
            return "" if value is None else str(value)
        if self.widget == "int":
            return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if self.widget == "float":
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        return value


def field_specs(model: type[BaseModel]) -> list[FieldSpec]:
    schema = model.model_json_schema()
    props = schema.get("properties", {})
    specs = []
    for name, info in model.model_fields.items():
        prop = props.get(info.alias or name, {})
        default = None if info.default is PydanticUndefined else info.default
        if info.default_factory is not None:
            default = info.default_factory()  # type: ignore[call-arg]
        spec = FieldSpec(name, "yaml", info.description or prop.get("description", ""), default, info.is_required())
        _choose_widget(spec, prop)
        specs.append(spec)
    return specs


def _choose_widget(spec: FieldSpec, prop: dict[str, Any]) -> None:
    variants = prop.get("anyOf")
    if variants:
        non_null = [v for v in variants if v.get("type") != "null"]
        spec.optional = len(non_null) < len(variants)
        if len(non_null) != 1:
            return  # a union: typed as YAML
        if spec.optional and non_null[0].get("type") != "string":
            return  # an optional number or list: YAML, where an empty field means None
        prop = {**non_null[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
    if "enum" in prop or "const" in prop:
        spec.widget = "choice"
        spec.options = list(prop.get("enum", [prop.get("const")]))
        return
    kind = prop.get("type")
    if kind == "boolean":
        spec.widget = "checkbox"
    elif kind in ("integer", "number"):
        spec.widget = "int" if kind == "integer" else "float"
        step = 1 if kind == "integer" else 0.0
        if "minimum" in prop:
            spec.minimum = prop["minimum"]
        elif "exclusiveMinimum" in prop:
            spec.minimum = prop["exclusiveMinimum"] + step
        if "maximum" in prop:
            spec.maximum = prop["maximum"]
        elif "exclusiveMaximum" in prop:
            spec.maximum = prop["exclusiveMaximum"] - step
    elif kind == "string":
        spec.widget = "text"


def parse_widget_value(spec: FieldSpec, raw: Any) -> Any:
    """A widget's value as the param value to validate: YAML text parsed, blanks as None."""
    if spec.widget == "yaml":
        text = str(raw or "").strip()
        if not text:
            return None if spec.optional or not spec.required else ""
        loaded = load_yaml(text, spec.name)  # bounded like a workflow file: an alias bomb is an error here too
        if loaded.issues:
            issue = loaded.issues[0]
            where = f" at column {issue.location.col}" if issue.location else ""
            message = issue.message.removeprefix("invalid YAML: ")
            raise FormError({spec.name: f"not valid YAML{where}: {message}"})
        return loaded.data
    if spec.widget == "text" and spec.optional and raw == "":
        return None
    if spec.widget == "float" and isinstance(raw, float) and math.isfinite(raw) and raw == int(raw) \
            and isinstance(spec.default, int):
        return int(raw)
    return raw


class FormError(ValueError):
    """Messages per field, as pydantic (or the YAML parser) gave them."""

    def __init__(self, messages: dict[str, str]) -> None:
        self.messages = messages
        super().__init__("; ".join(f"{k}: {v}" for k, v in messages.items()))


def check(model: type[BaseModel], values: dict[str, Any]) -> BaseModel:
    """Validate ``values`` with the node's model; raise :class:`FormError` with pydantic's messages."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        messages: dict[str, str] = {}
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "params"
            messages.setdefault(name, err["msg"])
        raise FormError(messages) from exc


@dataclass
class Applied:
    """What Apply does with a form: the params to write, or pydantic's messages per field (then nothing)."""

    changes: dict[str, Any] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)


def apply_entered(model: type[BaseModel], specs: list[FieldSpec], current: dict[str, Any],
                  entered: dict[str, Any]) -> Applied:
    """Parse every widget's value, validate the params they make, and say what to write.

    Every field is parsed (a YAML error in one does not hide a range error in another);
    any message means nothing is written, so the document keeps its previous values.
    """
    refs = {k for k, v in current.items() if is_reference(v)}  # `$inputs.x`, `$node.port`: kept as written
    specs = [s for s in specs if s.name not in refs]
    values: dict[str, Any] = {}
    messages: dict[str, str] = {}
    for spec in specs:
        if spec.name not in entered:
            continue
        try:
            values[spec.name] = parse_widget_value(spec, entered[spec.name])
        except FormError as exc:
            messages.update(exc.messages)
    if messages:
        return Applied(messages=messages)
    changed = changes(specs, current, values)
    try:
        check(model, {k: v for k, v in {**current, **changed}.items() if k not in refs})
    except FormError as exc:
        messages = {k: m for k, m in exc.messages.items() if k.split(".", 1)[0] not in refs}
        if messages:  # a referenced param is checked when the workflow is validated, with its value
            return Applied(messages=messages)
    return Applied(changes=changed)


def is_reference(value: Any) -> bool:
    """Whether a param's value is a workflow input (``$inputs.x``) or another node's value (``$node.port``)."""
    return isinstance(value, str) and (INPUT_REF.match(value) is not None or NODE_REF.match(value) is not None)


def changes(specs: list[FieldSpec], current: dict[str, Any], entered: dict[str, Any]) -> dict[str, Any]:
    """The params to write: entered values that differ from what the form showed.

    A value the user did not touch is not written, so a default stays implicit
    and a hand-written value keeps its exact spelling.
    """
    out = {}
    for spec in specs:
        if spec.name not in entered:
            continue
        shown = current.get(spec.name, spec.default)
        value = entered[spec.name]
        if spec.widget == "text" and shown is None and value == "":
            continue
        if value != shown or type(value) is not type(shown) and not _same_number(value, shown):
            out[spec.name] = value
    return out


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) \
        and not isinstance(b, bool) and a == b
