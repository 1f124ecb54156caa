"""Aggregation, formatting and sink blocks: ``aggregate.window``, ``sink.csv``, ``sink.email``, ``sink.webhook``.

Roboflow computes a value per field (``csv_formatter``'s columns, an email's
``message_parameters``) with the query language, and a separate sink step
writes the text; a segflow sink writes records whose fields it names
(``fields:``, ``{count}`` in a template). So a column or a parameter becomes
a record field (``count``, ``value.people_passed.difference``) and the
formatter and the sink that writes it become one sink node.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from segflow.tools.roboflow_import.context import Conversion, Gate, Skip
from segflow.tools.roboflow_import.definition import Step
from segflow.tools.roboflow_import.operands import Untranslatable, operations
from segflow.tools.roboflow_import.selectors import Ref, input_selector

FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
MODES = {"sum": "sum", "avg": "mean", "min": "min", "max": "max", "first": "first", "last": "last",
         "count": "count", "values_difference": "difference"}
UNITS = {"seconds": 1, "minutes": 60, "hours": 3600}
PARAMETER = re.compile(r"\{\{\s*\$parameters\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def record_field(conv: Conversion, step: Step, key: str, selector: Any, ops: list[dict[str, Any]],
                 detections_whole: str | None = None) -> tuple[str, Ref]:
    """The record field a selector (after its operations) is in a sink's record; Untranslatable if none."""
    if input_selector(selector) is not None and conv.image_ref(input_selector(selector) or "") is None:
        raise Untranslatable(f"'{key}' is a workflow input: segflow records hold what a frame holds")
    try:
        ref = conv.frame_detections(step, conv.resolve(selector, key))
    except Skip as exc:
        raise Untranslatable(exc.reason) from exc
    if ref.kind == "detections" and detections_whole and all(o.get("type") == "DetectionsToDictionary" for o in ops):
        return detections_whole, ref
    text = operations(key, ref, ops)
    if not FIELD.match(text):
        raise Untranslatable(f"'{text}' is a computation; a record holds fields (compute.fields adds one)")
    return text, ref


def wiring(refs: list[Ref], gate: Gate | None) -> dict[str, Ref]:
    """The sink's inputs from what its fields read; Skip when two fields need two different nodes' data."""
    wired: dict[str, Ref] = {}
    extra = [r for r in (gate.detections, gate.value) if r is not None] if gate else []
    for ref in [*refs, *extra]:
        port = {"detections": "detections", "value": "value", "image": "image"}.get(ref.kind)
        if port is None:
            continue
        if port in wired and wired[port].ref != ref.ref:
            raise Skip(f"its fields read {port} of two nodes ('{wired[port].ref}', '{ref.ref}'); "
                       f"a segflow sink takes one {port} input")
        wired[port] = ref
    return wired


def sink_node(conv: Conversion, step: Step, type_: str, params: dict[str, Any], refs: list[Ref],
              gate: Gate | None, origin: str = "") -> str:
    """A sink wired to what its fields read, gated by its ContinueIf, naming the steps folded into it."""
    wired = wiring(refs, gate)
    if gate is not None:
        params["only_when"] = gate.condition
        names = ", ".join(f"'{s}'" for s in gate.steps)
        conv.note(step, None, f"written only when ContinueIf {names} holds: only_when: {gate.condition}")
    node = conv.node(step, type_, params, dict(wired), origin=origin)
    conv.credit(node, [*(gate.steps if gate else ()), *(r.step for r in refs if r.step)])
    return node


def aggregator(conv: Conversion, step: Step) -> None:
    """``data_aggregator``: ``aggregate.window`` (tumbling windows by seconds or frames)."""
    data = conv.take(step, "data") or {}
    ops = conv.take(step, "data_operations") or {}
    modes = conv.take(step, "aggregation_mode") or {}
    interval = conv.take(step, "interval", 1)
    unit = conv.take(step, "interval_unit", "seconds")
    params: dict[str, Any] = {"window_frames": interval} if unit == "runs" else {"window_s": interval * UNITS[unit]}
    values: dict[str, str] = {}
    refs: list[Ref] = []
    reduce: set[str] = set()
    later: list[tuple[str, tuple[str, ...]]] = []  # (Roboflow output, path in the window's value)
    for name, selector in data.items():
        try:
            wanted = modes.get(name, ["count"])
            plain = [o for o in ops.get(name, []) if o.get("type") != "DetectionsPropertyExtract"]
            if plain != ops.get(name, []):
                prop = next(o.get("property_name") for o in ops[name] if o.get("type") == "DetectionsPropertyExtract")
                refs.append(conv.resolve(selector, f"data.{name}"))
                for mode in wanted:
                    if mode == "values_counts" and prop == "class_name":
                        later.append((f"{name}_{mode}", ("per_class",)))
                    else:
                        conv.leave(step, "aggregation_mode", f"'{name}': {mode} of each detection's {prop}: "
                                   "aggregate.window counts per class (values_counts of class_name)")
                continue
            text, ref = record_field(conv, step, f"data.{name}", selector, plain)
        except Untranslatable as exc:
            conv.leave(step, "data", f"'{name}': {exc}")
            continue
        refs.append(ref)
        values[name] = text
        for mode in wanted:
            if mode not in MODES:
                conv.leave(step, "aggregation_mode", f"'{name}': {mode} (segflow has {', '.join(MODES)})")
                continue
            reduce.add(MODES[mode])
            later.append((f"{name}_{mode}", (name, MODES[mode])))
    if not later:
        raise Skip("none of its data has a segflow counterpart", "data")
    wired = wiring(refs, None)
    params.update({"values": values, "reduce": sorted(reduce) or ["count"],
                   "per_class": any(path == ("per_class",) for _, path in later)})
    node = conv.node(step, "aggregate.window", params, {k: v for k, v in wired.items() if k != "image"})
    for output, path in later:
        conv.provide(step, output, Ref(f"{node}.value", "value", path))
    conv.finish(step)


