"""Validation: YAML text -> every problem at once, or a compiled graph.

Order: YAML syntax -> file header -> each node (type, params, param checks) ->
wiring and graph. Each stage reports all it finds; later stages still run on
the parts that passed, so one typo does not hide the next.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.paths import shown
from segflow.engine.registry import Registry, default_registry
from segflow.engine.workflow.bind import Binding, bind, image_sources, port_refs, substitute
from segflow.engine.workflow.confine import outside_problems
from segflow.engine.workflow.fields import field_issues
from segflow.engine.workflow.graph import CompiledGraph, GraphBuilder, ResolvedNode, no_sink_warning, no_source_error
from segflow.engine.workflow.inputs import NODE_REF, is_kind_error, node_value_field
from segflow.engine.workflow.issues import Issue, Location, Severity, closest, errors_in, shorten
from segflow.engine.workflow.limits import Limits, gc_paused, raise_hint
from segflow.engine.workflow.spec import NODE_ID_MAX, NODE_ID_RULE, NodeSpec, Settings, WorkflowHeader, is_node_id
from segflow.engine.workflow.wiring import wiring_issues
from segflow.engine.workflow.yaml_source import LoadedYaml, load_yaml


@dataclass
class ValidationResult:
    file: str
    issues: list[Issue] = field(default_factory=list)
    graph: CompiledGraph | None = None
    data: Any = None

    @property
    def ok(self) -> bool:
        return self.graph is not None and not errors_in(self.issues)


def validate_file(path: str | Path, registry: Registry | None = None, overrides: Iterable[str] = (),
                  context: RunContext | None = None, limits: Limits | None = None,
                  inputs: Mapping[str, Any] | None = None) -> ValidationResult:
    """Every problem of a workflow file; ``inputs``: the values for a run (None: check the declarations only)."""
    path = Path(path)
    limits = limits or Limits.from_env()
    text, problem = read_workflow(path, limits)
    if text is None:
        return ValidationResult(str(path), [problem] if problem else [])
    return validate_text(text, str(path), registry, overrides, context, limits, inputs)


def read_workflow(path: Path, limits: Limits) -> tuple[str | None, Issue | None]:
    """The text of a workflow file, or why it cannot be one (never blocks on a FIFO, never reads /dev/zero)."""
    where = Location(str(path), 1, 1)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return None, Issue("file.read", f"cannot read workflow: {exc.strerror or exc}", where)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device, FIFO or socket)"
            return None, Issue("file.read", f"cannot read workflow: {path} is {kind}", where,
                               hint="give the path of a .yaml file")
        if info.st_size > limits.file_bytes:
            return None, Issue("file.size", f"the workflow file is {info.st_size:,} bytes; the limit is "
                               f"{limits.file_bytes:,}", where, hint=raise_hint("file_bytes", limits.file_bytes))
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limits.file_bytes + 1)
    except OSError as exc:
        return None, Issue("file.read", f"cannot read workflow: {exc.strerror or exc}", where)
    finally:
        os.close(fd)
    if len(data) > limits.file_bytes:  # it grew while we looked
        return None, Issue("file.size", f"the workflow file is over the limit of {limits.file_bytes:,} bytes",
                           where, hint=raise_hint("file_bytes", limits.file_bytes))
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, Issue("file.read", f"cannot read workflow: not UTF-8 text (byte {exc.start})",
                           Location(str(path), line, 1), hint="save the file as UTF-8")


def validate_text(text: str, file: str = "<string>", registry: Registry | None = None,
                  overrides: Iterable[str] = (), context: RunContext | None = None,
                  limits: Limits | None = None, inputs: Mapping[str, Any] | None = None) -> ValidationResult:
    with gc_paused():
        return _validate_text(text, file, registry, overrides, context, limits, inputs)


def _validate_text(text: str, file: str, registry: Registry | None, overrides: Iterable[str],
                   context: RunContext | None, limits: Limits | None,
                   inputs: Mapping[str, Any] | None) -> ValidationResult:
    registry = registry or default_registry()
    context = context or RunContext()
    limits = limits or Limits.from_env()
    if len(text) > limits.file_bytes:
        return ValidationResult(file, [Issue("file.size", f"the workflow is {len(text):,} characters; the limit "
                                             f"is {limits.file_bytes:,}", Location(file, 1, 1),
                                             hint=raise_hint("file_bytes", limits.file_bytes))])
    loaded = load_yaml(text, file, limits)
    result = ValidationResult(file, list(loaded.issues), data=loaded.data)
    if loaded.data is None and not loaded.issues:
        result.issues.append(Issue("file.empty", "the workflow file is empty", Location(file, 1, 1),
                                   hint="start from a file in workflows/"))
    if loaded.data is None:  # a syntax error: there is nothing to check further
        return result
    if not isinstance(loaded.data, dict):
        result.issues.append(Issue("file.shape", "a workflow must be a mapping with version, name and nodes",
                                   Location(file, 1, 1)))
        return result
    result.issues.extend(apply_overrides(loaded, overrides, limits))
    checker = _Checker(loaded, registry, context, inputs)
    result.graph = checker.run()
    result.issues.extend(checker.issues)
    if errors_in(result.issues):
        result.graph = None
    result.issues.sort(key=lambda i: (i.location.line, i.location.col) if i.location else (0, 0))
    return result


def apply_overrides(loaded: LoadedYaml, overrides: Iterable[str], limits: Limits | None = None) -> list[Issue]:
    """``--set node.param=value``: the value is parsed as YAML (within the limits), so numbers stay numbers."""
    limits = limits or Limits.from_env()
    issues = []
    nodes = loaded.data.get("nodes") if isinstance(loaded.data, dict) else None
    for item in overrides:
        where = Location("--set", 1, 1)
        target, sep, raw = item.partition("=")
        node_id, dot, param = target.partition(".")
        if not sep or not dot or not param:
            issues.append(Issue("set.syntax", f"--set {shorten(item)!r}: expected node.param=value", where))
            continue
        if not isinstance(nodes, dict) or node_id not in nodes or not isinstance(nodes[node_id], dict):
            close = difflib.get_close_matches(node_id, list(nodes or {}), n=1)
            issues.append(Issue("set.node", f"--set {shorten(target)}: no node '{shorten(node_id)}'", where,
                                hint=f"did you mean '{close[0]}'?" if close else ""))
            continue
        if len(raw) > limits.set_bytes:
            issues.append(Issue("set.size", f"--set {target}: the value is {len(raw):,} characters; the limit is "
                                f"{limits.set_bytes:,}", where, hint=raise_hint("set_bytes", limits.set_bytes)))
            continue
        parsed = load_yaml(raw, "--set", limits)
        bounded = [i for i in parsed.issues if i.code in ("yaml.depth", "yaml.size", "yaml.recursive")]
        if bounded:
            issues.extend(replace(i, message=f"--set {target}: {i.message}") for i in bounded)
            continue
        value = raw if parsed.issues else parsed.data
        nodes[node_id].setdefault("params", {})
        if isinstance(nodes[node_id]["params"], dict):
            nodes[node_id]["params"][param] = value
            loaded.values[("nodes", node_id, "params", param)] = where
    return issues


class _Checker:
    def __init__(self, loaded: LoadedYaml, registry: Registry, context: RunContext,
                 given: Mapping[str, Any] | None) -> None:
        self.loaded = loaded
        self.registry = registry
        self.context = context
        self.given = given
        self.binding = Binding()
        self.issues: list[Issue] = []
        self.bad_params: set[str] = set()  # nodes whose params did not validate: nothing more to check there

    def run(self) -> CompiledGraph | None:
        try:
            header = WorkflowHeader.model_validate(self.loaded.data)
        except ValidationError as exc:
            self._pydantic(exc, (), None, WorkflowHeader)
            raw_nodes = self.loaded.data.get("nodes")
            if not isinstance(raw_nodes, dict):
                return None
            # Go on with defaults, so the nodes' own problems are reported in the same pass.
            header = WorkflowHeader.model_construct(version=1, name="?", description="", settings=Settings(),
                                                    nodes=raw_nodes, ui=None)
        self.context = self.context.for_settings(header.name, header.settings.models_dir)
        nodes_raw: dict[str, Any] = header.nodes
        self.binding = binding = bind(self.loaded.data.get("inputs"), self.given, self.loaded.where,
                                      self.context.base_dir)
        resolved = image_sources(binding, nodes_raw, self.loaded.where)
        raw_inputs: dict[str, dict[str, Any]] = {}
        for node_id, raw in nodes_raw.items():
            if isinstance(raw, dict) and "params" in raw:
                raw = {**raw, "params": substitute(str(node_id), raw["params"], binding, self.loaded.where)}
            node = self._node(str(node_id), raw, node_id)
            if node is not None:
                resolved[str(node_id)] = node
                raw_inputs[str(node_id)] = port_refs(str(node_id), raw.get("inputs") or {}, binding,
                                                     self.loaded.where)
        self.issues.extend(binding.issues)  # the declarations', the values' and the references' problems
        builder = GraphBuilder(self.loaded.where)
        graph = builder.compile(header.name, header.settings, resolved, raw_inputs,
                                {str(k) for k in nodes_raw} | set(binding.images))
        self.issues.extend(builder.issues)
        if graph is None:
            return None
        graph.description, graph.ui = header.description, header.ui
        graph.inputs = binding.specs
        graph.bound = all(name in binding.values for name in binding.specs)
        self.issues.extend(no_source_error(graph, self.loaded.where))
        self.issues.extend(no_sink_warning(graph, self.loaded.where))
        self.issues.extend(field_issues(graph, self.loaded.where, self.bad_params))
        self.issues.extend(wiring_issues(graph, self.loaded.where, self.bad_params))
        return graph

    def _node(self, node_id: str, raw: Any, raw_key: Any) -> ResolvedNode | None:
        path = ("nodes", node_id)
        if not isinstance(raw_key, str) or not is_node_id(node_id):
            path = ("nodes", raw_key)
            self._add("node.id", f"node id '{shorten(node_id, 80)}' {NODE_ID_RULE}", path, node_id, key=True)
            return None
        if len(node_id) > NODE_ID_MAX:  # checked here, not when a sink's spool or rejected file is first made
            self._add("node.id", f"node id '{shorten(node_id, 40)}' is {len(node_id):,} characters long; at most "
                      f"{NODE_ID_MAX}", path, node_id, key=True,
                      hint="node ids name files (a sink's spool folder and rejected records): choose a shorter one")
            return None
        try:
            spec = NodeSpec.model_validate(raw)
        except ValidationError as exc:
            self._pydantic(exc, path, node_id, NodeSpec)
            return None
        cls = self.registry.get(spec.type)
        if cls is None:
            close = self.registry.closest(spec.type)
            self._add("node.type", f"unknown node type '{shorten(spec.type, 80)}'", path + ("type",), node_id,
                      hint=f"did you mean '{close}'?" if close else "run `segflow nodes` for the list")
            return None
        plain, refs = self._param_refs(node_id, cls, spec.params)
        stand_ins = bool(refs) or any(self.binding.unbound(node_id, k) for k in plain)
        try:
            params = cls.Params.model_validate(plain)
        except ValidationError as exc:
            errors = [e for e in exc.errors(include_url=False) if self._counts(node_id, e, refs)]
            if errors or node_id in self.bad_params:
                self._pydantic(errors, path + ("params",), node_id, cls.Params, noun="param")
                self.bad_params.add(node_id)
                # Keep the node so its wiring is still checked; errors already block the run.
                return ResolvedNode(node_id, cls, cls.Params.model_construct(), {}, spec.on_error or "", spec.label,
                                    param_refs=refs)
            params = cls.Params.model_construct(**plain)  # complete only per packet, or once the inputs are given
        if node_id in self.bad_params:
            return ResolvedNode(node_id, cls, params, {}, spec.on_error or "", spec.label, param_refs=refs)
        # A node type's own checks (files, folders) need the real values: not while a stand-in is there.
        for problem in [] if stand_ins else self._check_params(cls, params, node_id):
            message = f"param '{problem.field}': {problem.message}" if problem.field else problem.message
            self._add("param.warning" if problem.warning else "param.check", message, path + ("params", problem.field),
                      node_id, problem.field, problem.hint, severity=Severity.WARNING if problem.warning else None)
        for key, default in (("resources", {}), ("replicas", 1)):
            if getattr(spec, key) != default and not cls.batchable:
                self._add("node.placement", f"'{key}' applies only to model nodes, and {spec.type} is not one",
                          path + (key,), node_id, key, hint=f"remove '{key}': this node runs in its source's shard",
                          key=True)
        return ResolvedNode(node_id, cls, params, {}, spec.on_error or "", spec.label,
                            resources=dict(spec.resources), replicas=spec.replicas, param_refs=refs,
                            raw_params=plain if refs else {})

    def _param_refs(self, node_id: str, cls: Any, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Params as written, less those given per packet by another node (``$node.port``), and those refs."""
        plain, refs = {}, {}
        for key, value in params.items():
            match = NODE_REF.match(value) if isinstance(value, str) else None
            if match is not None and match.group(1) == "inputs":  # an input not declared: reported already
                self.bad_params.add(node_id)
                continue
            if match is None:
                plain[key] = value
                continue
            if key in cls.Params.model_fields and node_value_field(cls.Params, key) is None:
                takes = [f for f in cls.Params.model_fields if node_value_field(cls.Params, f)]
                self._add("param.ref", f"param '{key}' does not take values from other nodes", ("nodes", node_id,
                          "params", key), node_id, key, f"params of {cls.type_name} that do: {', '.join(takes)}"
                          if takes else f"give '{key}' a value; no param of {cls.type_name} takes `$node.port`")
                self.bad_params.add(node_id)
                continue
            refs[key] = (match.group(1), match.group(2))
        return plain, refs

    def _counts(self, node_id: str, error: Any, refs: dict[str, Any]) -> bool:
        """Whether a params error is real: not a param given per packet, nor a stand-in merely out of range."""
        loc = _plain_loc(error["loc"])
        top = str(loc[0]) if loc else ""
        if error["type"] == "missing" and top in refs:
            return False
        if top in refs or (refs and not loc):  # a check that needs the per-packet value: made per packet
            return False
        if self.binding.unbound(node_id, top):
            return is_kind_error(error["type"])
        return True

    def _check_params(self, cls: Any, params: Any, node_id: str) -> list[Any]:
        """The node type's own checks; a path the system refuses there is the user's mistake, not ours."""
        try:
            return outside_problems(cls.Params, params, self.context) + list(cls.check_params(params, self.context))
        except OSError as exc:
            name = os.fsdecode(exc.filename) if exc.filename is not None else ""
            field_ = next((k for k, v in params if isinstance(v, str) and v and name.endswith(v)), "")
            where = f" {shown(name)}" if name else ""
            return [ParamProblem(field_, f"cannot check{where}: {exc.strerror or exc}", "check the path")]

    def _add(self, code: str, message: str, path: tuple[Any, ...], node: str | None, field_: str | None = None,
             hint: str = "", key: bool = False, severity: Severity | None = None) -> None:
        self.issues.append(Issue(code, message, self.loaded.where(path, prefer_key=key), node, field_, hint,
                                 severity or Severity.ERROR))

    def _pydantic(self, exc: ValidationError | list[Any], base: tuple[Any, ...], node: str | None,
                  model: type[BaseModel], noun: str = "key") -> None:
        seen: set[tuple[Any, ...]] = set()
        errors = exc.errors(include_url=False) if isinstance(exc, ValidationError) else exc
        if len(errors) > MAX_ISSUES_PER_PART:  # 100,000 unknown keys are one mistake said often enough
            more = len(errors) - MAX_ISSUES_PER_PART
            self._add(f"{noun}.more", f"{more:,} more problems like the ones above", base, node,
                      hint="fix these first; validation reports the rest then")
            errors = errors[:MAX_ISSUES_PER_PART]
        for err in errors:
            loc = _plain_loc(err["loc"])
            if loc in seen:  # one mistake, several union branches: report it once
                continue
            seen.add(loc)
            name = shorten(".".join(str(p) for p in loc), 80)
            kind = err["type"]
            hint = ""
            if kind == "missing":
                message = f"missing required {noun} '{name}'"
                where, key = base + loc[:-1], True
                field_info = _fields_at(model, loc[:-1]).get(str(loc[-1])) if loc else None
                if field_info is not None and field_info.description:
                    hint = f"add `{loc[-1]}: ...` ({field_info.description.rstrip('.')})"
            elif kind == "extra_forbidden":
                message = f"unknown {noun} '{name}'"
                where, key = base + loc, True
                options = list(_fields_at(model, loc[:-1]))
                close = difflib.get_close_matches(str(loc[-1]), options, n=1)
                hint = f"did you mean '{close[0]}'?" if close else (f"{noun}s: {', '.join(options)}" if options else "")
            elif "[key]" in [str(p) for p in err["loc"]] and loc[:1] == ("nodes",) and not base:
                continue  # a node id that is not text: the node check reports it, at its line
            elif "[key]" in [str(p) for p in err["loc"]]:
                message = f"{noun} '{name}': a key here must be text, got {shorten(repr(err.get('input')))}"
                where, key = base + loc, True
                hint = "quote it, e.g. '1'"
            else:
                got = err.get("input")
                shown = shorten(repr(got)) if not isinstance(got, (dict, list)) else type(got).__name__
                message = f"{noun} '{name}': {shorten(err['msg'], 200)} (got {shown})"  # msg may quote the input
                where, key = base + loc, False
                declared = self.binding.origin.get((node, str(loc[0]))) if node and loc and noun == "param" else None
                if node and declared:
                    message = f"{noun} '{name}'{self.binding.describe(node, str(loc[0]))}: {err['msg']}"
                    hint = f"input '{declared}' is declared at {self.loaded.where(('inputs', declared), True)}"
                    self._add(f"{noun}.{kind}", message, where, node, name or None, hint, key=key)
                    continue
                ctx = err.get("ctx") or {}
                if "expected" in ctx:
                    options = re.findall(r"'([^']*)'", str(ctx["expected"]))
                    meant = closest(got, options) if isinstance(got, str) and options else None
                    hint = f"did you mean '{meant}'?" if meant else f"expected {ctx['expected']}"
                elif loc[:1] == ("inputs",):
                    hint = "an input is 'node.port', or a list of them"
            self._add(f"{noun}.{kind}", message, where, node, name or None, hint, key=key)


MAX_ISSUES_PER_PART = 200
"""The most issues one header or node reports at once."""


def _plain_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Pydantic's location without its union-branch tags ('str', 'list[str]') and '[key]' markers."""
    return tuple(p for p in loc if not (isinstance(p, str) and (p in _TYPE_TAGS or "[" in p)))


_TYPE_TAGS = {"str", "int", "float", "bool", "dict", "list", "none", "literal"}


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> dict[str, Any]:
    """The fields of the model found at ``loc`` inside ``model`` (for nested 'did you mean')."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return {}
        current = fields[part].annotation
    return dict(getattr(current, "model_fields", {}) or {})
