"""The converted workflow as YAML text a person will read and edit.

Each node carries a comment naming the Roboflow step it came from, and the
file's head lists what was left out, so the file explains itself without the
import's console output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from segflow.tools.roboflow_import.context import Conversion


def dump(value: Any) -> str:
    """One value in YAML flow style on one line (safe: plain data only)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**9, sort_keys=False).strip().removesuffix("...")\
        .strip()


def render(conv: Conversion, source_name: str, changes: Sequence[str] = ()) -> str:
    """The workflow's YAML; ``changes`` are the user's ``--set`` items, listed in the head."""
    lines = [f"# Converted by `segflow import roboflow` from {source_name}",
             f"# (Roboflow Workflows definition, version {conv.definition.version or '?'}).", "#"]
    if changes:
        lines.append(f"# Changed with --set: {', '.join(changes)}")
    if conv.left_out:
        lines.append(f"# Left out ({len(conv.left_out)}; `segflow import` printed where each is):")
        lines += [f"#   - {_one_line(p.noun, p.step, p.text)}" for p in conv.left_out]
    else:
        lines.append("# Every step and field was mapped.")
    lines += ["", "version: 1", f"name: {dump(conv.name)}",
              f"description: {dump('Imported from the Roboflow Workflows definition ' + source_name)}"]
    if conv.inputs:
        lines.append("inputs:")
        lines += [f"  {name}: {dump(spec)}" for name, spec in conv.inputs.items()]
    lines.append("nodes:")
    for node in conv.nodes.values():
        lines.append(f"  # {_one_line('', None, node.origin)}")
        lines.append(f"  {node.id}:")
        lines.append(f"    type: {node.type}")
        if node.params:
            lines.append("    params:")
            lines += [f"      {key}: {dump(value)}" for key, value in node.params.items()]
        if node.inputs:
            lines.append(f"    inputs: {dump(node.inputs)}")
    return "\n".join(lines) + "\n"


def _one_line(noun: str, name: str | None, text: str) -> str:
    said = f"{noun} '{name}': {text}" if name else text
    return " ".join(said.split())
