"""The side file that keeps a workflow's node positions out of its YAML.

``workflows/coins.yaml`` -> ``workflows/coins.layout.json``: ``{"version": 1,
"positions": {"photo": [40, 40], ...}}``. Moving a node then changes only this
file, and the workflow stays byte for byte what its author wrote (and what git
diffs). A missing or unreadable side file means "no positions yet": the
editor lays the graph out itself, it never refuses to open a workflow for it.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ValidationError

from segflow.engine.paths import write_atomic

SUFFIX = ".layout.json"


class LayoutFile(BaseModel):
    version: int = 1
    positions: dict[str, tuple[float, float]] = {}


def side_path(workflow_path: str) -> str:
    """The side file's path for a workflow path (same folder, same stem)."""
    stem, dot, suffix = workflow_path.rpartition(".")
    return (stem if dot and suffix in ("yaml", "yml") else workflow_path) + SUFFIX


def read(path: Path) -> dict[str, tuple[float, float]]:
    try:
        return LayoutFile.model_validate_json(path.read_text(encoding="utf-8")).positions
    except (OSError, ValueError, ValidationError):
        return {}


def write(path: Path, positions: dict[str, tuple[float, float]]) -> None:
    """Write atomically (see ``write_atomic``: a plain new file's permissions, not mkstemp's 600)."""
    data = json.dumps({"version": 1, "positions": {k: [round(x), round(y)] for k, (x, y) in positions.items()}},
                      indent=1) + "\n"
    write_atomic(path, data.encode("utf-8"))
