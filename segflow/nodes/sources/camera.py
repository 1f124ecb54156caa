"""``source.camera``: a local camera or an RTSP/HTTP stream that may drop at any time.

A box next to a production line runs for months; its network camera will
reboot, lose Wi-Fi and come back. So a lost or silent stream is not an error
but a state: the source logs the drop, waits (capped exponential backoff,
interruptible by stop) and reconnects, for ever unless ``max_reconnects``
says otherwise. A read that produces nothing for ``read_timeout_s`` counts as
a drop (FFmpeg's own interrupt timeout, so no thread is left stuck in a read).

Camera URLs often carry a password; every log line and error shows it masked
(:mod:`segflow.engine.masking`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import cv2
from pydantic import Field, ValidationInfo, field_validator

from segflow.engine import Frame, LiveSourceParams, NodeError, SourceHealth, SourceNode, node_type
from segflow.engine.masking import mask, remember_url
from segflow.engine.node import ParamProblem, RunContext

log = logging.getLogger(__name__)

class Backoff:
    """Delays of ``initial * 2**n`` seconds, capped at ``maximum``; ``reset`` after success."""

    def __init__(self, initial: float, maximum: float, factor: float = 2.0) -> None:
        self.initial, self.maximum, self.factor = initial, maximum, factor
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.initial * self.factor**self.attempt, self.maximum)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


class CameraSourceParams(LiveSourceParams):
    source: int | str = Field(
        ...,
        description="A camera device index (0 = first camera) or a stream URL "
        "(rtsp://user:password@host/path, http://host/video.mjpg).",
    )
    width: int = Field(0, ge=0, le=16384, description="Ask the camera for this width (0 = its own).")
    height: int = Field(0, ge=0, le=16384, description="Ask the camera for this height (0 = its own).")
    open_timeout_s: float = Field(10.0, gt=0, le=600, description="Longest wait for a stream to open before retrying.")
    read_timeout_s: float = Field(
        5.0, gt=0, le=600, description="Frame timeout: no frame for this long counts as a drop."
    )
    reconnect_initial_s: float = Field(
        1.0, ge=0, le=3600, description="First wait before reconnecting; doubles on each failure."
    )
    reconnect_max_s: float = Field(30.0, ge=0, le=3600, description="Longest wait between reconnect attempts.")
    max_reconnects: int = Field(
        0, ge=0, description="Failed attempts in a row before giving up (0 = keep trying for ever)."
    )
    max_frames: int = Field(0, ge=0, description="Stop after this many frames (0 = until stopped).")

    @field_validator("reconnect_max_s")
    @classmethod
    def _cap_not_below_initial(cls, value: float, info: ValidationInfo) -> float:
        initial = info.data.get("reconnect_initial_s")
        if initial is not None and value < initial:
            raise ValueError(f"must be at least reconnect_initial_s ({initial})")
        return value


def device_index(source: int | str) -> int | None:
    """The device index a ``source`` names (``0`` or ``"0"``), or ``None`` for a URL or path."""
    if isinstance(source, int):
        return source
    return int(source) if source.strip().isdigit() else None


@node_type("source.camera")
class CameraSource(SourceNode):
    """A camera device or RTSP/HTTP stream; reconnects with backoff, credentials masked."""

    Params = CameraSourceParams
    params: CameraSourceParams

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        source = params.source
        remember_url(str(source))
        if device_index(source) is None and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source):
            return [
                ParamProblem(
                    "source",
                    f"{mask(source)!r} is neither a device index nor a stream URL",
                    "use 0 for the first camera, or rtsp://host/path, http://host/video.mjpg "
                    "(a video file belongs in source.video)",
                )
            ]
        return []

    def setup(self) -> None:
        remember_url(str(self.params.source))
        self.shown = mask(str(self.params.source))
        self.frames_read = 0
        self.drops = 0  # streams lost after giving frames
        self.reconnects = 0  # streams regained after a drop or failed attempts
        self.failed_attempts = 0  # opens that gave no frame
        self.down_reason = "not connected yet"  # empty while frames arrive

    def health(self) -> SourceHealth:
        return SourceHealth(not self.down_reason, self.drops, self.reconnects, self.down_reason)

    def is_live(self) -> bool:
        return True

    def _open(self) -> cv2.VideoCapture | None:
        """Open the stream; ``None`` (logged) when it cannot be opened."""
        p = self.params
        index = device_index(p.source)
        if index is not None:
            capture = cv2.VideoCapture(index)
        else:
            timeouts = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(p.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(p.read_timeout_s * 1000),
            ]  # fmt: skip
            capture = cv2.VideoCapture(str(p.source), cv2.CAP_FFMPEG, timeouts)
        if not capture.isOpened():
            capture.release()
            return None
        if index is not None:  # backends that honour it; others keep their own timeout
            capture.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, p.read_timeout_s * 1000)
        if p.width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, p.width)
        if p.height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, p.height)
        return capture

    def frames(self) -> Iterator[Frame]:
        p = self.params
        stop = self.context.stop_event
        backoff = Backoff(p.reconnect_initial_s, p.reconnect_max_s)
        failures = 0  # failed attempts since the last frame
        lost = False  # a drop or failure happened since the last frame
        while not stop.is_set():
            capture = self._open()
            got, silent = 0, 0.0
            if capture is not None:
                try:
                    while not stop.is_set():
                        started = time.monotonic()
                        ok, pixels = capture.read()
                        if not ok or pixels is None:
                            silent = time.monotonic() - started
                            break
                        if got == 0:
                            if lost:
                                self.reconnects += 1
                                log.warning(
                                    "camera '%s': reconnected to %s after %d failed attempt(s)",
                                    self.node_id,
                                    self.shown,
                                    failures,
                                )
                            backoff.reset()
                            failures, lost = 0, False
                            self.down_reason = ""
                        got += 1
                        self.frames_read += 1
                        yield self.make_frame(pixels, self.frames_read - 1, time.time(), reconnects=self.reconnects)
                        if p.max_frames and self.frames_read >= p.max_frames:
                            return
                finally:
                    capture.release()
                if stop.is_set():
                    return
            lost = True
            if got:
                self.drops += 1
                why = (
                    f"no frame for {silent:.1f} s"
                    if silent >= p.read_timeout_s * 0.9
                    else "stream ended or connection closed"
                )
                self.down_reason = f"stream dropped ({why})"
                log.warning(
                    "camera '%s': stream %s dropped after %d frame(s) (%s)",
                    self.node_id,
                    self.shown,
                    got,
                    why,
                )
                delay = backoff.next_delay()
            else:
                failures += 1
                self.failed_attempts += 1
                reason = "cannot open" if capture is None else "opened but gave no frame from"
                self.down_reason = f"{reason} {self.shown} ({failures} attempt(s))"
                if p.max_reconnects and failures > p.max_reconnects:
                    raise NodeError(
                        f"camera '{self.node_id}': {reason} {self.shown}; gave up after {failures} attempt(s)",
                        hint="check the address, the credentials and that the camera is on "
                        "the network (try it in VLC/ffplay); max_reconnects: 0 keeps trying",
                    )
                delay = backoff.next_delay()
                limit = f"/{p.max_reconnects + 1}" if p.max_reconnects else ""
                log.warning(
                    "camera '%s': %s %s (attempt %d%s); retrying in %.2f s",
                    self.node_id,
                    reason,
                    self.shown,
                    failures,
                    limit,
                    delay,
                )
            if stop.wait(delay):
                return
