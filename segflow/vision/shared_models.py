"""One loaded copy of a model per (file as it is on disk, device, runtime) for the whole process, when asked.

The editor serves every browser session from one process, and each session sets
its nodes up on its own: each used to load its own copy of the same weights
(1.59 GB after seven sessions on the flagship). When a run's context says
``share_models`` (the editor's does), model nodes take their model from here: the
first to ask loads it, the others get the same object and its lock (ultralytics'
predictor keeps per-call state, so calls on a shared model take turns), and the
last to let go frees it. The key holds the file's size and modification time, so
weights rewritten on disk (a training run's ``best.pt``) load afresh, never stale.
A headless run shares nothing: its replicas are there to run side by side.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def file_key(path: str | Path) -> tuple[str, int, int]:
    """The file (or model folder) as it is now: where, its size and its modification time in ns."""
    full = Path(path).expanduser().resolve()
    try:
        info = os.stat(full)
    except OSError:
        return (str(full), -1, -1)  # loading it will say what is wrong
    return (str(full), info.st_size, info.st_mtime_ns)


@dataclass
class Lease(Generic[T]):
    """A model and the lock its calls take; ``release`` once when done with it (close)."""

    model: T
    lock: threading.Lock = field(default_factory=threading.Lock)
    _release: Callable[[], None] = lambda: None
    _released: bool = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._release()


@dataclass
class _Entry:
    model: Any
    lock: threading.Lock
    users: int = 0


class SharedModels:
    """Loaded models by key, counted by their users; thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}
        self._lock = threading.Lock()

    def acquire(self, key: Hashable, load: Callable[[], T]) -> Lease[T]:
        """The model of ``key``, loaded by ``load`` when nobody holds it (an exception leaves nothing behind)."""
        with self._lock:  # loads are rare and must not run twice for one key: they take turns
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(load(), threading.Lock())
            entry.users += 1
            return Lease(entry.model, entry.lock, lambda: self._release(key))

    def _release(self, key: Hashable) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.users -= 1
                if entry.users <= 0:
                    del self._entries[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


SHARED = SharedModels()
"""The process's shared models (the editor's browser sessions share them)."""


def lease(share: bool, key: Hashable, load: Callable[[], T]) -> Lease[T]:
    """The shared copy when ``share``, else a model of one's own (a lease that frees nothing)."""
    return SHARED.acquire(key, load) if share else Lease(load())
