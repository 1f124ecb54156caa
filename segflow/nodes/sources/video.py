"""``source.video``: the frames of a video file, through OpenCV's FFmpeg backend.

A recorded video replays a production line at the desk: the ``fps`` cap thins
it to the rate the real camera would give, ``start``/``end`` cut the
interesting part, ``loop`` makes a soak test. A damaged frame in the middle of
a file is skipped and counted rather than ending the run; a file that ends
before its header says is reported once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Literal

import cv2
from pydantic import Field, ValidationInfo, field_validator

from segflow.engine import Frame, NodeError, Params, SourceNode, node_type
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.paths import readable_file_problem

log = logging.getLogger(__name__)

# After a failed read, keep trying this many frames before calling it the end:
# FFmpeg recovers at the next good frame of a damaged stream.
MAX_CONSECUTIVE_FAILURES = 30
DEFAULT_FPS = 30.0  # when the container does not say


class VideoSourceParams(Params):
    path: str = Field(..., description="The video file (mp4, avi, mkv, ... anything FFmpeg reads).")
    fps: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="Most frames per second to pass on; frames are skipped to match (0 = all).",
    )
    start: float = Field(0.0, ge=0, description="Where to begin, in `unit`s from the start.")
    end: float | None = Field(None, ge=0, description="Where to stop (exclusive), in `unit`s; empty = the end.")
    unit: Literal["seconds", "frames"] = Field(
        "seconds", description="Whether `start` and `end` count seconds or frames."
    )
    loop: bool = Field(False, description="Start again at `start` after `end`.")

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: float | None, info: ValidationInfo) -> float | None:
        start = info.data.get("start")
        if value is not None and start is not None and value <= start:
            raise ValueError(f"must be after start ({start})")
        return value


class FrameSelector:
    """Which source frames to keep so that at most ``cap_fps`` pass, evenly spaced.

    Pure arithmetic on frame numbers, so the choice is the same on every run
    and testable without a video.
    """

    def __init__(self, native_fps: float, cap_fps: float) -> None:
        self.step = native_fps / cap_fps if 0 < cap_fps < native_fps else 1.0
        self._next = 0.0

    def keep(self, offset: int) -> bool:
        """``offset`` counts frames from the first one read (0, 1, 2, ...)."""
        if offset + 1e-9 < self._next:
            return False
        self._next += self.step
        while self._next <= offset:  # after a gap (corrupt frames) catch up
            self._next += self.step
        return True

    def reset(self) -> None:
        self._next = 0.0

    def seek(self, offset: int) -> None:
        """Start over, as if frames ``0 .. offset - 1`` had been offered: a pass resumed in its middle."""
        self.reset()
        for earlier in range(offset):
            self.keep(earlier)


@node_type("source.video")
class VideoSource(SourceNode):
    """Frames of a video file, with an fps cap, start/end and loop; bad frames skipped."""

    Params = VideoSourceParams
    params: VideoSourceParams

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        problem = readable_file_problem(context.resolve(params.path), "video file")
        return [ParamProblem("path", problem, "give the path of a video file")] if problem else []

    def setup(self) -> None:
        self.path = self.context.resolve(self.params.path)
        self.corrupt_frames = 0
        self._capture = self._open()
        native = self._capture.get(cv2.CAP_PROP_FPS)
        self.native_fps = native if native and native > 0 else DEFAULT_FPS
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 else None
        self.first_frame, self.end_frame = self._range()

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            capture.release()
            raise NodeError(
                f"source '{self.node_id}': cannot open {self.path} as a video",
                hint="is it a video file FFmpeg can read? try `ffprobe` on it",
            )
        return capture

    def _range(self) -> tuple[int, int | None]:
        p = self.params
        scale = self.native_fps if p.unit == "seconds" else 1.0
        first = int(round(p.start * scale))
        end = int(round(p.end * scale)) if p.end is not None else None
        if self.frame_count is not None:
            end = self.frame_count if end is None else min(end, self.frame_count)
            if first >= end:
                raise NodeError(
                    f"source '{self.node_id}': start {p.start} {p.unit} is past the end of "
                    f"{self.path.name} ({self.frame_count} frames at {self.native_fps:g} fps)",
                    hint="lower `start`",
                )
        return first, end

    def _kept(self) -> list[int]:
        """The offsets from ``start`` of the frames one pass gives (the fps cap skips the others)."""
        assert self.end_frame is not None
        selector = FrameSelector(self.native_fps, self.params.fps)
        return [i for i in range(self.end_frame - self.first_frame) if selector.keep(i)]

    def total_frames(self) -> int | None:
        if self.params.loop or self.end_frame is None:
            return None
        return len(self._kept())

    def is_live(self) -> bool:
        return False

    def frames(self) -> Iterator[Frame]:
        return self._play(0, 0, self.first_frame)

    def frames_after(self, index: int) -> Iterator[Frame]:
        """Seek to where frame ``index + 1`` is, in its pass of the loop.

        The same frames, numbers and timestamps as one run that never stopped, on an
        undamaged file: a damaged one's skipped frames are not known to a new run, so
        there it may be off by the frames it skipped.
        """
        if self.end_frame is None:  # the file does not say how long it is: read up to the place
            return super().frames_after(index)
        kept = self._kept()
        passes, nth = divmod(index + 1, len(kept))
        if passes and not self.params.loop:
            return iter(())
        return self._play(index + 1, passes, self.first_frame + kept[nth])

    def _play(self, index: int, passes: int, begin: int) -> Iterator[Frame]:
        """Frames from file frame ``begin`` on, the first numbered ``index``, in pass ``passes`` of the loop."""
        pass_s = (self.end_frame - self.first_frame) / self.native_fps if self.end_frame is not None else 0.0
        offset = passes * pass_s  # seconds played in earlier passes, so timestamps keep rising on loop
        stop = self.context.stop_event
        selector = FrameSelector(self.native_fps, self.params.fps)
        reopen = False
        while not stop.is_set():
            if reopen:
                self._capture.release()
                self._capture = self._open()
            reopen = True
            if begin:
                self._capture.set(cv2.CAP_PROP_POS_FRAMES, begin)
            selector.seek(begin - self.first_frame)
            read = 0
            last = begin - 1
            for number, pixels in self._read_range(begin):
                if stop.is_set():
                    return
                read += 1
                last = number
                if not selector.keep(number - self.first_frame):
                    continue
                timestamp = offset + number / self.native_fps
                yield self.make_frame(pixels, index, timestamp, video_frame=number, loop_pass=passes)
                index += 1
            if read == 0:
                raise NodeError(
                    f"source '{self.node_id}': no frame could be read from {self.path}",
                    hint="the file may be damaged or in a codec this OpenCV build lacks",
                )
            passes += 1
            offset += (last + 1 - self.first_frame) / self.native_fps
            begin = self.first_frame
            if not self.params.loop:
                return

    def _read_range(self, number: int) -> Iterator[tuple[int, Any]]:
        """Yield (frame number, pixels) from the current position, file frame ``number``, to ``end_frame``."""
        failures = 0
        while self.end_frame is None or number < self.end_frame:
            ok, pixels = self._capture.read()
            if ok:
                if failures:
                    self._report_corrupt(number - failures, failures)
                    failures = 0
                yield number, pixels
                number += 1
                continue
            if self.frame_count is None or number >= self.frame_count:
                return  # the normal end of the stream
            failures += 1
            number += 1
            if failures >= MAX_CONSECUTIVE_FAILURES:
                break
        if failures:
            missing = (self.end_frame or number) - (number - failures)
            self.corrupt_frames += missing
            log.warning(
                "source '%s': %s ended at frame %d, %d frame(s) before its header's count (truncated or damaged file)",
                self.node_id,
                self.path.name,
                number - failures,
                missing,
            )

    def _report_corrupt(self, first: int, count: int) -> None:
        self.corrupt_frames += count
        log.warning(
            "source '%s': skipped %d unreadable frame(s) of %s from frame %d (%d so far)",
            self.node_id,
            count,
            self.path.name,
            first,
            self.corrupt_frames,
        )

    def close(self) -> None:
        capture = getattr(self, "_capture", None)
        if capture is not None:
            capture.release()
