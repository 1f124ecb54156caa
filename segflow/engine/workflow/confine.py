"""Paths a run writes, kept inside one folder when the run's context says so (the editor's workspace).

A node type marks each param that names a file or folder it writes with
``json_schema_extra=writes_path()``. When ``RunContext.write_root`` is set (the
editor sets it to its workspace; a headless run leaves it unset), validation
resolves each marked value as the node will — relative to ``base_dir``, symlinks
followed, ``{placeholders}`` filled with a plain name — and a value that lands
outside the root is an error on that node's field, before anything runs. So a
visitor of an editor on the network cannot make a sink write ``/etc/...`` or
``../../x`` any more than Save can.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.paths import shown

WRITES = "x-segflow-writes"
PLACEHOLDER = re.compile(r"\{[^{}]*\}")  # {workflow}, {source}, {node}: each becomes one safe path component
SQLITE = "sqlite:///"


def writes_path() -> dict[str, Any]:
    """``json_schema_extra`` of a param naming a file or folder the node writes."""
    return {WRITES: True}


def written_fields(model: type[BaseModel]) -> list[str]:
    return [name for name, info in model.model_fields.items()
            if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get(WRITES)]


def local_path(value: str) -> str | None:
    """The file a written value names: itself, the file of a SQLite URL, or None (a network URL)."""
    if value.startswith(SQLITE):
        return value[len(SQLITE):]
    return None if "://" in value else value


def outside_problems(model: type[BaseModel], params: Any, context: RunContext) -> list[ParamProblem]:
    """One problem per written path outside ``context.write_root`` (none when it is unset)."""
    if context.write_root is None:
        return []
    root = context.write_root.resolve()
    problems = []
    for name in written_fields(model):
        value = getattr(params, name, None)
        path = local_path(value) if isinstance(value, str) and value else None
        if path is None:
            continue
        target = context.resolve(PLACEHOLDER.sub("x", path)).resolve()
        if not target.is_relative_to(root):
            problems.append(ParamProblem(
                name, f"writes {shown(target)}, outside the workspace {shown(root)}",
                "the editor writes only inside its workspace, as Save does: give a path inside it, "
                "e.g. out/<name>, or run the workflow headless with `segflow run`"))
    return problems
