"""Parameter forms generated from a node type's pydantic ``Params`` model.

``field_specs`` turns each field into a widget choice (checkbox, integer,
number, choice, text, a sub-form per mode for a tagged union such as
``measure.masks``' ``scale``, or YAML for lists and other nested settings)
with its default, bounds, options and help text; ``check`` validates what the
user entered with pydantic and returns its messages, so the form refuses
exactly what the engine would. Numbers are typed as text and parsed here, so
letters get a message instead of vanishing in the browser. Pure logic: the app
renders the specs with Streamlit.
"""

from __future__ import annotations

import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

from segflow.engine.workflow.inputs import INPUT_REF, NODE_REF
from segflow.engine.workflow.yaml_source import load_yaml

Widget = Literal["checkbox", "int", "float", "choice", "text", "yaml", "tagged", "points"]


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
    tag: str = ""  # a tagged union ("tagged"): the key naming the mode, e.g. `mode`,
    variants: dict[str, list[FieldSpec]] = field(default_factory=dict)  # and each mode's own fields

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
        if self.widget == "points":  # rows of a table
            points = value if isinstance(value, list) else []
            return [{"x": p[0], "y": p[1]} for p in points if isinstance(p, (list, tuple)) and len(p) == 2]
        if self.widget in ("int", "float"):  # typed as text: see parse_widget_value
            return f"{value:g}" if isinstance(value, float) else "" if value is None else str(value)
        return value

    def mode_of(self, value: Any) -> str | None:
        """The mode a tagged union's value is in (None: unset, or not one of the modes)."""
        mode = value.get(self.tag) if isinstance(value, dict) else None
        return mode if mode in self.variants else None


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
        tagged = _tagged_union(info.annotation)
        if tagged is not None:
            spec.widget, spec.optional = "tagged", not info.is_required()
            spec.tag = tagged[0]
            spec.variants = {mode: [s for s in field_specs(model) if s.name != spec.tag]
                             for mode, model in tagged[1].items()}
        else:
            _choose_widget(spec, prop)
        specs.append(spec)
    return specs


def _tagged_union(annotation: Any) -> tuple[str, dict[str, type[BaseModel]]] | None:
    """For a param typed as models told apart by one key (``scale``'s ``mode``): that key and each model."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            return None
        annotation, args = rest[0], typing.get_args(rest[0])
    if typing.get_origin(annotation) is not typing.Annotated:
        return None
    tag = next((getattr(m, "discriminator", None) for m in args[1:] if getattr(m, "discriminator", None)), None)
    if not isinstance(tag, str):
        return None
    models: dict[str, type[BaseModel]] = {}
    for model in typing.get_args(args[0]):
        if isinstance(model, type) and issubclass(model, BaseModel) and tag in model.model_fields:
            for mode in typing.get_args(model.model_fields[tag].annotation):
                models[str(mode)] = model
    return (tag, models) if models else None


def _choose_widget(spec: FieldSpec, prop: dict[str, Any]) -> None:
    variants = prop.get("anyOf")
    if variants:
        non_null = [v for v in variants if v.get("type") != "null"]
        spec.optional = len(non_null) < len(variants)
        if len(non_null) != 1:
            return  # a union: typed as YAML
        if _is_points(non_null[0]):
            spec.widget = "points"
            return
        if spec.optional and non_null[0].get("type") != "string":
            return  # an optional number or list: YAML, where an empty field means None
        prop = {**non_null[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
    if "enum" in prop or "const" in prop:
        spec.widget = "choice"
        spec.options = list(prop.get("enum", [prop.get("const")]))
        return
    kind = prop.get("type")
    if _is_points(prop):
        spec.widget = "points"
    elif kind == "boolean":
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


def _is_points(prop: dict[str, Any]) -> bool:
    """A list of ``[x, y]`` points (a zone's polygon, a line, a plane's points): edited as a table."""
    items = prop.get("items") or {}
    pair = items.get("prefixItems") or []
    return prop.get("type") == "array" and len(pair) == 2 and all(p.get("type") == "number" for p in pair)


def table_rows(shown: list[dict[str, Any]], edits: Any) -> list[dict[str, Any]]:
    """The rows of a points table after the edits Streamlit's data editor reports (edited, added, deleted)."""
    if not isinstance(edits, dict):
        return shown
    rows = [dict(r) for r in shown]
    for index, change in (edits.get("edited_rows") or {}).items():
        if 0 <= int(index) < len(rows):
            rows[int(index)].update(change)
    deleted = {int(i) for i in edits.get("deleted_rows") or []}
    rows = [r for i, r in enumerate(rows) if i not in deleted]
    return rows + [dict(r) for r in edits.get("added_rows") or []]


