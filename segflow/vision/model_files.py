"""Model files checked before anything loads them: their kind, their checksum, whether they are pinned.

A ``.pt`` file is a Python pickle, and loading one runs whatever code it holds.
Pinning the hash of the file you trust means a swapped or tampered file is
refused before anything loads it; a pickle with no pin is loaded with a
warning (at validation, so at every run too) naming ``segflow models pin``.
A ``.pt`` that is not a PyTorch checkpoint at all (random bytes, a truncated
download) is named as such from its first bytes. Hashes are cached per (path,
size, mtime), so validation and setup read a large checkpoint once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import Field

SHA256 = r"^[0-9a-fA-F]{64}$"
CHUNK = 1 << 20

_cache: dict[tuple[str, int, int], str] = {}


def sha256_field() -> object:
    return Field(
        None,
        pattern=SHA256,
        description="Refuse the file unless its SHA-256 is this (64 hex digits; `sha256sum FILE`). "
        "Empty = not checked.",
    )


def file_sha256(path: Path) -> str:
    """The file's SHA-256 in hex, or a folder's: the hash of its files' names and hashes, in name order."""
    if path.is_dir():
        digest = hashlib.sha256()
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{child.relative_to(path).as_posix()}\0{file_sha256(child)}\n".encode())
        return digest.hexdigest()
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _cache:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        _cache[key] = digest.hexdigest()
    return _cache[key]


def sha256_problem(path: Path, expected: str | None) -> str | None:
    """Why the file at ``path`` is not the one pinned by ``expected``, or ``None`` (also when nothing is pinned)."""
    if expected is None or not path.exists():
        return None
    try:
        actual = file_sha256(path)
    except OSError as exc:
        return f"cannot read {path} to check its sha256: {exc.strerror or exc}"
    if actual == expected.lower():
        return None
    return f"{path} has sha256 {actual}, but the workflow expects {expected.lower()}: refusing to load it"


PICKLE_SUFFIXES = (".pt", ".pth")
ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive since PyTorch 1.6
PICKLE_PROTOCOL = b"\x80"  # ...and a bare pickle (protocol 2 or later) before that


def is_pickle(path: Path) -> bool:
    """A local ``.pt``/``.pth`` file: loading it unpickles, which runs code."""
    return path.suffix.lower() in PICKLE_SUFFIXES and path.is_file()


def checkpoint_problem(path: Path) -> str | None:
    """Why the ``.pt`` file at ``path`` cannot be a PyTorch checkpoint, from its first bytes, or ``None``."""
    if not is_pickle(path):
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if head.startswith(ZIP_MAGIC) or head.startswith(PICKLE_PROTOCOL):
        return None
    if not head:
        return f"{path} is empty, not a PyTorch checkpoint"
    return (f"{path} is not a PyTorch checkpoint: one is a zip archive (it starts with 'PK'), "
            f"this file starts with the bytes {head.hex(' ')}")


CHECKPOINT_HINT = "a truncated download or a wrong file: fetch, train or export it again"


def unpinned_problem(path: Path, expected: str | None) -> str | None:
    """The warning for a pickle loaded with no ``sha256`` pin, or ``None``."""
    if expected is not None or not is_pickle(path):
        return None
    return (f"{path.name} is a pickle loaded with no `sha256` pin: loading it runs any code it holds, "
            "and a swapped file would load unnoticed")


UNPINNED_HINT = "check it is the file you trust, then `segflow models pin WORKFLOW` writes its sha256"


def load_error(exc: BaseException) -> str:
    """What went wrong loading a model, never an empty reason (some loaders raise bare exceptions)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else f"{type(exc).__name__} (the loader gave no reason)"


SHA256_HINT = (
    "if you replaced the file on purpose, put its new hash in `sha256`; otherwise do not load it "
    "(a .pt file runs code when loaded)"
)
