"""Known model checkpoints, and the local model folder they are fetched into.

``segflow models fetch NAME`` (``segflow.tools.models``) downloads a known
checkpoint into the model folder; a node param that names a known checkpoint
(``checkpoint: sam2.1-tiny``) means that file there. The folder is
``$SEGFLOW_MODELS``, else ``$XDG_CACHE_HOME/segflow/models`` (``~/.cache`` when
unset): one place per user, wherever a workflow is run from, and one variable
for a service to set. ``$SEGFLOW_MODELS_URL`` replaces the download base URL
(a mirror on the local network, or a test server). The list itself is data,
``checkpoints.json`` beside this module.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path, PurePosixPath

ENV_DIR = "SEGFLOW_MODELS"
ENV_URL = "SEGFLOW_MODELS_URL"


@dataclass(frozen=True)
class Checkpoint:
    name: str
    family: str
    file: str
    config: str
    url: str
    approx_mib: int
    sha256: str | None  # None: no published digest segflow could verify

    def download_url(self) -> str:
        base = os.environ.get(ENV_URL, "").rstrip("/")
        return f"{base}/{self.file}" if base else self.url


@cache
def catalogue() -> dict[str, Checkpoint]:
    data = json.loads(files("segflow.vision").joinpath("checkpoints.json").read_text(encoding="utf-8"))
    return {name: Checkpoint(name=name, **entry) for name, entry in data["checkpoints"].items()}


def models_dir(override: str | Path | None = None) -> Path:
    if override:
        return Path(override).expanduser()
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "segflow" / "models"


def known(value: str) -> Checkpoint | None:
    """The known checkpoint ``value`` names, by its name or by its file's name."""
    checkpoints = catalogue()
    if value in checkpoints:
        return checkpoints[value]
    filename = PurePosixPath(value.replace("\\", "/")).name
    return next((c for c in checkpoints.values() if c.file == filename), None)


def locate(value: str, folder: Path | None = None) -> Path | None:
    """Where a param naming a known checkpoint (``sam2.1-tiny``) points; None for a plain path.

    ``folder``: the workflow's ``settings.models_dir``, which wins over the environment.
    """
    checkpoint = catalogue().get(value)
    return models_dir(folder) / checkpoint.file if checkpoint else None


def fetch_command(checkpoint: Checkpoint, folder: Path | None = None) -> str:
    """The exact command that puts ``checkpoint`` where it is wanted (``folder``: other than the model folder)."""
    command = f"segflow models fetch {checkpoint.name}"
    return f"{command} --dir {folder}" if folder is not None and folder != models_dir() else command
