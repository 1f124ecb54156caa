"""Micro-batch collection: up to ``max_size`` items, waiting at most ``max_wait_s``.

The wait is measured from when the first item *arrived* (its enqueue time),
not from when the worker got to it: a worker that was busy finds a late
batch and sends whatever is waiting at once, like Triton's dynamic batcher.
Pure logic with an injected clock and queue getter, so it is tested without
sleeping.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Generic, Protocol, TypeVar


class Timed(Protocol):
    enqueued: float


T = TypeVar("T", bound=Timed)


class Marker(Enum):
    """Markers that travel in queues beside packets; an Enum member stays itself when pickled."""

    END = "end of stream"


END = Marker.END  # travels behind the last packet


@dataclass
class Batch(Generic[T]):
    items: list[T]
    ended: bool  # the end marker arrived; no more items will come


class MicroBatcher(Generic[T]):
    def __init__(self, max_size: int, max_wait_s: float, clock: Callable[[], float]) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self.clock = clock

    def collect(self, get: Callable[[float | None], object]) -> Batch[T]:
        """Gather one batch. ``get(timeout)`` returns an item or raises ``queue.Empty``."""
        first = get(None)
        if first is END:
            return Batch([], True)
        items: list[T] = [first]  # type: ignore[list-item]
        deadline = items[0].enqueued + self.max_wait_s
        while len(items) < self.max_size:
            remaining = deadline - self.clock()
            try:
                item = get(max(remaining, 0.0))
            except queue.Empty:
                break
            if item is END:
                return Batch(items, True)
            items.append(item)  # type: ignore[arg-type]
        return Batch(items, False)