def csv_formatter(conv: Conversion, step: Step) -> None:
    """``csv_formatter``: its columns become the ``fields:`` of the sink that writes its text."""
    ops = conv.take(step, "columns_operations") or {}
    columns: dict[str, Any] = {"timestamp": ("time", None)}  # Roboflow adds a timestamp column
    for name, selector in (conv.take(step, "columns_data") or {}).items():
        try:
            columns[name] = record_field(conv, step, f"columns_data.{name}", selector, ops.get(name, []))
        except Untranslatable as exc:
            conv.leave(step, "columns_data", f"column '{name}': {exc}")
    conv.provide(step, "csv_content", Ref("", "table", columns=columns, gate=conv.gate(step)))
    conv.finish(step)


def table_sink(conv: Conversion, step: Step, table: Ref, path: str, extra: dict[str, Any], origin: str = "") -> None:
    """A csv_formatter's columns written by ``sink.csv``, one row per frame."""
    refs = [ref for _, ref in table.columns.values() if ref is not None]
    params: dict[str, Any] = {"path": path, "per": "frame",
                              "fields": [{name: text} for name, (text, _) in table.columns.items()], **extra}
    sink_node(conv, step, "sink.csv", params, [*refs, Ref("", "table", step=table.step)],
              conv.gate(step) or table.gate, origin)


def local_file(conv: Conversion, step: Step) -> None:
    """``local_file_sink``: a csv_formatter's text as ``sink.csv``; detections or a value as ``sink.jsonl``.

    ``append_log`` starts a new file every ``max_entries_per_file`` records, ``separate_files``
    after every record (``NAME.jsonl``, ``NAME.1.jsonl``, ...), as Roboflow writes one file each.
    """
    content = conv.ref(step, "content", ("table", "detections", "value"))
    wanted = "csv" if content.kind == "table" else "json"
    kind = conv.take(step, "file_type", "csv")
    if kind != wanted:
        conv.leave(step, "file_type", f"{kind}: segflow writes {'CSV' if wanted == 'csv' else 'JSON lines'} here")
    folder = conv.param(step, "target_directory", None, str(conv.out))
    if not isinstance(folder, str) or folder.startswith("$"):
        folder = str(conv.out)
    prefix = conv.take(step, "file_name_prefix", "workflow_output")
    mode = conv.take(step, "output_mode", "append_log")
    entries = conv.take(step, "max_entries_per_file", 1024)
    extra: dict[str, Any] = {"rotate_records": 1 if mode == "separate_files" else int(entries)}
    if content.kind == "table":
        table_sink(conv, step, content, f"{folder}/{prefix}.csv", extra)
    else:
        params: dict[str, Any] = {"path": f"{folder}/{prefix}.jsonl", "per": "frame", **extra}
        if content.path:
            params["fields"] = ["source", "frame", "timestamp", {prefix: content.record_field}]
        sink_node(conv, step, "sink.jsonl", params, [content], conv.gate(step))
    conv.finish(step)


def _template(text: str, fields: dict[str, str]) -> str:
    """Roboflow's ``{{ $parameters.x }}`` as segflow's ``{field}``; other braces escaped.

    A parameter with no record field (reported where its value was read) stays as ``<x>``.
    """
    parts = PARAMETER.split(text)  # text, name, text, name, ...
    return "".join(part.replace("{", "{{").replace("}", "}}") if i % 2 == 0
                   else "{" + fields[part] + "}" if part in fields else f"<{part}>"
                   for i, part in enumerate(parts))


def _resolved(conv: Conversion, step: Step, key: str) -> Iterator[tuple[str, Ref]]:
    """The named selectors of ``step[key]`` that resolve; each that does not is left out, with why."""
    for name, selector in (conv.take(step, key) or {}).items():
        try:
            yield name, conv.resolve(selector, f"{key}.{name}")
        except Skip as exc:
            conv.leave(step, key, f"'{name}': {exc.reason}")


