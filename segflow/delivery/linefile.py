"""An append-only file of whole lines that survives ``kill -9`` and rotates.

Every write is one ``os.write`` of complete lines to a file opened with
``O_APPEND``; a write that fails half-way (disk full) is cut back to where it
started, so the file never holds a half record followed by good ones. A crash
can still leave a partial last line (the kernel may stop a large write on
SIGKILL): readers ignore a last line without a newline, and :meth:`open`
removes it before appending, so a restart continues a file that parses.

Rotation renames the full file to ``name.N.ext`` (N = 1, 2, ...) and starts
a fresh one, so the file being written always has the configured name.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

_CHUNK = 1 << 16


def repair_tail(path: Path) -> int:
    """Cut a partial last line off a regular file; returns how many bytes were removed."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return 0
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return 0
    with open(path, "rb+") as f:
        end = st.st_size
        pos = end
        while pos > 0:
            start = max(0, pos - _CHUNK)
            f.seek(start)
            block = f.read(pos - start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            pos = start
        else:
            keep = 0
        if keep < end:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        return end - keep


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(_CHUNK), b""))


def first_line(path: Path) -> str:
    """The first complete line of ``path`` without its newline ('' if none)."""
    try:
        with open(path, "rb") as f:
            line = f.readline()
    except (FileNotFoundError, IsADirectoryError):
        return ""
    return line[:-1].decode("utf-8", "replace") if line.endswith(b"\n") else ""


def write_all(fd: int, data: bytes) -> None:
    """Write every byte or raise; a failed write is cut back to where it began (regular files)."""
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
    except OSError:
        start = None
    view = memoryview(data)
    try:
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except OSError:
        if start is not None and stat.S_ISREG(os.fstat(fd).st_mode):
            os.ftruncate(fd, start)
        raise


def rotated_name(path: Path, number: int) -> Path:
    return path.with_name(f"{path.stem}.{number}{path.suffix}")


def next_rotation(path: Path) -> Path:
    pattern = re.compile(re.escape(path.stem) + r"\.(\d+)" + re.escape(path.suffix) + "$")
    numbers = [int(m.group(1)) for p in path.parent.glob(f"{path.stem}.*{path.suffix}") if (m := pattern.match(p.name))]
    return rotated_name(path, max(numbers, default=0) + 1)


class LineFile:
    """Append whole lines to ``path``, rotating by size or line count.

    ``header`` (if given) returns the line written at the top of every new
    file (CSV); header lines do not count as records.
    """

    def __init__(
        self,
        path: Path,
        rotate_bytes: int = 0,
        rotate_records: int = 0,
        header: Callable[[], str | None] | None = None,
    ) -> None:
        self.path = path
        self.rotate_bytes = rotate_bytes
        self.rotate_records = rotate_records
        self.header = header
        self.fd: int | None = None
        self.size = 0
        self.records = 0
        self.repaired = 0
        self._regular = False

    @property
    def regular(self) -> bool:
        """A regular file (rotated, synced, repaired), not a device such as /dev/stdout."""
        return self.fd is not None and self._regular

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired = repair_tail(self.path)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        st = os.fstat(self.fd)
        self._regular = stat.S_ISREG(st.st_mode)
        self.size = st.st_size if self._regular else 0
        self.records = 0
        if self.size and self.rotate_records and self.regular:
            self.records = count_lines(self.path) - (1 if self.header else 0)

    def write(self, lines: list[str]) -> None:
        """Append ``lines`` (each ending in a newline), rotating where a limit is reached."""
        assert self.fd is not None, "LineFile.open() first"
        pending: list[bytes] = []
        size = count = 0
        for line in lines:
            data = line.encode("utf-8")
            if self._full(count, size + len(data)):
                self._append(pending, count)
                pending, size, count = [], 0, 0
                self.rotate()
            if self.size == 0 and not pending and self.header is not None:
                head = self.header()
                if head:
                    pending.append(head.encode("utf-8"))
                    size += len(pending[-1])
            pending.append(data)
            size += len(data)
            count += 1
        self._append(pending, count)

    def _full(self, count: int, new_size: int) -> bool:
        if not self.regular or (self.size == 0 and count == 0):
            return False
        if self.rotate_records and self.records + count >= self.rotate_records:
            return True
        return bool(self.rotate_bytes and self.size + new_size > self.rotate_bytes)

    def _append(self, chunks: list[bytes], count: int) -> None:
        if not chunks:
            return
        data = b"".join(chunks)
        assert self.fd is not None
        write_all(self.fd, data)
        self.size += len(data)
        self.records += count

    def rotate(self) -> Path | None:
        """Close the file, rename it to the next ``name.N.ext`` and open a fresh one."""
        if self.fd is None or not self.regular or self.size == 0:
            return None
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = None
        target = next_rotation(self.path)
        os.rename(self.path, target)
        self.open()
        return target

    def sync(self) -> None:
        if self.fd is not None and self.regular:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd is not None:
            try:
                self.sync()
            finally:
                os.close(self.fd)
                self.fd = None
