"""``sink.video``: annotated frames to one video file per source that browsers play.

H.264 in MP4 through PyAV (libx264), written as fragmented MP4 with a
keyframe every second and packets flushed as they are made: a file cut
short by a crash still plays up to its last second. Without PyAV (or when
asked) OpenCV's writer is the fallback; its ``avc1`` codec plays in browsers
where OpenCV was built with it, else ``mp4v`` is used and a warning says so.
A restart never overwrites a video: it writes ``name.1.mp4``, ``name.2.mp4``...
"""

from __future__ import annotations

import logging
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from segflow.delivery.common import FileParams, sink_error, writable_problems
from segflow.delivery.gate import GatedSink
from segflow.delivery.linefile import next_rotation
from segflow.engine import Inputs, Kind, NodeError, Port, node_type
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.text import check_template, path_part
from segflow.engine.workflow.confine import writes_path
from segflow.vision.drawing import Painter, Style

log = logging.getLogger(__name__)
PATH_FIELDS = {"source": "s", "workflow": "w", "node": "n"}


class VideoParams(FileParams):
    path: str = Field(
        "out/{source}.mp4",
        description="Video file per source; `{source}`, `{workflow}`, `{node}` are filled in "
        "(without `{source}`, `_<source>` is added to the name).",
        json_schema_extra=writes_path(),
    )
    fps: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="Frame rate of the video (0 = from the first two frames' timestamps).",
    )
    writer: Literal["auto", "pyav", "opencv"] = Field(
        "auto", description="H.264 through PyAV (auto, when installed) or OpenCV's video writer."
    )
    crf: int = Field(23, ge=0, le=51, description="H.264 quality: lower is better and bigger (PyAV).")
    annotate: bool = Field(True, description="Draw masks, boxes, labels and traces of the detections "
                           "(as annotate.detections draws them by default).")

    @field_validator("path")
    @classmethod
    def _path_fields(cls, path: str) -> str:
        return check_template(path, "path", PATH_FIELDS)


class PyAvWriter:
    """H.264 fragmented MP4 through PyAV."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], crf: int) -> None:
        import av

        rate = Fraction(fps).limit_denominator(1001)
        self.container = av.open(
            str(path),
            mode="w",
            format="mp4",
            options={
                "movflags": "frag_keyframe+empty_moov+default_base_moof",
                "flush_packets": "1",
            },
        )
        self.stream = self.container.add_stream(
            "libx264",
            rate=rate,
            options={
                "crf": str(crf),
                "preset": "veryfast",
                "tune": "zerolatency",
                "g": str(max(1, round(fps))),
            },
        )
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = "yuv420p"
        self.count = 0

    def write(self, bgr: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr), format="bgr24")
        frame.pts = self.count
        self.count += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
        finally:
            self.container.close()


class OpenCvWriter:
    """OpenCV's writer: ``avc1`` (H.264) where available, else ``mp4v``."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], crf: int) -> None:
        for fourcc in ("avc1", "mp4v"):
            self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
            if self.writer.isOpened():
                break
            path.unlink(missing_ok=True)
        else:
            raise OSError(f"OpenCV cannot write {path}")
        if fourcc != "avc1":
            log.warning("OpenCV has no H.264 encoder here: %s is mp4v, which browsers may not play", path)

    def write(self, bgr: np.ndarray) -> None:
        self.writer.write(bgr)

    def close(self) -> None:
        self.writer.release()


def have_pyav() -> bool:
    try:
        import av

        av.codec.Codec("libx264", "w")
    except Exception:
        return False
    return True