def _field_map(conv: Conversion, step: Step, key: str, ops_key: str,
               only: set[str] | None = None) -> tuple[dict[str, str], list[Ref]]:
    """Each named selector (after its operations) as a record field; ``only``: just these names."""
    ops = conv.take(step, ops_key) or {}
    fields: dict[str, str] = {}
    refs: list[Ref] = []
    for name, selector in (conv.take(step, key) or {}).items():
        if only is not None and name not in only:
            continue
        try:
            fields[name], ref = record_field(conv, step, f"{key}.{name}", selector, ops.get(name, []), "detections")
            refs.append(ref)
        except Untranslatable as exc:
            conv.leave(step, key, f"'{name}': {exc}")
    return fields, refs


def email(conv: Conversion, step: Step) -> None:
    """``email_notification`` (v1, v2): ``sink.email``; Roboflow's managed sender becomes SMTP inputs."""
    named = set(PARAMETER.findall(f"{step.body.get('subject', '')} {step.body.get('message', '')}"))
    for name in set(step.body.get("message_parameters") or {}) - named:
        conv.leave(step, "message_parameters", f"'{name}' is named in neither the subject nor the message")
    fields, refs = _field_map(conv, step, "message_parameters", "message_parameters_operations", named)
    params: dict[str, Any] = {"min_interval_s": 0}
    managed = step.type.endswith("@v2") and conv.take(step, "email_provider", "Roboflow Managed API Key") \
        != "Custom SMTP"
    if managed:
        conv.inputs.setdefault("smtp_host", {"kind": "string", "description": "SMTP server (Roboflow sent "
                                             "through its own service; segflow sends through yours)"})
        conv.inputs.setdefault("smtp_sender", {"kind": "string", "description": "The From address."})
        params.update(host="$inputs.smtp_host", sender="$inputs.smtp_sender")
        conv.note(step, "email_provider", "Roboflow's managed email service: segflow sends through an SMTP "
                  "server of yours, the inputs smtp_host and smtp_sender")
    else:
        conv.take(step, "email_service_provider")
        params["host"] = conv.param(step, "smtp_server", "string")
        params["sender"] = conv.param(step, "sender_email", "string")
        params["password"] = conv.param(step, "sender_email_password", "string", "")
        params["username"] = params["sender"]
        port = conv.param(step, "smtp_port", "integer", 465)
        params["port"] = port
        params["security"] = "tls" if port == 465 else "starttls"
    receivers = conv.param(step, "receiver_email", "string")
    params["to"] = receivers if isinstance(receivers, list) else [receivers]
    params["subject"] = _template(conv.take(step, "subject", ""), fields)
    params["body"] = _template(conv.take(step, "message", ""), fields)
    for name, ref in _resolved(conv, step, "attachments"):
        if ref.kind in ("image", "table") and params.get("attach", "none") == "none":
            params["attach"] = "image" if ref.kind == "image" else "csv"
            refs += [ref] if ref.kind == "image" else [ref, *(r for _, r in ref.columns.values() if r is not None)]
        else:
            conv.leave(step, "attachments", f"'{name}' (from step '{ref.step}'): sink.email attaches one thing, "
                       "the image or a CSV")
    cooldown = conv.param(step, "cooldown_seconds", "number", 5)
    params["cooldown_s"] = cooldown
    conv.take(step, "fire_and_forget")  # segflow's senders never hold up the graph
    sink_node(conv, step, "sink.email", params, refs, conv.gate(step))
    conv.finish(step, {"disable_sink": False})


def webhook(conv: Conversion, step: Step) -> None:
    """``webhook_sink``: ``sink.webhook`` (POST/PUT, query and headers as templates, multipart JPEG)."""
    method = conv.take(step, "method", "POST")
    if method not in ("POST", "PUT", "PATCH"):
        raise Skip(f"method {method}: sink.webhook sends a body (POST, PUT, PATCH)", "method")
    params: dict[str, Any] = {"url": conv.param(step, "url", "string"), "method": method, "per": "frame"}
    payload, refs = _field_map(conv, step, "json_payload", "json_payload_operations")
    if payload:
        params["fields"] = [{name: field} for name, field in payload.items()]
    for key, name in (("query_parameters", "query"), ("headers", "headers")):
        values = conv.take(step, key) or {}
        literal = {k: str(v) for k, v in values.items() if not str(v).startswith("$")}
        if len(literal) < len(values):
            conv.leave(step, key, "values from steps or inputs: segflow takes {field} templates of the record")
        if literal:
            params[name] = literal
    files = list(_resolved(conv, step, "multi_part_encoded_files"))
    conv.take(step, "multi_part_encoded_files_operations")
    for name, ref in files:
        if ref.kind == "image" and not params.get("multipart"):
            params["multipart"] = True
            refs.append(ref)
        else:
            conv.leave(step, "multi_part_encoded_files", f"'{name}': sink.webhook's multipart sends the frame")
    if conv.take(step, "form_data"):
        conv.take(step, "form_data_operations")
        conv.leave(step, "form_data", "sink.webhook's multipart has the parts records and image")
    params["timeout_s"] = conv.param(step, "request_timeout", "number", 2)
    params["cooldown_s"] = conv.param(step, "cooldown_seconds", "number", 5)
    conv.take(step, "fire_and_forget")
    sink_node(conv, step, "sink.webhook", params, refs, conv.gate(step))
    conv.finish(step, {"disable_sink": False})
