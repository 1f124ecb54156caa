"""Checksums of model files: a node given ``sha256`` refuses weights that are not the ones it was given.

A ``.pt`` file is a Python pickle, and loading one runs whatever code it holds.
Pinning the hash of the file you trust means a swapped or tampered file is
refused before anything loads it. Hashes are cached per (path, size, mtime),
so validation and setup read a large checkpoint once.
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


SHA256_HINT = (
    "if you replaced the file on purpose, put its new hash in `sha256`; otherwise do not load it "
    "(a .pt file runs code when loaded)"
)
