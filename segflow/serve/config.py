"""What a server serves and the limits it keeps, settled before it binds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from segflow.engine.api import Workflow

MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
MAX_IMAGES = 16
MAX_CONCURRENT = 64
REQUEST_TIMEOUT_S = 120.0
WATCH_S = 2.0


@dataclass
class ServeConfig:
    """``token`` None means loopback only (the command refuses any other host without one)."""

    workflows: list[Workflow] = field(default_factory=list)
    token: str | None = None
    base_dir: Path = field(default_factory=Path.cwd)
    max_body_bytes: int = MAX_BODY_BYTES
    max_pixels: int = MAX_PIXELS
    max_images: int = MAX_IMAGES
    max_concurrent: int = MAX_CONCURRENT
    request_timeout_s: float = REQUEST_TIMEOUT_S
    watch_s: float = WATCH_S  # 0: served files are not watched
