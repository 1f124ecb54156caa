"""Undo and redo: a bounded list of document snapshots, one per change.

A snapshot is the whole document (its YAML text and the side layout), not a
list of inverse operations: any code that edits the state and then calls
``Editor.changed()`` gets undo for free, however it edited it (a canvas
drag, a form, a YAML text edit, a paste). A workflow is a few kB, so a
hundred snapshots cost far less than one video frame.
"""

from __future__ import annotations

from dataclasses import dataclass

LIMIT = 100  # snapshots kept; the oldest go first


@dataclass(frozen=True)
class Snapshot:
    text: str
    positions: tuple[tuple[str, float, float], ...] = ()  # side positions (when not in the YAML)
    layout_in_yaml: bool = True


class History:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = max(2, limit)
        self._items: list[Snapshot] = []
        self._at = -1  # index of the snapshot the document is at now

    def reset(self, snapshot: Snapshot) -> None:
        self._items, self._at = [snapshot], 0

    def record(self, snapshot: Snapshot) -> bool:
        """Note the document after a change; False when nothing changed (no undo step)."""
        if self._at >= 0 and self._items[self._at] == snapshot:
            return False
        del self._items[self._at + 1:]  # a new edit after undo drops the redo branch
        self._items.append(snapshot)
        if len(self._items) > self.limit:
            del self._items[: len(self._items) - self.limit]
        self._at = len(self._items) - 1
        return True

    @property
    def can_undo(self) -> bool:
        return self._at > 0

    @property
    def can_redo(self) -> bool:
        return 0 <= self._at < len(self._items) - 1

    def undo(self) -> Snapshot | None:
        if not self.can_undo:
            return None
        self._at -= 1
        return self._items[self._at]

    def redo(self) -> Snapshot | None:
        if not self.can_redo:
            return None
        self._at += 1
        return self._items[self._at]

    def __len__(self) -> int:
        return len(self._items)
