"""JSON Schema for workflow files, generated from the registered node types.

Editors (VS Code's YAML extension) use it for completion and inline errors:
a ``type`` enum of every node type, and per type (``if``/``then``) the
schema of its params and the names of its input ports.
"""

from __future__ import annotations

import json
from typing import Any

from segflow.engine.registry import Registry
from segflow.engine.workflow.inputs import (
    FROM_NODE,
    INPUT_NAME_PATTERN,
    INPUT_REF_PATTERN,
    NODE_REF_PATTERN,
    InputSpec,
)
from segflow.engine.workflow.spec import NODE_ID_MAX, NODE_ID_PATTERN, REF_PATTERN, NodeSpec, Settings

INPUT_REF = {"type": "string", "pattern": INPUT_REF_PATTERN, "description": "$inputs.NAME: a workflow input"}
NODE_VALUE_REF = {"type": "string", "pattern": NODE_REF_PATTERN,
                  "description": "$node.port: a value another node makes per packet"}


def _referable(params: dict[str, Any]) -> dict[str, Any]:
    """Every param may be ``$inputs.NAME``; those that say so (``takes_node_value``) also ``$node.port``."""
    for name, prop in list(params.get("properties", {}).items()):
        refs = [INPUT_REF, NODE_VALUE_REF] if FROM_NODE in prop else [INPUT_REF]
        described = {k: prop.pop(k) for k in ("description", "title", "default") if k in prop}
        params["properties"][name] = {**described, "anyOf": [prop, *refs]}
    return params


def _rename_refs(obj: Any, mapping: dict[str, str]) -> Any:
    if isinstance(obj, dict):
        return {k: (mapping.get(v, v) if k == "$ref" else _rename_refs(v, mapping)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rename_refs(v, mapping) for v in obj]
    return obj


def workflow_schema(registry: Registry) -> dict[str, Any]:
    settings = Settings.model_json_schema()
    input_spec = InputSpec.model_json_schema()
    defs: dict[str, Any] = {**settings.pop("$defs", {}), "Settings": settings}
    spec_fields = NodeSpec.model_json_schema()["properties"]
    variants = []
    ref_schema = {"anyOf": [{"type": "string", "pattern": REF_PATTERN, "description": "node_id.port"}, INPUT_REF]}
    for name, cls in registry:
        params = cls.Params.model_json_schema()
        local_defs = params.pop("$defs", {})
        mapping = {f"#/$defs/{k}": f"#/$defs/{name}.{k}" for k in local_defs}
        for key, value in local_defs.items():  # a nested value may be an input too: `scale: {mm_per_px: $inputs.x}`
            defs[f"{name}.{key}"] = _referable(_rename_refs(value, mapping))
        params = _referable(_rename_refs(params, mapping))
        params["description"] = cls.summary()
        inputs = {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                port: {"description": f"{spec.kind}: {spec.description}".rstrip(": "),
                       "anyOf": [ref_schema, {"type": "array", "items": ref_schema, "minItems": 1}]}
                for port, spec in cls.inputs.items()
            },
            "required": [p for p, s in cls.inputs.items() if s.required],
        }
        variants.append({"if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                         "then": {"properties": {"params": params, "inputs": inputs}}})
    node = {
        "type": "object",
        "additionalProperties": False,
        "required": ["type"],
        "properties": {
            "type": {"enum": [name for name, _ in registry], "description": NodeSpec.model_fields["type"].description},
            "params": {"type": "object"},
            "inputs": {"type": "object"},
            "on_error": {"enum": ["skip", "stop"]},
            "label": {"type": "string"},
            "resources": spec_fields["resources"],
            "replicas": spec_fields["replicas"],
        },
        "allOf": variants,
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "segflow workflow",
        "type": "object",
        "additionalProperties": False,
        "required": ["version", "name", "nodes"],
        "properties": {
            "version": {"const": 1},
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "settings": {"$ref": "#/$defs/Settings"},
            "inputs": {"type": "object", "description": "Values given at run time; params use them as $inputs.NAME.",
                       "propertyNames": {"pattern": INPUT_NAME_PATTERN}, "additionalProperties": input_spec},
            "nodes": {"type": "object", "minProperties": 1,
                      "propertyNames": {"pattern": NODE_ID_PATTERN, "maxLength": NODE_ID_MAX},
                      "additionalProperties": node},
            "ui": {"type": "object", "description": "Editor state; ignored by the engine."},
        },
        "$defs": defs,
    }


def dumps(registry: Registry) -> str:
    return json.dumps(workflow_schema(registry), indent=2, sort_keys=False)
