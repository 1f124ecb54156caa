"""``source.image``: still images from a file, a glob or a folder, as a stream of frames.

Files are taken in natural order (``img2.png`` before ``img10.png``) so that a
numbered sequence plays in the order it was written. A folder of real data is
never perfectly clean: files that are not images, and images that cannot be
decoded, are skipped with a warning and counted (``skipped``, and
``frame.meta['skipped']``) instead of ending the run. So are decompression
bombs: each file's pixel size is read from its header first
(``segflow.vision.image_header``), and a file that claims more than
``max_megapixels``, or whose size its header does not tell, is never decoded.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import Field

from segflow.engine import Frame, NodeError, Params, SourceNode, node_type
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.paths import shown, stat_or_none
from segflow.vision.image_header import image_size

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".bmp",
        ".tif",
        ".tiff",
        ".webp",
        ".jp2",
        ".pbm",
        ".pgm",
        ".ppm",
        ".pnm",
        ".sr",
        ".ras",
        ".exr",
        ".hdr",
        ".pic",
    }
)
GLOB_CHARS = re.compile(r"[*?\[]")


class ImageSourceParams(Params):
    path: str = Field(
        ...,
        description="An image file, a folder of images, or a glob such as 'shots/**/*.png'.",
    )
    recursive: bool = Field(False, description="Also take images from sub-folders of a folder.")
    loop: bool = Field(False, description="Start again from the first image after the last one.")
    fps: float = Field(
        0.0,
        ge=0,
        le=10_000,
        description="Timestamps as index / fps; 0 uses each file's modification time.",
    )
    max_megapixels: float = Field(
        100.0,
        gt=0,
        le=1000,
        description="Skip, without decoding, an image whose header claims more pixels than this "
        "(100 MP take 300 MB as BGR): a decompression bomb in a folder costs nothing.",
    )


@dataclass(frozen=True)
class SkippedFile:
    """A file the source passed over, and why (reported at the end of each pass)."""

    path: Path
    reason: str


def natural_key(path: Path) -> list[Any]:
    """Sort key that orders embedded numbers by value: ``img2`` < ``img10``."""
    parts = re.split(r"(\d+)", str(path))
    return [int(part) if part.isdigit() else part.lower() for part in parts]


def list_candidates(pattern: str, base: Path, recursive: bool = False) -> list[Path]:
    """Every file the ``path`` param names, naturally sorted; hidden files are left out."""
    target = Path(pattern).expanduser()
    if not target.is_absolute():
        target = base / target
    if GLOB_CHARS.search(pattern):
        found = [Path(p) for p in glob.glob(str(target), recursive=True)]
    elif target.is_dir():
        found = list(target.rglob("*") if recursive else target.iterdir())
    elif target.exists():
        found = [target]
    else:
        found = []
    # Broken links stay in the list, so the source reports them instead of passing over them silently.
    files = [p for p in found if (p.is_file() or (p.is_symlink() and not p.exists())) and not p.name.startswith(".")]
    return sorted(files, key=natural_key)


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


class UnreadableImage(Exception):
    """A file the source skips; the message says why."""


BYTES_PER_PIXEL = 16  # the most any still format stores uncompressed (RGBA, 32-bit float per channel)


def read_image(path: Path, max_pixels: int) -> np.ndarray:
    """Decode a file to BGR uint8 (grey and 16-bit images converted), once its header says it is small enough.

    Raises :class:`UnreadableImage` for a file that cannot be read, whose size its header does
    not tell, that claims more than ``max_pixels``, or that OpenCV cannot decode.
    """
    try:
        with open(path, "rb") as file:  # Python's open handles non-ASCII paths, unlike cv2.imread
            size = image_size(file)
            length = os.fstat(file.fileno()).st_size
            if size is not None and 0 < size[0] * size[1] <= max_pixels and length <= max_pixels * BYTES_PER_PIXEL:
                file.seek(0)
                data = np.frombuffer(file.read(), dtype=np.uint8)
    except OSError as exc:
        raise UnreadableImage(f"cannot be read: {exc.strerror or exc}") from exc
    if length == 0:
        raise UnreadableImage("is empty")
    if size is None:
        raise UnreadableImage("its header does not say its size in pixels (corrupt, or not an image); not decoded")
    width, height = size
    if not 0 < width * height <= max_pixels:
        raise UnreadableImage(f"its header claims {width} x {height} pixels, over the limit of "
                              f"{max_pixels / 1e6:g} MP (max_megapixels); not decoded")
    if length > max_pixels * BYTES_PER_PIXEL:
        raise UnreadableImage(f"is {length:,} bytes, more than any image of {max_pixels / 1e6:g} MP takes; not read")
    try:
        pixels = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as exc:  # OpenCV's own checks (its pixel limit, a broken stream) throw
        raise UnreadableImage(f"cannot be decoded: {str(exc).strip().splitlines()[-1]}") from exc
    if pixels is None:
        raise UnreadableImage("cannot be decoded as an image (corrupt or unsupported)")
    return pixels


@node_type("source.image")
class ImageSource(SourceNode):
    """Still images from a file, a folder or a glob, in natural order; bad files skipped."""

    Params = ImageSourceParams
    params: ImageSourceParams

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        _, problem = stat_or_none(context.resolve(params.path))
        if problem:
            return [ParamProblem("path", problem, "give an existing image file, a folder of images, or a glob")]
        files = list_candidates(params.path, context.base_dir, params.recursive)
        where = shown(context.resolve(params.path) if not GLOB_CHARS.search(params.path) else params.path)
        if not files:
            return [
                ParamProblem(
                    "path",
                    f"{where} matches no file",
                    "give an existing image file, a folder of images, or a glob like 'dir/*.jpg'",
                )
            ]
        if not any(is_image_name(f) for f in files):
            suffixes = sorted({f.suffix or "(none)" for f in files})
            return [
                ParamProblem(
                    "path",
                    f"{where} has {len(files)} file(s) but no image (suffixes: {', '.join(suffixes)})",
                    f"image suffixes: {', '.join(sorted(IMAGE_SUFFIXES))}",
                )
            ]
        return []

    def setup(self) -> None:
        candidates = list_candidates(self.params.path, self.context.base_dir, self.params.recursive)
        self.skipped: list[SkippedFile] = []
        for broken in (f for f in candidates if not f.exists()):
            self._skip(broken, "a broken link (its target is missing)")
        candidates = [f for f in candidates if f.exists()]
        self.files = [f for f in candidates if is_image_name(f)]
        for other in (f for f in candidates if not is_image_name(f)):
            self._skip(other, "not an image file")

    @property
    def skipped_count(self) -> int:
        return len(self.skipped)

    def total_frames(self) -> int | None:
        return None if self.params.loop else len(self.files)

    def _skip(self, path: Path, reason: str) -> None:
        self.skipped.append(SkippedFile(path, reason))
        log.warning("source '%s': skipped %s: %s", self.node_id, path, reason)

    def _timestamp(self, path: Path, index: int) -> float:
        if self.params.fps > 0:
            return index / self.params.fps
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    def frames(self) -> Iterator[Frame]:
        index = 0
        stop = self.context.stop_event
        while not stop.is_set():
            produced = 0
            first_pass = index == 0
            for path in self.files:
                if stop.is_set():
                    return
                try:
                    pixels = read_image(path, int(self.params.max_megapixels * 1e6))
                except UnreadableImage as exc:
                    if first_pass:  # report each bad file once, not on every loop
                        self._skip(path, str(exc))
                    continue
                yield self.make_frame(
                    pixels,
                    index,
                    self._timestamp(path, index),
                    path=str(path),
                    skipped=len(self.skipped),
                )
                index += 1
                produced += 1
            if first_pass and self.skipped:
                log.warning(
                    "source '%s': %d frame(s) read, %d file(s) skipped in %s",
                    self.node_id,
                    produced,
                    len(self.skipped),
                    self.params.path,
                )
            if produced == 0:
                raise NodeError(
                    f"source '{self.node_id}': no readable image in {self.params.path} "
                    f"({len(self.skipped)} file(s) skipped)",
                    hint="check the files open in an image viewer; see the warnings for each file",
                )
            if not self.params.loop:
                return
