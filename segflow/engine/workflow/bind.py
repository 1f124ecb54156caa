"""Binding a workflow's inputs: declarations checked, values checked, ``$inputs.NAME`` replaced in params.

Two modes. Given values (a mapping, possibly empty: a run) every required
input must have one. No values (None: ``segflow validate``, the editor, a
workflow loaded once and run many times with different values) an input
without a default is unbound: a sample of its kind stands in, so a param of
the wrong kind is still caught, and only errors that say "wrong kind" count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from segflow.engine.input_image import InputImage, InputImageParams
from segflow.engine.text import shorten
from segflow.engine.workflow.graph import ResolvedNode
from segflow.engine.workflow.inputs import INPUT_NAME_PATTERN, INPUT_REF, InputSpec, coerce, sample
from segflow.engine.workflow.issues import Issue, Location, closest

Where = Callable[..., Location]


@dataclass
class Binding:
    """What the inputs resolved to, and where each param's value came from (for messages)."""

    specs: dict[str, InputSpec] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)  # coerced; an unbound input is absent
    origin: dict[tuple[str, str], str] = field(default_factory=dict)  # (node, top-level param) -> input
    issues: list[Issue] = field(default_factory=list)

    def unbound(self, node_id: str, param: str) -> bool:
        name = self.origin.get((node_id, param))
        return name is not None and name not in self.values

    def describe(self, node_id: str, param: str) -> str:
        """`` (from input 'x' = 0.5)`` for a message about a param an input filled; '' otherwise."""
        name = self.origin.get((node_id, param))
        if name is None:
            return ""
        value = self.values.get(name)
        shown = f" = {shorten(repr(value), 40)}" if name in self.values else f", a {self.specs[name].kind}"
        return f" (from input '{name}'{shown})"

    @property
    def images(self) -> dict[str, Any]:
        """Image inputs and their pixels (None while unbound)."""
        return {n: self.values.get(n) for n, s in self.specs.items() if s.kind == "image"}


def bind(raw_inputs: Any, given: Mapping[str, Any] | None, where: Where, base_dir: Path) -> Binding:
    """Check the ``inputs:`` section and the values given for it."""
    out = Binding()
    if isinstance(raw_inputs, dict):
        for name, raw in raw_inputs.items():
            spec = _spec(str(name), raw, where, out.issues)
            if spec is not None:
                out.specs[str(name)] = spec
    for name in given or {}:
        if name not in out.specs:
            close = closest(str(name), list(out.specs))
            declared = ", ".join(out.specs) or "none"
            out.issues.append(Issue("input.unknown", f"a value was given for input '{shorten(str(name), 80)}', "
                                    "which the workflow does not declare", where(("inputs",), prefer_key=True),
                                    field=str(name), hint=f"did you mean '{close}'?" if close
                                    else f"declared inputs: {declared}"))
    for name, spec in out.specs.items():
        if given is not None and name in given:
            _value(out, name, spec, given[name], "the value given", ("inputs", name), where, base_dir)
        elif not spec.required:
            _value(out, name, spec, spec.default, "its default", ("inputs", name, "default"), where, base_dir)
        elif given is not None:
            example = {"image": "@photo.jpg", "polygon": "@zone.yaml", "line": "@line.yaml"}.get(spec.kind, "...")
            out.issues.append(Issue("input.missing", f"input '{name}' ({spec.kind}) is required and no value was "
                                    "given", where(("inputs", name), prefer_key=True), field=name,
                                    hint=f"give it: `segflow run ... --input {name}={example}`, or add a default"))
    return out


def _spec(name: str, raw: Any, where: Where, issues: list[Issue]) -> InputSpec | None:
    import re

    at = where(("inputs", name), prefer_key=True)
    if not re.match(INPUT_NAME_PATTERN, name):
        issues.append(Issue("input.name", f"input name '{shorten(name, 80)}' must start with a letter or '_' and "
                            "hold only letters, digits or '_'", at, field=name))
        return None
    try:
        return InputSpec.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if isinstance(p, str) and p in InputSpec.model_fields)
            what = f" '{loc[0]}'" if loc else ""
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = f"unknown key '{err['loc'][-1]}'"
                hint = f"keys: {', '.join(InputSpec.model_fields)}"
            else:
                hint = "kinds: number, integer, string, bool, image, polygon, line, enum" if loc == ("kind",) else ""
            issues.append(Issue(f"input.{err['type']}", f"input '{name}'{what}: {message}",
                                where(("inputs", name) + tuple(err["loc"]), prefer_key=err["type"] != "extra_forbidden"
                                      and not err["loc"]), field=name, hint=hint))
        return None


