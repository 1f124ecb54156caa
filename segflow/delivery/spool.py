"""A FIFO of records that keeps order and loses nothing when the network is down.

Records wait in a bounded memory queue; when it is full they spill, in order,
to segment files on disk (``spool_dir/000000000001.jsonl``, ...), and on
shutdown whatever is left spills too. The disk part is always older than the
memory part, so the sender takes from disk first and order holds. A restart
finds the segments and the read cursor (``cursor.json``) and replays them
before anything new.

The sender ``take``s a batch, sends it, then ``commit``s; a batch that was
sent but not committed (a crash between the two) is sent again after a
restart. Delivery is therefore at-least-once, and every record carries a
``record_id`` so the receiver keeps exactly one copy of each.
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segflow.delivery.linefile import count_lines, repair_tail, write_all
from segflow.delivery.records import dumps
from segflow.engine.paths import write_atomic


@dataclass
class Batch:
    """Records handed to the sender; on disk they end at ``(segment, offset)``."""

    items: list[Any]
    on_disk: bool
    end: tuple[int, int] = (0, 0)


def _same(item: Any) -> Any:
    return item


class Spool:
    """The memory-then-disk queue; thread-safe, one producer side and one sender.

    Items stay as they are in memory; ``to_json`` and ``from_json`` turn them into
    JSON data on disk and back (by default they are JSON data already).
    """

    def __init__(self, folder: Path, memory_limit: int = 1000, segment_bytes: int = 8 << 20,
                 to_json: Callable[[Any], Any] = _same, from_json: Callable[[Any], Any] = _same) -> None:
        self.folder = folder
        self.memory_limit = memory_limit
        self.segment_bytes = segment_bytes
        self.to_json = to_json
        self.from_json = from_json
        self.changed = threading.Condition()
        self._memory: deque[Any] = deque()
        self._inflight: Batch | None = None
        self._closed = False
        folder.mkdir(parents=True, exist_ok=True)
        self._segments = sorted(int(p.stem) for p in folder.glob("*.jsonl") if p.stem.isdigit())
        for seq in self._segments[-1:]:
            repair_tail(self._path(seq))
        self._cursor = self._load_cursor()
        self._disk_count = self._count_disk()

    # -- layout --------------------------------------------------------------------------
    def _path(self, seq: int) -> Path:
        return self.folder / f"{seq:012d}.jsonl"

    def _load_cursor(self) -> tuple[int, int]:
        try:
            data = json.loads((self.folder / "cursor.json").read_text())
            cursor = (int(data["segment"]), int(data["offset"]))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            cursor = (self._segments[0], 0) if self._segments else (0, 0)
        if self._segments and cursor[0] not in self._segments:
            cursor = (self._segments[0], 0)  # its segment was done and removed
        return cursor

    def _save_cursor(self) -> None:
        """Renamed into place and fsynced: a power cut leaves the old cursor or the new, never an empty one."""
        data = json.dumps({"segment": self._cursor[0], "offset": self._cursor[1]}).encode()
        write_atomic(self.folder / "cursor.json", data, fsync=True)

    def _count_disk(self) -> int:
        total = 0
        for seq in self._segments:
            if seq < self._cursor[0]:
                continue
            if seq == self._cursor[0]:
                with open(self._path(seq), "rb") as f:
                    f.seek(self._cursor[1])
                    total += sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 16), b""))
            else:
                total += count_lines(self._path(seq))
        return total

    # -- producer side ---------------------------------------------------------------------
    def put(self, items: list[Any]) -> None:
        """Queue ``items``; spills memory to disk when it holds more than ``memory_limit``."""
        with self.changed:
            if self._closed:
                self._spill_lines([self._line(i) for i in items])
                return
            self._memory.extend(items)
            if len(self._memory) > self.memory_limit:
                self._spill()
            self.changed.notify_all()

    def _spill(self) -> None:
        """Move the in-flight memory batch and all of memory to the disk tail, oldest first."""
        lines: list[str] = []
        inflight = self._inflight
        if inflight is not None and not inflight.on_disk:
            lines.extend(self._line(i) for i in inflight.items)
        lines.extend(self._line(i) for i in self._memory)
        if not lines:
            return
        start = self._spill_lines(lines, first=len(inflight.items) if inflight and not inflight.on_disk else 0)
        if inflight is not None and not inflight.on_disk:
            inflight.on_disk = True
            inflight.end = start
        self._memory.clear()

    def _line(self, item: Any) -> str:
        return dumps(self.to_json(item)) + "\n"

    def _spill_lines(self, lines: list[str], first: int = 0) -> tuple[int, int]:
        """Append lines to the last segment; returns where the first ``first`` lines end."""
        if not self._segments or self._path(self._segments[-1]).stat().st_size >= self.segment_bytes:
            self._segments.append((self._segments[-1] + 1) if self._segments else 1)
            if len(self._segments) == 1:
                self._cursor = (self._segments[0], 0)
        seq = self._segments[-1]
        head = "".join(lines[:first]).encode("utf-8")
        data = head + "".join(lines[first:]).encode("utf-8")
        fd = os.open(self._path(seq), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            start = os.fstat(fd).st_size
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._disk_count += len(lines)
        if self._cursor == (0, 0):
            self._cursor = (seq, 0)
        return (seq, start + len(head))

    # -- sender side -------------------------------------------------------------------------
    def __len__(self) -> int:
        with self.changed:
            return self._disk_count + len(self._memory)

    @property
    def in_flight(self) -> bool:
        """A batch was taken and not committed: a failed delivery, to be tried again."""
        with self.changed:
            return self._inflight is not None

    @property
    def disk_count(self) -> int:
        return self._disk_count

    def take(self, limit: int) -> Batch | None:
        """The next batch (oldest first), kept in flight until :meth:`commit`; None if empty."""
        with self.changed:
            if self._inflight is not None:
                return self._inflight
            if self._disk_count:
                batch = self._read_disk(limit)
                if batch.items:
                    self._inflight = batch
                    return batch
                self._disk_count = 0  # the count was off (a segment edited by hand): trust the files
            if self._memory:
                items = [self._memory.popleft() for _ in range(min(limit, len(self._memory)))]
                self._inflight = Batch(items, on_disk=False)
            return self._inflight

    def _read_disk(self, limit: int) -> Batch:
        seq, offset = self._cursor
        later = [s for s in self._segments if s > seq]
        while later and offset >= self._path(seq).stat().st_size:
            seq, offset = later.pop(0), 0  # a finished segment whose removal a crash cut short
        self._cursor = (seq, offset)
        items: list[Any] = []
        with open(self._path(seq), "rb") as f:
            f.seek(offset)
            while len(items) < limit:
                line = f.readline()
                if not line.endswith(b"\n"):
                    break
                items.append(self.from_json(json.loads(line)))
                offset += len(line)
        return Batch(items, on_disk=True, end=(seq, offset))

    def commit(self) -> None:
        """The in-flight batch was delivered: forget it (and free finished segments)."""
        with self.changed:
            batch, self._inflight = self._inflight, None
            if batch is None or not batch.on_disk:
                return
            self._disk_count -= len(batch.items)
            seq, offset = batch.end
            self._cursor = (seq, offset)
            while self._segments and self._segments[0] < seq:
                self._path(self._segments.pop(0)).unlink(missing_ok=True)
            if offset >= self._path(seq).stat().st_size:
                later = [s for s in self._segments if s > seq]
                if later or self._disk_count == 0:
                    self._segments.remove(seq)
                    self._path(seq).unlink(missing_ok=True)
                    self._cursor = (later[0], 0) if later else (0, 0)
            self._save_cursor()
            self.changed.notify_all()

    def wait(self, timeout: float) -> None:
        with self.changed:
            self.changed.wait(timeout)

    def close(self) -> None:
        """Spill what is in memory (and in flight) to disk, to be replayed by the next start."""
        with self.changed:
            if self._closed:
                return
            self._spill()
            self._closed = True
            if self._segments:
                self._save_cursor()
            self.changed.notify_all()