def _parse_points(spec: FieldSpec, rows: Any) -> list[list[int | float]] | None:
    points: list[list[int | float]] = []
    for n, row in enumerate(rows if isinstance(rows, list) else [], start=1):
        x, y = row.get("x"), row.get("y")
        if x is None and y is None:
            continue  # an empty row the table added
        if x is None or y is None or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (x, y)):
            raise FormError({spec.name: f"point {n} needs a number for both x and y"})
        points.append([int(v) if float(v).is_integer() else float(v) for v in (x, y)])  # [640, 0] stays so
    return points or (None if spec.optional else [])


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
    if spec.widget == "tagged":
        return _parse_tagged(spec, raw)
    if spec.widget == "points":
        return _parse_points(spec, raw)
    if spec.widget in ("int", "float") and isinstance(raw, str):
        raw = _parse_number(spec, raw)
    if spec.widget == "text" and spec.optional and raw == "":
        return None
    if spec.widget == "float" and isinstance(raw, float) and math.isfinite(raw) and raw == int(raw) \
            and isinstance(spec.default, int):
        return int(raw)
    return raw


def _parse_number(spec: FieldSpec, text: str) -> int | float | None:
    text = text.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        kind = "a whole number" if spec.widget == "int" else "a number"
        example = f"{spec.default:g}" if isinstance(spec.default, (int, float)) else \
            "3" if spec.widget == "int" else "0.5"
        raise FormError({spec.name: f"'{text}' is not {kind}: type digits, e.g. {example}"}) from None
    if spec.widget == "int" and number.is_integer():
        return int(number)
    return number


def _parse_tagged(spec: FieldSpec, entered: Any) -> Any:
    """A sub-form's values (``{tag: mode, field: widget value, ...}``) as the param's value; errors per sub-field."""
    if not isinstance(entered, dict) or entered.get(spec.tag) not in spec.variants:
        return None
    mode = entered[spec.tag]
    value: dict[str, Any] = {spec.tag: mode}
    messages: dict[str, str] = {}
    for sub in spec.variants[mode]:
        if sub.name not in entered:
            continue
        try:
            parsed = parse_widget_value(sub, entered[sub.name])
        except FormError as exc:
            messages.update({f"{spec.name}.{k}": m for k, m in exc.messages.items()})
            continue
        if sub.required or parsed != sub.default:  # a default stays implicit, as at the top level
            value[sub.name] = parsed
    if messages:
        raise FormError(messages)
    return value


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
    failed = {k.split(".", 1)[0] for k in messages}
    changed = changes([s for s in specs if s.name not in failed], current, values)
    try:  # also when a field failed to parse: its cross-field errors come with the field errors, not after
        check(model, {k: v for k, v in {**current, **changed}.items() if k not in refs})
    except FormError as exc:
        names = [s.name for s in specs]
        tagged = {s.name: s for s in specs if s.widget == "tagged"}
        for key, message in exc.messages.items():
            key = owner(message, names) if key == "params" else key
            parts = key.split(".")
            if parts[0] in tagged and len(parts) > 2 and parts[1] in tagged[parts[0]].variants:
                key = ".".join([parts[0], *parts[2:]])  # pydantic names the mode too: `scale.fixed.mm_per_px`
            if key.split(".", 1)[0] not in refs | failed:  # a reference is checked with its value, at validation
                messages.setdefault(key, message)
    return Applied(messages=messages) if messages else Applied(changes=changed)


def owner(message: str, names: list[str]) -> str:
    """The field a whole-model message is about ('block_size must be odd'): the first one it names."""
    for name in names:
        if re.search(rf"\b{re.escape(name)}\b", message):
            return name
    return "params"


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