def _value(out: Binding, name: str, spec: InputSpec, value: Any, what: str, path: tuple[Any, ...],
           where: Where, base_dir: Path) -> None:
    try:
        out.values[name] = coerce(spec, value, base_dir)
    except ValueError as exc:
        out.issues.append(Issue("input.value", f"input '{name}' ({spec.kind}): {what} is wrong: {exc}",
                                where(path), field=name, hint=_kind_hint(spec)))


def _kind_hint(spec: InputSpec) -> str:
    if spec.kind in ("polygon", "line"):
        return "points as [[x, y], ...] in pixels; from a file: --input name=@points.yaml"
    if spec.kind == "enum":
        return f"one of: {', '.join(map(str, spec.choices or []))}"
    if spec.kind == "image":
        return "an image file (--input name=@photo.jpg) or an HxW[x3] uint8 array"
    return ""


def substitute(node_id: str, params: Any, binding: Binding, where: Where) -> Any:
    """The node's params with every whole-value ``$inputs.NAME`` replaced (a sample while it is unbound)."""
    if not isinstance(params, dict):
        return params
    return {key: _walk(node_id, str(key), value, ("nodes", node_id, "params", key), binding, where)
            for key, value in params.items()}


def _walk(node_id: str, top: str, value: Any, path: tuple[Any, ...], binding: Binding, where: Where) -> Any:
    if isinstance(value, dict):
        return {k: _walk(node_id, top, v, path + (k,), binding, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(node_id, top, v, path + (i,), binding, where) for i, v in enumerate(value)]
    match = INPUT_REF.match(value) if isinstance(value, str) else None
    if match is None:
        return value
    name = match.group(1)
    spec = binding.specs.get(name)
    if spec is None:
        close = closest(name, list(binding.specs))
        binding.issues.append(Issue("input.undeclared", f"param '{top}': input '{name}' is not declared",
                                    where(path), node_id, top, f"did you mean '$inputs.{close}'?" if close
                                    else f"declare it under `inputs:`, e.g. `{name}: {{kind: number, default: 0.5}}`"))
        return value
    if spec.kind == "image":
        binding.issues.append(Issue("input.image_param", f"param '{top}': image input '{name}' is pixels, not a "
                                    "param value", where(path), node_id, top,
                                    f"wire it as a node input: `inputs: {{image: $inputs.{name}}}`"))
        return value
    binding.origin[(node_id, top)] = name
    return binding.values[name] if name in binding.values else sample(spec)


def image_sources(binding: Binding, nodes_raw: dict[str, Any], where: Where) -> dict[str, ResolvedNode]:
    """A one-frame source per image input, named after it (the graph's first nodes)."""
    sources = {}
    for name, pixels in binding.images.items():
        if name in nodes_raw:
            binding.issues.append(Issue("input.name", f"image input '{name}' has the name of a node: the input "
                                        "becomes a source node of that name", where(("inputs", name), prefer_key=True),
                                        field=name, hint="rename the input or the node"))
            continue
        sources[name] = ResolvedNode(name, InputImage, InputImageParams(pixels=pixels), {}, "", f"input {name}")
    return sources


def port_refs(node_id: str, raw: Any, binding: Binding, where: Where) -> Any:
    """A node's ``inputs:`` with ``$inputs.NAME`` (an image input) spelled as its source's ``NAME.image``."""
    if not isinstance(raw, dict):
        return raw
    out = {}
    for port, value in raw.items():
        match = INPUT_REF.match(value) if isinstance(value, str) else None
        if match is None:
            out[port] = value
            continue
        name, spec = match.group(1), binding.specs.get(match.group(1))
        at = where(("nodes", node_id, "inputs", port))
        if spec is None:
            close = closest(name, list(binding.specs))
            binding.issues.append(Issue("input.undeclared", f"input '{port}': workflow input '{name}' is not "
                                        "declared", at, node_id, port, f"did you mean '$inputs.{close}'?" if close
                                        else f"declare it: `inputs: {{{name}: {{kind: image}}}}`"))
        elif spec.kind != "image":
            binding.issues.append(Issue("input.kind", f"input '{port}': workflow input '{name}' is a {spec.kind}; "
                                        "only an image input can feed a port", at, node_id, port,
                                        f"use it in a param: `param: $inputs.{name}`"))
        else:
            out[port] = f"{name}.image"
    return out
