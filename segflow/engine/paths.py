"""Paths in params checked as paths: too long, missing, a folder, a FIFO, a device, no permission.

``Path.exists()`` raises on a name the system refuses (a component over 255
bytes), ``open()`` on a FIFO blocks until a writer comes, and a device
such as ``/dev/full`` takes no data: each of these is a user's mistake, so
validation names it, with the path cut to a readable length, before
anything runs.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from segflow.engine.workflow.issues import shorten

NAME_MAX = 255  # bytes in one path component (Linux, macOS, Windows alike)
PATH_MAX = 4096  # bytes in a whole path (Linux)


def shown(path: str | Path) -> str:
    """A path as a message shows it: a 2 MB one is cut."""
    return shorten(str(path), 160)


def name_problem(path: Path) -> str | None:
    """Why the system would refuse this name outright, or None."""
    raw = os.fsencode(path)
    if b"\0" in raw:
        return "the path holds a NUL character (\\x00), which no file name can"
    longest = max(raw.split(b"/"), key=len, default=b"")
    if len(longest) > NAME_MAX:
        return (f"a path component is {len(longest):,} bytes long; the system allows {NAME_MAX} "
                f"({shown(os.fsdecode(longest))})")
    if len(raw) > PATH_MAX:
        return f"the path is {len(raw):,} bytes long; the system allows {PATH_MAX}"
    return None


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def stat_or_none(path: Path) -> tuple[os.stat_result | None, str | None]:
    """``(stat, None)``, ``(None, None)`` when nothing is there, or ``(None, why)`` when it cannot be looked at."""
    problem = name_problem(path)
    if problem:
        return None, problem
    try:
        return os.stat(path), None
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except OSError as exc:
        return None, f"cannot look at {shown(path)}: {exc.strerror or exc}"


def readable_file_problem(path: Path, what: str = "file") -> str | None:
    """Why ``path`` cannot be read as a regular file, or None."""
    return _readable_problem(path, what, folder_too=False)


def existing_path_problem(path: Path, what: str = "file") -> str | None:
    """Why nothing usable is at ``path`` (a model may be a file or a folder), or None."""
    return _readable_problem(path, what, folder_too=True)


def _readable_problem(path: Path, what: str, folder_too: bool) -> str | None:
    info, problem = stat_or_none(path)
    if problem:
        return problem
    if info is None:
        return f"{what} {shown(path)} does not exist"
    if not (stat.S_ISREG(info.st_mode) or (folder_too and stat.S_ISDIR(info.st_mode))):
        return f"{shown(path)} is {kind_of(info.st_mode)}, not a {what}"
    if not os.access(path, os.R_OK):
        return f"{what} {shown(path)} is not readable (permission denied)"
    return None


def write_atomic(path: Path, data: bytes, fsync: bool = False) -> None:
    """Write under a temporary name in the same folder, then rename: never a half-written file.

    The file keeps the mode it had, and a new one gets what a plain ``open()`` would
    give (0666 less the umask), not ``mkstemp``'s 0600: a saved workflow, a dataset or
    a sink's pictures stay readable by whoever could read them before.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def umask() -> int:
    """The process's umask, read without changing it where Linux tells it (other threads create files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current
