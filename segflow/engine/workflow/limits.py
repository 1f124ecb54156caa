"""How much a workflow may ask of the loader before it is refused, and how to raise it.

A workflow file is input: it may be huge, endlessly nested, or a YAML alias
bomb (a few hundred bytes that expand to billions of values). Each limit
below turns such a file into one located error instead of a hang or an
out-of-memory kill; each can be raised through an environment variable for
the rare real workflow that needs more (a generated graph of 50,000 nodes).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

ENV_PREFIX = "SEGFLOW_MAX_"


@dataclass(frozen=True)
class Limits:
    """The loader's bounds; ``from_env`` reads overrides such as ``SEGFLOW_MAX_NODES=50000``."""

    file_bytes: int = 8 << 20
    """Largest workflow file read (8 MiB: a 10,000-node graph is under 1 MiB)."""
    set_bytes: int = 64 << 10
    """Largest ``--set`` value."""
    depth: int = 64
    """Deepest nesting of mappings and lists, aliases expanded."""
    values: int = 500_000
    """Most YAML values after alias expansion (the alias-bomb budget)."""
    nodes: int = 20_000
    """Most entries under ``nodes:``."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Limits:
        environ = dict(os.environ) if environ is None else environ
        values: dict[str, int] = {}
        for name in cls.__dataclass_fields__:
            raw = environ.get(env_name(name), "").strip().replace("_", "")
            if raw.isdigit() and int(raw) > 0:
                values[name] = int(raw)
        return cls(**values)


def env_name(limit: str) -> str:
    """``"file_bytes"`` -> ``"SEGFLOW_MAX_FILE_BYTES"``."""
    return ENV_PREFIX + limit.upper()


def raise_hint(limit: str, value: int) -> str:
    """How to raise one limit, for the error's hint line."""
    return f"if this is intended, raise the limit: {env_name(limit)}={value * 4}"


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a big workflow is read, checked and planned.

    Building a 10,000-node graph allocates a few hundred thousand objects that all
    stay alive; each automatic collection walks every one of them again, which made
    validation of such a graph 2-3 times slower. Nothing built here is garbage, so
    collection waits until the work is done (it is switched back on only if it was on).
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
