"""Micro-batch collection: up to ``max_size`` items, waiting at most ``max_wait_s``.

An item may weigh more than one (a packet of six crops for a model that runs on
crops): a batch is filled by weight, never past ``max_size``. The item that would
overflow it is held back and starts the next batch, so model calls stay full; an
item heavier than ``max_size`` alone is a batch of its own (the node splits it).

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
    def __init__(self, max_size: int, max_wait_s: float, clock: Callable[[], float],
                 weight: Callable[[T], int] | None = None) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self.clock = clock
        self.weight = weight
        self._held: T | None = None  # the item that did not fit the last batch: it starts the next

    def _weigh(self, item: T) -> int:
        return 1 if self.weight is None else max(1, self.weight(item))

    def collect(self, get: Callable[[float | None], object]) -> Batch[T]:
        """Gather one batch. ``get(timeout)`` returns an item or raises ``queue.Empty``."""
        first = self._held if self._held is not None else get(None)
        self._held = None
        if first is END:
            return Batch([], True)
        items: list[T] = [first]  # type: ignore[list-item]
        filled = self._weigh(items[0])
        deadline = items[0].enqueued + self.max_wait_s
        while filled < self.max_size:
            remaining = deadline - self.clock()
            try:
                item = get(max(remaining, 0.0))
            except queue.Empty:
                break
            if item is END:
                return Batch(items, True)
            weight = self._weigh(item)  # type: ignore[arg-type]
            if filled + weight > self.max_size:
                self._held = item  # type: ignore[assignment]
                break
            items.append(item)  # type: ignore[arg-type]
            filled += weight
        return Batch(items, False)