class _Pending:
    """A source's frames before its writer opens (the frame rate may come from two timestamps)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frames: list[tuple[float, np.ndarray]] = []
        self.writer: PyAvWriter | OpenCvWriter | None = None
        self.size: tuple[int, int] = (0, 0)


@node_type("sink.video")
class VideoSink(GatedSink):
    """Annotated frames to an H.264 MP4 per source (PyAV, or OpenCV as fallback)."""

    Params = VideoParams
    params: VideoParams
    threaded = True  # encoding costs milliseconds a frame: its own worker, off the other sinks' path
    inputs = {
        "image": Port(Kind.IMAGE, "The frames to write."),
        "detections": Port(Kind.DETECTIONS, "Findings to draw on them.", required=False),
    }

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        problems = writable_problems(cls.path_for(params, context, "sink", "cam"), "path", params.min_free_mb)
        if params.writer == "pyav" and not have_pyav():
            problems.append(ParamProblem("writer", "PyAV with libx264 is not installed", "pip install av"))
        return problems

    @staticmethod
    def path_for(params: Any, context: RunContext, node_id: str, source: str) -> Path:
        template = params.path
        if "{source}" not in template:
            stem, dot, ext = template.rpartition(".")
            template = f"{stem}_{{source}}.{ext}" if dot else f"{template}_{{source}}"
        workflow = path_part(context.workflow_name, "workflow")
        return context.resolve(template.format(source=path_part(source), workflow=workflow, node=node_id))

    def setup(self) -> None:
        super().setup()
        p = self.params
        self.painter = Painter(Style()) if p.annotate else None
        self._sources: dict[str, _Pending] = {}
        self._use_pyav = p.writer == "pyav" or (p.writer == "auto" and have_pyav())
        self._lock = threading.Lock()

    def process(self, inputs: Inputs) -> dict[str, Any]:
        findings = self.admitted(inputs)
        if findings is None:
            return {}
        pixels, packet = inputs["image"].pixels, findings.packet
        if self.painter is not None:
            pixels = self.painter.draw(pixels, findings.detections, packet.source_id)
        if pixels.ndim == 2:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
        state = self._sources.get(packet.source_id)
        if state is None:
            path = self.path_for(self.params, self.context, self.node_id, packet.source_id)
            state = self._sources[packet.source_id] = _Pending(path)
        try:
            with self._lock:
                self._write(state, float(packet.timestamp), pixels)
        except NodeError:
            raise
        except Exception as exc:
            raise sink_error(self, f"cannot write video {state.path}", exc) from exc
        return {}

    def _write(self, state: _Pending, timestamp: float, pixels: np.ndarray) -> None:
        if state.writer is None:
            state.frames.append((timestamp, pixels))
            if self.params.fps or len(state.frames) >= 2:
                self._open(state)
            return
        if pixels.shape[1::-1] != state.size:
            pixels = cv2.resize(pixels, state.size, interpolation=cv2.INTER_AREA)
        state.writer.write(pixels)

    def _open(self, state: _Pending) -> None:
        fps = self.params.fps
        if not fps:
            (t0, _), (t1, _) = state.frames[0], state.frames[-1]
            fps = 1.0 / (t1 - t0) if len(state.frames) >= 2 and t1 > t0 else 30.0
            fps = min(max(fps, 1.0), 240.0)
        h, w = state.frames[0][1].shape[:2]
        state.size = (w + w % 2, h + h % 2)  # H.264 4:2:0 wants even sides
        state.path.parent.mkdir(parents=True, exist_ok=True)
        if state.path.exists():
            state.path = next_rotation(state.path)  # a restart never overwrites a video
        factory = PyAvWriter if self._use_pyav else OpenCvWriter
        state.writer = factory(state.path, fps, state.size, self.params.crf)
        frames, state.frames = state.frames, []
        for ts, pixels in frames:
            self._write(state, ts, pixels)

    def close(self) -> None:
        errors = []
        for state in getattr(self, "_sources", {}).values():
            try:
                if state.writer is None and state.frames:
                    self._open(state)
                if state.writer is not None:
                    state.writer.close()
            except Exception as exc:
                errors.append(sink_error(self, f"cannot finish video {state.path}", exc))
        self._sources = {}
        if errors:
            raise errors[0]
