"""Resumable, verified downloads with the standard library: a ``.part`` file, HTTP Range, sha256.

Bytes arrive in ``NAME.part`` beside the final file; an interrupted transfer
keeps them, and the next attempt asks only for the rest (``Range: bytes=N-``).
The final name appears only by an atomic rename after the whole file is there
and, when a digest is expected, matches it; a mismatch deletes the ``.part``
so that a retry starts clean. Nothing here decides what to fetch or where.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

CHUNK = 1 << 20
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadError(Exception):
    """The file could not be fetched (server, network); ``resumable`` when a ``.part`` was kept."""

    def __init__(self, message: str, resumable: bool = False) -> None:
        super().__init__(message)
        self.resumable = resumable


class ChecksumMismatch(Exception):
    """The bytes arrived but are not the expected file; nothing was kept."""


@dataclass
class Result:
    path: Path
    size: int
    sha256: str
    verified: bool  # the digest matched an expected one (False: none was given)


class Progress:
    """A progress line on ``stream``: redrawn in place on a terminal, every tenth otherwise."""

    def __init__(self, label: str, stream: IO[str] | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.monotonic()
        self.last = 0.0
        self.decile = -1

    def update(self, done: int, total: int | None, resumed_from: int = 0) -> None:
        now = time.monotonic()
        rate = (done - resumed_from) / max(now - self.start, 1e-6) / 1e6
        if total:
            decile = done * 10 // total
            text = f"{self.label} {100 * done / total:5.1f}% {done / 1e6:.1f}/{total / 1e6:.1f} MB {rate:.1f} MB/s"
        else:
            decile = self.decile
            text = f"{self.label} {done / 1e6:.1f} MB {rate:.1f} MB/s"
        if self.tty and (now - self.last >= 0.1 or done == total):
            self.stream.write("\r" + text.ljust(79))
            self.last = now
        elif not self.tty and decile != self.decile:
            self.stream.write(text + "\n")
        self.decile = decile
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def transfer(url: str, part: Path, progress: Progress, timeout: float = 30.0) -> None:
    """Append the rest of ``url`` to ``part``; raises DownloadError when the transfer stops early."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "segflow", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as exc:
        if exc.code == 416 and offset:  # nothing after `offset`: the .part is whole (verification decides)
            return
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot reach {url}: {reason}", resumable=offset > 0) from exc
    with response:
        total = None
        if offset and response.status == 206:
            match = CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                raise DownloadError(f"{url}: the server answered a resume with another range; delete {part}")
            total = int(match.group(3)) if match.group(3) != "*" else None
            mode = "ab"
        else:  # 200: the server sends the whole file (it ignored or was not asked for a range)
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        done = offset
        try:
            with part.open(mode) as f:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    done += len(chunk)
                    progress.update(done, total, offset)
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(f"{url}: the transfer broke off at {done} bytes ({exc})", resumable=True) from exc
        if total is not None and done < total:
            raise DownloadError(f"{url}: the connection closed at {done} of {total} bytes", resumable=True)


def fetch(
    url: str,
    dest: Path,
    expected_sha256: str | None,
    retries: int = 3,
    progress: Progress | None = None,
) -> Result:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming up to ``retries`` times, then verify.

    Raises DownloadError (the ``.part`` is kept when it can be resumed) or
    ChecksumMismatch (the ``.part`` is deleted; ``dest`` is never written).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    progress = progress or Progress(dest.name)
    try:
        for attempt in range(retries + 1):
            try:
                transfer(url, part, progress)
                break
            except DownloadError as exc:
                if not exc.resumable or attempt == retries:
                    raise
    finally:
        progress.close()
    digest = sha256_of(part)
    if expected_sha256 is not None and digest != expected_sha256.lower():
        part.unlink()
        raise ChecksumMismatch(
            f"{url}: sha256 {digest} is not the expected {expected_sha256.lower()}; the download was deleted"
        )
    size = part.stat().st_size
    os.replace(part, dest)
    return Result(dest, size, digest, verified=expected_sha256 is not None)
