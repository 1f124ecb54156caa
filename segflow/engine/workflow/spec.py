"""The workflow file format as pydantic models (the YAML's shape, before node types)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

NODE_ID = r"[A-Za-z_][A-Za-z0-9_-]*"  # a node id: validation, the JSON Schema, references and the editor use this one
NAME = r"[A-Za-z_][A-Za-z0-9_]*"  # a port's or a workflow input's name
NODE_ID_PATTERN = rf"^{NODE_ID}$"
REF_PATTERN = rf"^{NODE_ID}\.{NAME}$"  # node.port
NODE_ID_MAX = 100  # node ids name files (a sink's spool folder, its rejected records): one path component each
NODE_ID_RULE = "must start with a letter or '_' and hold only letters, digits, '_' or '-'"
OnError = Literal["skip", "stop"]
ExecutorName = Literal["local", "ray"]


class RaySettings(BaseModel):
    """Where and how the ``ray`` executor runs; ignored by ``local``."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(
        None, description="Ray cluster to join: 'auto', 'host:port' or 'ray://host:10001'; "
        "none starts a Ray instance on this machine for the run.",
    )
    shards: int | None = Field(
        None, ge=1, le=10_000, description="How many shard workers the sources are spread over "
        "(each source and its per-frame CPU work live on one); default: one per source.",
    )
    reply_timeout_s: float = Field(
        600.0, gt=0, description="How long a shard waits for one reply of a model or sink actor before the run "
        "fails naming the node and the frame. A slow reply (a starved CPU, a large batch) is waited for; "
        "only a hung actor goes past this.",
    )
    shard_resources: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {"cpu": 1.0},
        description="What Ray reserves for each shard worker, e.g. {cpu: 1}; other keys are custom Ray "
        "resources (give them to the machines that should host shards).",
    )


class Settings(BaseModel):
    """Run-wide settings; every one has a default."""

    model_config = ConfigDict(extra="forbid")

    on_error: OnError = Field(
        "skip",
        description="What a node failure on one frame does: skip that frame's result, or stop the run.",
    )
    max_inflight: int = Field(
        16, ge=1, le=100_000, description="Most packets inside the graph at once (backpressure)."
    )
    executor: ExecutorName = Field(
        "local", description="What runs the plan: 'local' (threads in this process) or 'ray' (a Ray cluster)."
    )
    ray: RaySettings = Field(default_factory=RaySettings, description="Options of the ray executor.")
    models_dir: str | None = Field(
        None, description="Where known model checkpoints (`checkpoint: sam2.1-tiny`) are looked for; "
        "relative to the working directory. Default: $SEGFLOW_MODELS, else ~/.cache/segflow/models.",
    )


class NodeSpec(BaseModel):
    """One entry under ``nodes:``."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(..., description="The node type, e.g. 'detect.yolo' (see `segflow nodes`).")
    params: dict[str, Any] = Field(default_factory=dict, description="The node type's parameters.")
    inputs: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Input port -> 'node.port' (or a list of them: the first present in a packet).",
    )
    on_error: OnError | None = Field(None, description="Overrides settings.on_error for this node.")
    label: str | None = Field(None, description="A human-readable name for editors and reports.")
    resources: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict,
        description="Model nodes under the ray executor: what each replica reserves, e.g. {gpu: 0.5, cpu: 1}; "
        "other keys are custom Ray resources.",
    )
    replicas: Annotated[int, Field(ge=1, le=1024)] | Literal["auto"] = Field(
        1, description="Model nodes under the ray executor: how many long-lived actors serve this node "
        "('auto': as many as the cluster's resources fit, at most one per shard).",
    )


class WorkflowHeader(BaseModel):
    """The top level of a workflow file; ``nodes`` are validated one by one after it."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = Field(..., description="Format version; 1 is the only one so far.")
    name: str = Field(..., min_length=1, max_length=200, description="Logged by sinks with every record.")
    description: str = ""
    settings: Settings = Field(default_factory=Settings)
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="Values given at run time, by name: {kind, default, description, "
        "constraints}; params use them as `$inputs.NAME`.",
    )
    nodes: dict[str, Any] = Field(..., description="The nodes, keyed by a unique id.")
    ui: dict[str, Any] | None = Field(None, description="Editor state (node positions); the engine ignores it.")

    @field_validator("version", mode="before")
    @classmethod
    def _a_number(cls, value: Any) -> Any:
        if isinstance(value, bool):  # YAML's `true` equals 1 in Python; it is not a version
            raise ValueError("the version is the number 1, not a boolean")
        return value


def is_node_id(text: object) -> bool:
    """Whether ``text`` may name a node (validation, the JSON Schema and the editor's rename agree)."""
    return isinstance(text, str) and re.match(NODE_ID_PATTERN, text) is not None


def parse_ref(ref: str) -> tuple[str, str] | None:
    """``"node.port"`` -> (node, port); None when it is not of that shape."""
    if not isinstance(ref, str) or ref.count(".") != 1:
        return None
    node, port = ref.split(".")
    return (node, port) if node and port else None
