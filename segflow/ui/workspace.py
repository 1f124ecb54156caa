"""The workspace folder: the only place the editor reads workflows from and writes them to.

A browser tab must not be a way to write anywhere on the machine, so every
path is resolved (symlinks included) and refused when it leaves the folder.
A file is fingerprinted when opened; saving over a file whose content changed
on disk since then (another editor, a ``git pull``) is refused unless the user
says to overwrite, and so is saving over an existing file that was not opened.
Writes are atomic: a crash leaves the old file or the new one, never half; the
new file keeps the old one's mode (a temporary file is created 0600), and a new
file gets the mode the user's umask gives any new file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from segflow.engine.paths import write_atomic

WORKFLOW_SUFFIXES = (".yaml", ".yml")


class WorkspaceError(ValueError):
    """A path or save the workspace refuses; the message says why and what to do."""


class SaveConflict(WorkspaceError):
    """The target changed on disk, or exists and was not the file opened."""


@dataclass(frozen=True)
class Opened:
    path: str  # relative to the workspace, with '/' separators
    text: str
    fingerprint: str | None  # None: the file did not exist when opened


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Workspace:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise WorkspaceError(f"workspace {self.root} is not a folder")

    def resolve(self, path: str | Path) -> Path:
        """``path`` (relative to the workspace, or absolute inside it) as an absolute path."""
        text = str(path).strip()
        if not text:
            raise WorkspaceError("give a file name, e.g. workflows/my_flow.yaml")
        candidate = Path(text).expanduser()
        full = (candidate if candidate.is_absolute() else self.root / candidate).resolve()
        if not full.is_relative_to(self.root):
            raise WorkspaceError(f"'{text}' is outside the workspace {self.root}; save inside it "
                                 f"(or start the editor with --workspace pointing higher)")
        return full

    def relative(self, path: str | Path) -> str:
        return self.resolve(path).relative_to(self.root).as_posix()

    def workflows(self) -> list[str]:
        found = []
        for suffix in WORKFLOW_SUFFIXES:
            for path in self.root.rglob(f"*{suffix}"):
                rel = path.relative_to(self.root)
                if not any(part.startswith(".") or part in ("node_modules", "out") for part in rel.parts):
                    found.append(rel.as_posix())
        return sorted(found)

    def open(self, path: str | Path) -> Opened:
        full = self.resolve(path)
        if not full.exists():
            return Opened(self.relative(full), "", None)
        if not full.is_file():
            raise WorkspaceError(f"'{path}' is not a file")
        data = full.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WorkspaceError(f"'{path}' is not UTF-8 text: {exc}") from exc
        return Opened(self.relative(full), text, fingerprint(data))

    def save(self, path: str | Path, text: str, opened: Opened | None, overwrite: bool = False) -> Opened:
        """Write ``text`` to ``path`` atomically; refuse a silent overwrite (see module doc)."""
        full = self.resolve(path)
        if full.suffix not in WORKFLOW_SUFFIXES:
            raise WorkspaceError(f"'{path}': a workflow file name ends in .yaml")
        rel = full.relative_to(self.root).as_posix()
        if full.exists() and not overwrite:
            current = fingerprint(full.read_bytes())
            if opened is None or opened.path != rel:
                raise SaveConflict(f"'{rel}' already exists; tick 'overwrite' to replace it")
            if opened.fingerprint is None or opened.fingerprint != current:
                raise SaveConflict(f"'{rel}' changed on disk since it was opened; reload it, or tick "
                                   f"'overwrite' to replace the other changes")
        data = text.encode("utf-8")
        write_atomic(full, data, fsync=True)
        return Opened(rel, text, fingerprint(data))
