"""Frames to run the editor's graph on: an upload, a shipped sample, or the workflow's own source.

Videos are stepped frame by frame, so each helper takes a frame index and
says how many frames there are. Everything returns BGR pixels, as the engine
expects.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from segflow.engine.node import NodeError, RunContext, SourceNode
from segflow.engine.workflow.graph import ResolvedNode
from segflow.ui.frame_reader import Opened, Opener

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
SAMPLE_FOLDERS = ("assets/samples", "samples")


class MediaError(ValueError):
    """A file that cannot be read as an image or a video frame."""


@dataclass
class Picked:
    pixels: np.ndarray
    index: int
    count: int | None  # frames available; None when unknown (a live source)


def samples(root: Path) -> list[str]:
    found = []
    for folder in SAMPLE_FOLDERS:
        base = root / folder
        if base.is_dir():
            found += [p.relative_to(root).as_posix() for p in sorted(base.iterdir())
                      if p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES]
    return found


def is_video(name: str) -> bool:
    return Path(name).suffix.lower() in VIDEO_SUFFIXES


def decode_image(data: bytes, name: str = "upload") -> np.ndarray:
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise MediaError(f"'{name}' is not an image OpenCV can read")
    return pixels


def read_file(path: Path, index: int = 0) -> Picked:
    """Frame ``index`` of a video, or the image itself."""
    if is_video(path.name):
        return video_frame(path, index)
    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if pixels is None:
        raise MediaError(f"'{path}' is not an image OpenCV can read")
    return Picked(pixels, 0, 1)


def video_frame(path: Path, index: int) -> Picked:
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise MediaError(f"cannot open video '{path}'")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        index = max(0, min(index, (count or index + 1) - 1))
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, pixels = capture.read()
        if not ok or pixels is None:
            raise MediaError(f"cannot read frame {index} of '{path}'")
        return Picked(pixels, index, count)
    finally:
        capture.release()


@contextmanager
def _opened(resolved: ResolvedNode, context: RunContext) -> Iterator[SourceNode]:
    """The workflow's source node, set up, closed afterwards; its errors as MediaError."""
    node = resolved.cls(resolved.id, resolved.params, context)
    if not isinstance(node, SourceNode):
        raise MediaError(f"node '{resolved.id}' is not a source")
    try:
        node.setup()
        yield node
    except NodeError as exc:
        raise MediaError(f"source '{resolved.id}': {exc}" + (f" ({exc.hint})" if exc.hint else "")) from exc
    except (OSError, RuntimeError, ValueError) as exc:
        raise MediaError(f"source '{resolved.id}' ({resolved.cls.type_name}): {exc}") from exc
    finally:
        try:
            node.close()
        except Exception:  # noqa: BLE001 - closing a reader must not hide what it read
            pass


def source_frames(resolved: ResolvedNode, context: RunContext, start: int, stop: int) -> list[Picked]:
    """Frames ``start`` .. ``stop - 1`` of a workflow's source node, read by the node itself."""
    with _opened(resolved, context) as node:
        count = node.total_frames()
        frames = list(itertools.islice(node.frames(), start, stop))
    return [Picked(frame.pixels, start + i, count) for i, frame in enumerate(frames)]


def source_frame(resolved: ResolvedNode, context: RunContext, index: int = 0) -> Picked:
    """Frame ``index`` of a workflow's source node (the last one when past its end)."""
    with _opened(resolved, context) as node:
        count = node.total_frames()
        if count is not None:
            index = max(0, min(index, count - 1))
        frame = next(itertools.islice(node.frames(), index, None), None)
    if frame is None:
        raise MediaError(f"source '{resolved.id}' gave no frame {index}")
    return Picked(frame.pixels, index, count)


def file_opener(path: Path) -> Opener:
    """Open a video file at frame ``start`` (OpenCV seeks): for a :class:`FrameReader`."""
    def open_at(start: int) -> Opened:
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            capture.release()
            raise MediaError(f"cannot open video '{path}'")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        if start:
            capture.set(cv2.CAP_PROP_POS_FRAMES, start)

        def frames() -> Iterator[np.ndarray]:
            while True:
                ok, pixels = capture.read()
                if not ok or pixels is None:
                    return
                yield pixels
        return Opened(frames(), count, capture.release)
    return open_at


def source_opener(resolved: ResolvedNode, context: RunContext) -> Opener:
    """Open the workflow's source node (set up once, read on) at frame ``start``: for a :class:`FrameReader`."""
    def open_at(start: int) -> Opened:
        stack = ExitStack()
        node = stack.enter_context(_opened(resolved, context))
        count = node.total_frames()

        def frames() -> Iterator[np.ndarray]:
            try:
                for frame in itertools.islice(node.frames(), start, None):
                    yield frame.pixels
            except NodeError as exc:
                raise MediaError(f"source '{resolved.id}': {exc}") from exc
        return Opened(frames(), count, stack.close)
    return open_at


def to_jpeg(pixels: Any, quality: int = 85) -> bytes:
    """BGR pixels as JPEG bytes for the page: 1 ms, where the PNG Streamlit makes of an array takes 20+."""
    ok, data = cv2.imencode(".jpg", np.asarray(pixels), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise MediaError("could not encode the picture as JPEG")
    return data.tobytes()


def jpeg_data_url(pixels: Any, quality: int = 85) -> str:
    """The picture inline, as a ``data:`` URL: it arrives with the page update, with no second request."""
    return "data:image/jpeg;base64," + base64.b64encode(to_jpeg(pixels, quality)).decode("ascii")
